"""docs/EXTENDING.md's worked observer kind, executed exactly as printed (issue 22, item 9).

The module, its registry line and its study entry are read from the document, not copied
here: if the document and the code drift apart, this test fails.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import yaml
from observers_helpers import colour_set
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.experiments.config import ConfigError, load_config
from cubeworld.experiments.study import run_study
from cubeworld.observers import OBSERVERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXTENDING.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## An observer kind") : text.index("## An analysis")]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.S)


@pytest.fixture
def blocks_kind(monkeypatch):
    """The printed module, loaded under the name its first line gives, and the printed
    registry line added to OBSERVERS (both undone after the test)."""
    module_code, registry_line = _blocks("python")
    name = module_code.splitlines()[0].removeprefix("# ").removesuffix(".py").replace("/", ".")
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(module_code, f"<{DOC.name}: {name}>", "exec"), module.__dict__)
    ((kind_name, entry),) = ast.literal_eval("{" + registry_line.strip().rstrip(",") + "}").items()
    monkeypatch.setitem(OBSERVERS._entries, kind_name, entry)
    return kind_name


def _study(tmp_path: Path, models: dict) -> Path:
    sets = colour_set(tmp_path / "sets", "towers", n_per_cell=2, sizes=(2, 3, 4, 5), images=False)
    config = {
        "name": "floor",
        "runs_dir": "runs",
        "models": models,
        "sets": {"towers": {"path": str(sets)}},
        "conditions": {"zero-shot": {"zero_shot": True}},
        "evaluation": ["towers"],
        "seeds": [0],
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_the_printed_kind_runs_in_a_study_and_on_the_command_line(blocks_kind, tmp_path):
    (study_entry,) = _blocks("yaml")
    models = yaml.safe_load(study_entry)["models"]
    ((model, entry),) = models.items()
    assert entry["kind"] == blocks_kind
    threshold = entry["scoring"]["threshold"]
    result = run_study(_study(tmp_path, models), progress=False, report=False)
    assert result.ok and list(result.states) == [f"{model}/zero-shot/seed-none"]
    table = pd.read_csv(tmp_path / f"runs/floor/{model}/zero-shot/seed-none/predictions/epoch-0/towers.csv")
    assert set(table["kind"]) == {blocks_kind} and len(table) == 16
    assert (table["p_yes"] == (table["n_blocks"] > threshold).astype(float)).all()
    assert run_study(tmp_path / "study.yaml", progress=False, report=False).skipped == 1  # done: nothing to do

    out = tmp_path / "p.csv"
    r = CliRunner().invoke(
        app, ["evaluate", "--model", blocks_kind, "--set", str(tmp_path / "sets/towers"), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert set(pd.read_csv(out)["model"]) == {blocks_kind}
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            blocks_kind,
            "--set",
            str(tmp_path / "sets/towers"),
            "--out",
            str(out),
            "--dtype",
            "float16",
        ],
    )
    assert r.exit_code == 2 and "--dtype: does not apply to a blocks observer" in r.output


def test_the_printed_kinds_settings_are_checked(blocks_kind, tmp_path):
    path = _study(tmp_path, {"floor": {"kind": blocks_kind, "scoring": {"threshold": 0}}})
    line = path.read_text().splitlines().index("      threshold: 0") + 1
    with pytest.raises(
        ConfigError, match=rf"study\.yaml:{line}: models\.floor\.scoring\.threshold: must be at least 1"
    ):
        load_config(path)
    path = _study(tmp_path, {"floor": {"kind": blocks_kind, "training": {"epochs": 2}}})
    with pytest.raises(ConfigError, match="a blocks observer needs no training"):
        load_config(path)
