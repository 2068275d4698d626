"""Lerer100 ships with the package and imports with no source folder given."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.datasets.catalog import DATASETS, get_dataset
from cubeworld.errors import UnknownEntryError
from cubeworld.formats.predictions import read_predictions
from cubeworld.formats.responses import read_responses
from cubeworld.formats.sets import PHOTO, load_set
from cubeworld.stimuli.catalog import get_family

runner = CliRunner()


def test_the_shipped_copy_is_complete_with_licence_and_attribution(shipped):
    assert len(list((shipped / "images").glob("*.png"))) == 100
    stimuli = pd.read_csv(shipped / "stimuli.csv")
    assert len(stimuli) == 100 and set(stimuli["falls"]) == {0, 1}
    assert len(pd.read_csv(shipped / "human_responses.csv")) == 10_700
    assert len(pd.read_csv(shipped / "model_answers.csv")) == 500
    licence = (shipped / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Permission is hereby granted" in licence
    readme = (shipped / "README.md").read_text()
    assert "Lerer, Gross & Fergus (2016)" in readme and "Schulze Buschoff et al. (2025)" in readme


def test_data_lerer100_needs_no_source_folder(shipped, tmp_path):
    out = tmp_path / "lerer100"
    r = runner.invoke(app, ["data", "lerer100", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = load_set(out, verify=True)  # sealed: every photo decodes and hashes to SHA256SUMS
    assert len(s) == 100 and s.name == "lerer100"
    # photos are their own kind of set: no scenes, no stimulus family made them, but they ask
    # the study's exact tower question (the tower family's prompt, the one source of it)
    assert s.kind == PHOTO and s.card["kind"] == PHOTO and s.card["generator"] == "cubeworld.datasets.lerer100"
    assert {r.prompt for r in s.rows} == {s.card["prompt"]} == {get_family("tower").prompt}
    assert not any("scene" in r.extra for r in s.rows)
    assert s.card["total"] == 100 and s.card["status"] == "complete" and "integrity" in s.card
    assert sum(c["Yes"] + c["No"] for c in s.card["counts"].values()) == 100
    assert s.card["source"] == str(shipped.resolve())
    assert s.card["dataset_identity"] == get_dataset("lerer100").identity()
    humans = read_responses(out / "human_responses.csv")
    assert humans["participant"].nunique() == 107 and len(humans) == 10_700
    # the published human accuracy (README of the data): 0.656
    truth = {row.stimulus_id: row.falls for row in s.rows}
    acc = (humans["response"].astype(bool) == humans["stimulus_id"].map(truth)).mean()
    assert acc == pytest.approx(0.656, abs=0.001)


def test_data_lerer100_models_needs_no_source_folder(shipped, tmp_path):
    out = tmp_path / "models.csv"
    r = runner.invoke(app, ["data", "lerer100-models", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "FUYU on image 509" in r.output  # the one missing answer, dropped with a warning
    p = read_predictions(out)
    assert len(p) == 499 and p["model"].nunique() == 5


def test_the_environment_variable_overrides_the_shipped_copy(shipped, tmp_path, monkeypatch):
    """$CUBEWORLD_LERER100 names another copy: that one is read (here with one photo's
    ground truth changed, so the import shows which copy it read)."""
    other = tmp_path / "other"
    shutil.copytree(shipped, other)
    stimuli = pd.read_csv(other / "stimuli.csv")
    stimuli.loc[0, "falls"] = 1 - stimuli.loc[0, "falls"]
    stimuli.to_csv(other / "stimuli.csv", index=False)
    monkeypatch.setenv("CUBEWORLD_LERER100", str(other))
    ds = get_dataset("lerer100")
    assert ds.source() == other
    assert ds.identity() != ds.identity(shipped)  # the data differs, so does the identity
    out = tmp_path / "set"
    assert runner.invoke(app, ["data", "lerer100", "--out", str(out)]).exit_code == 0
    s = load_set(out)
    assert s.card["source"] == str(other.resolve())
    first = s.by_id()[f"lerer-{int(stimuli.loc[0, 'image_id'])}"]
    assert first.falls == bool(stimuli.loc[0, "falls"])


def test_an_identical_copy_elsewhere_has_the_same_identity(shipped, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(shipped, other)
    ds = get_dataset("lerer100")
    assert ds.identity(other) == ds.identity(shipped)


def test_bad_source_is_one_line_and_writes_nothing(shipped, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["data", "lerer100", "--from", str(tmp_path / "nope"), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.strip().startswith("error: ") and len(r.output.strip().splitlines()) == 1
    assert str(tmp_path / "nope") in r.output and not out.exists()


def test_registry_lists_data_sets_and_rejects_unknown_names():
    assert "lerer100" in DATASETS
    with pytest.raises(UnknownEntryError, match="expected one of lerer100"):
        get_dataset("lerer200")
    r = runner.invoke(app, ["data", "list"])
    assert r.exit_code == 0 and "lerer100" in r.output


def test_listing_the_registry_imports_no_pandas():
    code = (
        "import sys; from cubeworld.datasets import DATASETS; DATASETS.get('lerer100'); "
        "print('pandas' not in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_pyproject_ships_the_data_files():
    """The package-data globs of pyproject.toml cover every file of the shipped copy."""
    import fnmatch
    import tomllib
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "cubeworld.datasets"
    ]
    shipped = get_dataset("lerer100").shipped
    pkg = shipped.parent
    for f in shipped.rglob("*"):
        if f.is_file():
            rel = f.relative_to(pkg).as_posix()
            assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
