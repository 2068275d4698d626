"""The one typed-config mechanism: YAML (with lines and duplicate keys), bounds, the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import typer
from typer.testing import CliRunner

from cubeworld.errors import ConfigError
from cubeworld.formats.yamlfile import YamlFileError, parse_yaml
from cubeworld.typed import cli_parameters, from_plain, replace_checked, setting, to_plain, with_signature


@dataclass(frozen=True)
class Inner:
    count: int = setting(1, help="How many.", minimum=1, maximum=5)


@dataclass(frozen=True)
class Outer:
    per_size: int = setting(10, help="Items per size.", minimum=1, maximum=100)
    rate: float = setting(0.5, help="A rate.", minimum=0.0)
    mode: Literal["a", "b"] = setting("a", help="A mode.")
    names: tuple[str, ...] = setting((), help="Names.")
    out: Path | None = setting(None, help="A folder.")
    inner: Inner = setting(factory=Inner, cli=False)
    sizes: dict[int, float] = setting(factory=dict, cli=False)


def test_yaml_duplicate_key_is_an_error_with_both_lines():
    with pytest.raises(YamlFileError, match=r"study\.yaml:3:1: key 'models' given twice \(lines 1 and 3\)"):
        parse_yaml("models: {a: 1}\nsets: {}\nmodels: {b: 2}\n", "study.yaml")


def test_yaml_nested_duplicate_key():
    with pytest.raises(YamlFileError, match=r"s\.yaml:3:3: key 'x' given twice"):
        parse_yaml("top:\n  x: 1\n  x: 2\n", "s.yaml")


def test_unknown_key_names_file_line_and_path():
    data = parse_yaml("per_size: 4\ninner:\n  count: 2\n  cuont: 3\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"^c\.yaml:4: inner\.cuont: unknown setting; expected one of \['count'\]$"):
        from_plain(Outer, data, "c.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("per_size: 1000000000000\n", r"c\.yaml:1: per_size: must be at most 100, got 1000000000000"),
        ("per_size: 0\n", r"c\.yaml:1: per_size: must be at least 1, got 0"),
        ("rate: .nan\n", r"c\.yaml:1: rate: expected a finite number, got nan"),
        ("rate: -1\n", r"c\.yaml:1: rate: must be at least 0, got -1.0"),
        ("mode: c\n", r"c\.yaml:1: mode: expected one of \['a', 'b'\], got 'c'"),
        ("inner: {count: 9}\n", r"c\.yaml:1: inner\.count: must be at most 5, got 9"),
        ("per_size: true\n", r"per_size: expected an integer, got True"),
        ("per_size: '12'\n", r"per_size: expected an integer, got '12'"),
    ],
)
def test_values_are_checked(text, message):
    with pytest.raises(ConfigError, match=message):
        from_plain(Outer, parse_yaml(text, "c.yaml"), "c.yaml")


def test_round_trip_and_replace():
    cfg = from_plain(Outer, {"names": ["x", "y"], "sizes": {"2": 0.5}, "out": "a/b"}, "cfg")
    assert cfg.names == ("x", "y") and cfg.sizes == {2: 0.5} and cfg.out == Path("a/b")
    assert from_plain(Outer, to_plain(cfg), "again") == cfg
    assert replace_checked(cfg, {"per_size": 7}, "cfg").per_size == 7
    with pytest.raises(ConfigError, match="per_size: must be at most 100"):
        replace_checked(cfg, {"per_size": 101}, "cfg")


def test_cli_options_come_from_the_fields():
    app = typer.Typer()
    seen = {}

    def body(**options):
        seen.update(options)

    app.command("go")(with_signature(body, cli_parameters(Outer)))
    app.command("other")(lambda: None)
    runner = CliRunner()
    r = runner.invoke(app, ["go", "--per-size", "7", "--names", "a", "--names", "b", "--mode", "b"])
    assert r.exit_code == 0, r.output
    assert seen == {"per_size": 7, "rate": 0.5, "mode": "b", "names": ["a", "b"], "out": None}
    assert from_plain(Outer, {k: v for k, v in seen.items() if v is not None}, "cli").names == ("a", "b")
    r = runner.invoke(app, ["go", "--per-size", "1000"])
    assert r.exit_code == 2 and "--per-size" in r.output
    r = runner.invoke(app, ["go", "--help"])
    assert "Items per size." in r.output and "--inner" not in r.output
