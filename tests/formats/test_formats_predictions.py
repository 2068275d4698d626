"""The prediction table: columns, validation, resumable appends, Parquet, and settings."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cubeworld.formats.predictions import (
    KEY_COLUMNS,
    OBSERVER_COLUMNS,
    PREDICTION_COLUMNS,
    SETTINGS_COLUMNS,
    PredictionsFormatError,
    PredictionsSettingsError,
    PredictionWriter,
    read_predictions,
    validate_predictions,
)

CONTRACT_C = (
    "kind",
    "logp_yes",
    "logp_no",
    "p_other",
    "prompt_sha256",
    "template_sha256",
    "image_size",
    "max_pixels",
    "dtype",
    "batch_size",
    "torch_version",
    "transformers_version",
    "peft_version",
)


def _row(i: int, *, model: str = "m", epoch: int = 0, **over) -> dict:
    p = 0.2 + 0.1 * i
    falls = i % 2 == 0
    answer = "Yes" if p >= 0.5 else "No"
    rec = {
        "stimulus_id": f"{i:03d}",
        "set": "s",
        "domain": "tower",
        "n_blocks": 3,
        "falls": falls,
        "model": model,
        "adapter": "",
        "condition": "zero-shot",
        "seed": "",
        "epoch": epoch,
        "p_yes": p,
        "answer": answer,
        "correct": answer == ("Yes" if falls else "No"),
        "kind": "vlm",
        "logp_yes": math.log(p / 100),
        "logp_no": math.log((1 - p) / 100),
        "p_other": 0.99,
        "max_pixels": 50176,
        "dtype": "float32",
        "image_size": "224x224",
    }
    rec.update(over)
    return rec


def _writer(path, extra=OBSERVER_COLUMNS):
    return PredictionWriter(path, extra_columns=list(extra))


def test_the_contract_columns():
    assert OBSERVER_COLUMNS == CONTRACT_C
    assert PREDICTION_COLUMNS[:3] == ("stimulus_id", "set", "domain") and "p_yes" in PREDICTION_COLUMNS
    assert set(KEY_COLUMNS) <= set(PREDICTION_COLUMNS)
    assert set(SETTINGS_COLUMNS) - {"quantize"} <= set(OBSERVER_COLUMNS)


def test_write_and_read_back(tmp_path):
    path = tmp_path / "p.csv"
    w = _writer(path)
    w.append([_row(i) for i in range(4)])
    assert w.finish() == path
    df = read_predictions(path)
    assert list(df.columns) == list(PREDICTION_COLUMNS) + list(OBSERVER_COLUMNS)
    assert df["stimulus_id"].tolist() == ["000", "001", "002", "003"]  # ids stay strings
    assert df["falls"].tolist() == [True, False, True, False] and df["correct"].dtype == bool
    assert df["logp_yes"].iloc[0] == pytest.approx(math.log(0.002))
    assert set(df["kind"]) == {"vlm"} and set(df["image_size"]) == {"224x224"}
    assert w.done_keys() == {
        ("000", "s", "m", "", "zero-shot", "", "0"),
        ("001", "s", "m", "", "zero-shot", "", "0"),
        ("002", "s", "m", "", "zero-shot", "", "0"),
        ("003", "s", "m", "", "zero-shot", "", "0"),
    }


def test_a_torn_tail_is_repaired_and_the_run_resumes(tmp_path):
    path = tmp_path / "p.csv"
    _writer(path).append([_row(i) for i in range(3)])
    with open(path, "ab") as f:
        f.write(b"003,s,tower,3,Fal")  # killed mid-line
    w = _writer(path)
    assert len(w.done_keys()) == 3
    w.append([_row(3)])
    df = read_predictions(path)
    assert df["stimulus_id"].tolist() == ["000", "001", "002", "003"]


def test_parquet_collects_in_a_partial_csv_then_converts_atomically(tmp_path):
    path = tmp_path / "p.parquet"
    w = _writer(path, list(OBSERVER_COLUMNS) + ["free_text"])
    w.append([_row(0, free_text="Yes, it\nfalls"), _row(1, free_text="")])
    partial = tmp_path / "p.parquet.partial.csv"
    assert partial.exists() and not path.exists()
    assert len(partial.read_text().splitlines()) == 3  # a newline in free text stays one line
    w.finish()
    assert path.exists() and not partial.exists()
    df = read_predictions(path)
    assert len(df) == 2 and df["free_text"].iloc[0] == "Yes, it falls"
    w2 = _writer(path)
    assert len(w2.done_keys()) == 2
    with pytest.raises(PredictionsFormatError, match="already complete"):
        w2.append([_row(2)])


def test_old_tables_read_with_the_new_columns_added(tmp_path):
    path = tmp_path / "old.csv"
    pd.DataFrame([{c: _row(i)[c] for c in PREDICTION_COLUMNS} for i in range(2)]).to_csv(path, index=False)
    df = read_predictions(path)
    assert set(OBSERVER_COLUMNS) <= set(df.columns)
    assert set(df["kind"]) == {"vlm"} and df["p_other"].isna().all() and set(df["dtype"]) == {""}
    # appending with the new columns upgrades the header; old rows stay, empty there
    w = _writer(path)
    w.append([_row(2)])
    header = path.read_text().splitlines()[0].split(",")
    assert header == list(PREDICTION_COLUMNS) + list(OBSERVER_COLUMNS)
    df = read_predictions(path)
    assert len(df) == 3 and df["logp_yes"].isna().tolist() == [True, True, False]
    other_kind = pd.DataFrame([{**{c: _row(0)[c] for c in PREDICTION_COLUMNS}, "kind": "physics"}])
    assert validate_predictions(other_kind)["kind"].tolist() == ["physics"]


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("missing", r"missing column\(s\) \['p_yes'\]"),
        ("answer", "answer must be Yes or No, got 'maybe'"),
        ("duplicate", "2 duplicate rows .*'000'"),
        ("logp", "column 'logp_yes' must be a number or empty, got 'high'"),
    ],
)
def test_malformed_tables(damage, expected, tmp_path):
    rows = [_row(0), _row(1)]
    df = pd.DataFrame(rows)
    if damage == "missing":
        df = df.drop(columns=["p_yes"])
    elif damage == "answer":
        df.loc[1, "answer"] = "maybe"
    elif damage == "duplicate":
        df = pd.DataFrame([rows[0], rows[0]])
    elif damage == "logp":
        df["logp_yes"] = df["logp_yes"].astype(object)
        df.loc[0, "logp_yes"] = "high"
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(PredictionsFormatError, match=expected):
        read_predictions(path)


def test_missing_empty_and_wrong_suffix(tmp_path):
    with pytest.raises(PredictionsFormatError, match="no such file"):
        read_predictions(tmp_path / "none.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PredictionsFormatError, match="empty"):
        read_predictions(tmp_path / "empty.csv")
    with pytest.raises(PredictionsFormatError, match=r"must end in \.csv or \.parquet"):
        PredictionWriter(tmp_path / "p.txt")


def test_settings_of_a_table_are_compared_per_observer(tmp_path):
    path = tmp_path / "p.csv"
    w = _writer(path, list(OBSERVER_COLUMNS) + ["quantize"])
    w.append([_row(0), _row(1)])
    group = {"model": "m", "adapter": "", "condition": "zero-shot", "seed": "", "epoch": 0}
    same = {"kind": "vlm", "max_pixels": 50176, "dtype": "float32", "quantize": "none"}
    w = _writer(path)
    w.check_settings(group, same)  # resuming under the same settings is fine
    with pytest.raises(
        PredictionsSettingsError,
        match=r"p\.csv: its 2 row\(s\) .* max_pixels='50176', dtype='float32'; this "
        r"request has max_pixels='12544', dtype='bfloat16'\. Differing "
        r"setting\(s\): max_pixels, dtype\.",
    ):
        w.check_settings(group, {**same, "max_pixels": 12544, "dtype": "bfloat16"})
    with pytest.raises(PredictionsSettingsError, match="Differing setting\\(s\\): kind"):
        w.check_settings(group, {**same, "kind": "physics"})
    # another observer (model, epoch, ...) of the same table is not bound by these rows
    w.check_settings({**group, "epoch": 1}, {**same, "max_pixels": 12544})
    w.check_settings({**group, "model": "other"}, {**same, "dtype": "bfloat16"})
    # a setting the rows leave empty (an older table), or have no column for, is not compared
    w.check_settings(group, {**same, "template_sha256": "abc", "quantize": "4bit"})
    w.check_settings(group, {**same, "no_such_column": 1})
    PredictionWriter(tmp_path / "new.csv").check_settings(group, same)  # no table yet
