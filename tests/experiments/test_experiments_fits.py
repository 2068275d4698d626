"""The fit as a step of a study: `fits:` run once after the sets, the fitted model scored
with what the fit found, not run again on the same inputs, run again when they change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cubeworld.experiments.config import ConfigError, load_config
from cubeworld.experiments.fits import fit_dir
from cubeworld.experiments.study import run_study, study_report
from cubeworld.fitting.people import simulate_answers

STUDY = """\
name: fit-study
runs_dir: runs
models:
  physics-fit: {kind: physics, fit: small, scoring: {workers: 1}}
fits:
  small:
    set: towers
    humans: humans.csv
    params: [position_noise]
    position_noise_grid: [0.05, 0.2]
    refine: false
    folds: 2
    bootstrap: 4
    n_simulations: 3
    workers: 1
sets:
  towers: {domain: tower, sizes: [2, 4], per_size: 4, seed: 51, resolution: 32}
  photos: {dataset: lerer100}
conditions:
  zero-shot: {zero_shot: true}
evaluation: [towers]
"""


def _humans(path: Path, seed: int) -> None:
    """Six made-up people answering the eight towers (ids as the generator names them)."""
    ids = [f"tower-s51-n{n}-{k:05d}" for n in (2, 4) for k in range(4)]
    p = np.where(np.arange(8) % 2 == 0, 0.8, 0.3)
    simulate_answers(ids, p, participants=6, seed=seed).to_csv(path, index=False)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit-study")
    (root / "study.yaml").write_text(STUDY)
    _humans(root / "humans.csv", 1)
    result = run_study(root / "study.yaml", progress=False, report=False, threads=1)
    return root, result


def test_the_fit_runs_once_and_scores_the_fitted_model(fitted):
    root, result = fitted
    assert result.ok
    cfg = load_config(root / "study.yaml")
    folder = fit_dir(cfg, "small")
    fit = json.loads((folder / "fit.json").read_text())
    assert (folder / "observer.yaml").is_file() and (folder / "inputs.json").is_file()
    pred = pd.read_csv(root / "runs/fit-study/physics-fit/zero-shot/seed-none/predictions/epoch-0/towers.csv")
    assert set(pred["position_noise"]) == {fit["fitted"]["position_noise"]}
    assert set(pred["lapse"]) == {round(fit["fitted"]["lapse"], 6)}
    assert set(pred["n_simulations"]) == {3}  # the fit's copies, from its observer.yaml
    # the same inputs: nothing runs again
    stamp = (folder / "fit.json").stat().st_mtime_ns
    again = run_study(root / "study.yaml", progress=False, report=False, threads=1)
    assert again.ok and again.skipped == 1 and (folder / "fit.json").stat().st_mtime_ns == stamp


def test_changed_answers_fit_again_and_rescore(fitted, tmp_path):
    root, _ = fitted
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(root, copy)
    _humans(copy / "humans.csv", 2)
    before = json.loads((copy / "runs/fit-study/fits/small/inputs.json").read_text())
    assert run_study(copy / "study.yaml", progress=False, report=False, threads=1).ok
    after = json.loads((copy / "runs/fit-study/fits/small/inputs.json").read_text())
    assert before["humans_sha256"] != after["humans_sha256"]
    fitted_now = yaml.safe_load((copy / "runs/fit-study/fits/small/observer.yaml").read_text())
    lapse = fitted_now["physics-fit"]["scoring"]["lapse"]
    pred = pd.read_csv(copy / "runs/fit-study/physics-fit/zero-shot/seed-none/predictions/epoch-0/towers.csv")
    assert set(pred["lapse"]) == {lapse}
    report = study_report(copy / "study.yaml", progress=False)
    # the report shows the fit: its per-size figure with the parameters, its held-out table
    held = pd.read_csv(report.parent / "fit_heldout.csv").set_index("model")
    fit = json.loads((copy / "runs/fit-study/fits/small/fit.json").read_text())
    assert held.loc["physics fit", "log_lik_per_trial"] == pytest.approx(fit["heldout"]["physics"]["per_trial"])
    assert held.loc["chance", "log_lik_per_trial"] == pytest.approx(np.log(0.5))
    assert set(held["folds"]) == {2} and set(held["trials"]) == {fit["heldout"]["chance"]["trials"]}
    assert (report.parent / "fig_fit_per_size.png").read_bytes()[:4] == b"\x89PNG"
    html = report.read_text()
    assert f"position_noise {fit['fitted']['position_noise']:.3f} [" in html
    assert "held-out log-likelihood per trial" in html


def test_a_bad_fit_folder_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from cubeworld.cli import app

    pd.DataFrame({"stimulus_id": ["a"]}).to_csv(tmp_path / "p.csv")
    (tmp_path / "fit").mkdir()
    r = CliRunner().invoke(
        app, ["analyze", str(tmp_path / "p.csv"), "--out", str(tmp_path / "o"), "--fit", str(tmp_path / "fit")]
    )
    assert r.exit_code == 2 and f"error: {tmp_path / 'fit'}: not a fit folder (no fit.json" in r.output


@pytest.mark.parametrize(
    "edit, message",
    [
        ("fit: small, scoring: {workers: 1}", None),
        ("fit: nope", "models.physics-fit.fit: unknown fit 'nope'"),
        ("fit: small, scoring: {lapse: 0.1}", "models.physics-fit.scoring: a fitted model is scored with its fit's"),
    ],
)
def test_bad_fit_entries_name_file_line_and_key(tmp_path, edit, message):
    text = STUDY.replace("fit: small, scoring: {workers: 1}", edit)
    (tmp_path / "s.yaml").write_text(text)
    if message is None:
        assert load_config(tmp_path / "s.yaml").model("physics-fit").fit == "small"
        return
    with pytest.raises(ConfigError, match=message) as e:
        load_config(tmp_path / "s.yaml")
    assert str(e.value).startswith(f"{tmp_path / 's.yaml'}:4: ")


def test_bad_fit_settings_are_refused(tmp_path):
    cases = [
        ("    folds: 2\n", "    folds: 1\n", "fits.small.folds"),
        ("    params: [position_noise]\n", "    params: [gravity]\n", "fits.small.params: 'gravity' cannot be fitted"),
        ("    set: towers\n", "    set: pyramids\n", "fits.small.set: unknown set 'pyramids'"),
        ("    set: towers\n", "    set: photos\n", "fits.small.set: set 'photos' is photos .lerer100.: they record no"),
        ("    workers: 1\n", "    workers: 1\n    base: {lapse: 0.1}\n", "fits.small.base.lapse: is the fit's own"),
        (
            "  physics-fit: {kind: physics, fit: small, scoring: {workers: 1}}",
            "  physics-fit: {source: tiny, fit: small}",
            "a fit estimates a physics observer's settings, not a vlm's",
        ),
    ]
    for old, new, message in cases:
        (tmp_path / "s.yaml").write_text(STUDY.replace(old, new))
        with pytest.raises(ConfigError, match=message):
            load_config(tmp_path / "s.yaml")
