"""Human responses: a long table of Yes/No per (stimulus, participant), validated on read."""

from __future__ import annotations

import pandas as pd
import pytest

from cubeworld.formats.responses import (
    RESPONSE_CHOICES,
    ResponsesFormatError,
    is_response,
    normalise_response,
    read_responses,
    response_code,
    response_label,
    validate_responses,
)


@pytest.mark.parametrize(
    "value, expected",
    [("Yes", 1), ("no", 0), (" YES ", 1), ("1", 1), (0, 0), (1.0, 1), (True, 1), (False, 0), ("true", 1), ("n", 0)],
)
def test_normalise_response(value, expected):
    assert normalise_response(value) == expected


@pytest.mark.parametrize("value", ["maybe", 2, "", None, 0.5])
def test_other_responses_are_errors(value):
    with pytest.raises(ResponsesFormatError, match="is not Yes/No/1/0"):
        normalise_response(value, "row 3")


def test_read_validates_and_keeps_further_columns(tmp_path):
    path = tmp_path / "responses.csv"
    pd.DataFrame(
        {"stimulus_id": ["007", "008"], "participant": ["p1", "p1"], "response": ["Yes", "No"], "rt_ms": [812, 640]}
    ).to_csv(path, index=False)
    df = read_responses(path)
    assert df["stimulus_id"].tolist() == ["007", "008"]  # ids stay strings ("007", not 7)
    assert df["response"].tolist() == [1, 0] and df["rt_ms"].tolist() == [812, 640]


def test_bad_tables(tmp_path):
    with pytest.raises(ResponsesFormatError, match="no such file"):
        read_responses(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ResponsesFormatError, match="empty"):
        read_responses(tmp_path / "empty.csv")
    with pytest.raises(ResponsesFormatError, match=r"missing column\(s\) \['participant'\]"):
        validate_responses(pd.DataFrame({"stimulus_id": ["a"], "response": [1]}), "t.csv")
    with pytest.raises(
        ResponsesFormatError,
        match=r"t\.csv: 2 response\(s\) other than Yes/No/1/0 "
        r"\(row 3: 'maybe', row 4: 'x'\)",
    ):
        validate_responses(
            pd.DataFrame({"stimulus_id": list("abc"), "participant": ["p"] * 3, "response": ["Yes", "maybe", "x"]}),
            "t.csv",
        )
    with pytest.raises(ResponsesFormatError, match="duplicate .*'a' / 'p'"):
        validate_responses(
            pd.DataFrame({"stimulus_id": ["a", "a"], "participant": ["p", "p"], "response": [1, 0]}), "t.csv"
        )
    with pytest.raises(ResponsesFormatError, match="empty"):
        validate_responses(pd.DataFrame(columns=["stimulus_id", "participant", "response"]))


def test_empty_ids_are_refused_naming_the_rows(tmp_path):
    """Issue 23, item 8: an empty participant id reached the analysis as the text "nan"
    and ended in a traceback; the format refuses it in one line that names the rows."""
    path = tmp_path / "responses.csv"
    path.write_text("stimulus_id,participant,response\na,p1,1\nb,,0\nc,  ,1\n")
    with pytest.raises(ResponsesFormatError, match=r"responses\.csv: empty participant in row\(s\) 3, 4$"):
        read_responses(path)
    path.write_text("stimulus_id,participant,response\na,p1,1\n,p2,0\n")
    with pytest.raises(ResponsesFormatError, match=r"empty stimulus_id in row\(s\) 3$"):
        read_responses(path)


def test_one_response_representation():
    """The response code is what every table holds; the words are what a button shows."""
    assert RESPONSE_CHOICES == (("Yes", 1), ("No", 0))
    assert [response_code(label) for label, _ in RESPONSE_CHOICES] == [1, 0]
    assert [response_label(code) for _, code in RESPONSE_CHOICES] == ["Yes", "No"]
    assert [is_response(v) for v in (1, 0, True, 1.0, "1", "Yes", 2)] == [True, True] + [False] * 5
