"""The two answers, and user YAML read with one-line errors naming file, line and column."""

from __future__ import annotations

import pytest

from cubeworld.errors import CubeworldError
from cubeworld.formats.answers import NO, YES, answer_for
from cubeworld.formats.yamlfile import YamlFileError, parse_yaml, read_yaml


def test_answers():
    assert (YES, NO) == ("Yes", "No")
    assert answer_for(True) == YES and answer_for(False) == NO


class StageError(CubeworldError):
    pass


def test_read_yaml(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("a: 1\nlist: [x, y]\n")
    assert read_yaml(f) == {"a": 1, "list": ["x", "y"]}
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") is None


@pytest.mark.parametrize("case", ["missing", "folder", "binary", "syntax", "unclosed"])
def test_yaml_errors_are_one_line_with_the_place(case, tmp_path):
    f = tmp_path / "study.yaml"
    if case == "folder":
        f.mkdir()
    elif case == "binary":
        f.write_bytes(b"a: \xff\xfe\n")
    elif case == "syntax":
        f.write_text("models:\n  - source: tiny\n   training: {epochs: 2}\n")
    elif case == "unclosed":
        f.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(StageError) as e:
        read_yaml(f, StageError)
    message = str(e.value)
    assert "\n" not in message and str(f) in message
    expected = {
        "missing": "no such file",
        "folder": "is a folder",
        "binary": "not UTF-8",
        "syntax": f"{f}:3:",
        "unclosed": "YAML syntax error",
    }[case]
    assert expected in message


def test_parse_yaml_default_error_class():
    with pytest.raises(YamlFileError, match=r"^inline:1:\d+: YAML syntax error"):
        parse_yaml("a: [", "inline")
    assert parse_yaml("- 1\n- 2\n", "inline") == [1, 2]
