"""The physics observer: noisy re-simulation of real MuJoCo scenes, reproducible, no training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.formats.sets import load_set
from cubeworld.observers import OBSERVERS
from cubeworld.observers.base import EvaluationJob
from cubeworld.observers.noisy_newton import interpenetrates, noisy_scene

runner = CliRunner()
PHYSICS = OBSERVERS.get("physics")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    from cubeworld.stimuli import generate_set

    root = tmp_path_factory.mktemp("phys")
    towers = generate_set("tower", [2, 3], 4, 31, root / "towers", resolution=32, progress=False)
    pyramids = generate_set("pyramid", [3, 6], 2, 32, root / "pyramids", resolution=32, progress=False)
    return towers, pyramids


def score(sets, out, **scoring):
    PHYSICS.evaluate(
        EvaluationJob(
            model="physics",
            tables=tuple((s, out) for s in sets),
            model_label="physics",
            scoring=PHYSICS.settings("scoring", scoring),
            progress=False,
        )
    )
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def test_tiny_noise_reproduces_every_label(sets, tmp_path):
    """With noise near zero, every noisy copy is the recorded scene: the family's own rule
    gives the ground truth (towers: it falls; pyramids: another block falls without red)."""
    df = score(sets, tmp_path / "p.csv", n_simulations=2, position_noise=1e-6, workers=1)
    assert len(df) == 8 + 4
    assert set(df["p_yes"].astype(float)) <= {0.0, 1.0}
    assert (df["correct"] == "True").all()
    assert set(df["kind"]) == {"physics"} and set(df["n_simulations"]) == {"2"}


def test_same_seed_same_numbers_in_any_number_of_processes(sets, tmp_path):
    a = score(sets, tmp_path / "a.csv", n_simulations=6, position_noise=0.3, workers=1, seed=4)
    b = score(sets, tmp_path / "b.csv", n_simulations=6, position_noise=0.3, workers=2, seed=4)
    pd.testing.assert_frame_equal(a, b)
    c = score(sets, tmp_path / "c.csv", n_simulations=6, position_noise=0.3, workers=1, seed=5)
    assert not a["p_yes"].equals(c["p_yes"])
    p = a["p_yes"].astype(float)
    assert ((p * 6 - (p * 6).round()).abs() < 1e-6).all() and p.between(0, 1).all()


def test_a_killed_scoring_resumes_to_the_same_table(sets, tmp_path):
    full = score(sets, tmp_path / "full.csv", n_simulations=3, position_noise=0.2, workers=1)
    part = tmp_path / "part.csv"
    lines = (tmp_path / "full.csv").read_text().splitlines()
    part.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10])  # a torn last line
    again = score(sets, part, n_simulations=3, position_noise=0.2, workers=1)
    pd.testing.assert_frame_equal(again, full)


def test_noisy_copies_never_interpenetrate(sets):
    s = load_set(sets[1])
    for row in s.rows:
        scene = row.extra["scene"]
        for k in range(20):
            copy = noisy_scene(scene, np.random.default_rng(k), 0.3, 0.1, 50)
            assert not interpenetrates(copy["blocks"])
            assert [b["pos"][2] for b in copy["blocks"]] == [b["pos"][2] for b in scene["blocks"]]


def test_interpenetration_is_detected():
    a = {"size": [0.1, 0.1, 0.1], "pos": [0.0, 0.0, 0.05], "yaw": 0.0}
    near = {"size": [0.1, 0.1, 0.1], "pos": [0.11, 0.0, 0.05], "yaw": 0.0}
    into = {"size": [0.1, 0.1, 0.1], "pos": [0.09, 0.0, 0.05], "yaw": 0.0}
    turned = {"size": [0.1, 0.1, 0.1], "pos": [0.11, 0.0, 0.05], "yaw": 45.0}  # corner reaches in
    above = {"size": [0.1, 0.1, 0.1], "pos": [0.02, 0.0, 0.15], "yaw": 0.0}  # resting on top
    assert not interpenetrates([a, near]) and interpenetrates([a, into])
    assert interpenetrates([a, turned]) and not interpenetrates([a, above])
    # a recorded scene with a contact this upright-box test calls an overlap (a tipped
    # domino leaning on the next): that pair is allowed, the copy is drawn, nothing hangs
    copy = noisy_scene({"blocks": [a, into, above]}, np.random.default_rng(0), 0.1, 0.0, 5)
    assert len(copy["blocks"]) == 3 and copy["blocks"][0]["pos"] != a["pos"]


def test_photos_are_skipped_with_one_line(tmp_path):
    from cubeworld.datasets.catalog import get_dataset

    ds = get_dataset("lerer100")
    photos = ds.import_set(tmp_path / "lerer100", ds.shipped)
    assert "without a recorded scene" in PHYSICS.skip_reason(load_set(photos))
    r = runner.invoke(
        app, ["evaluate", "--model", "physics", "--set", str(photos), "--out", str(tmp_path / "p.csv"), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    assert "lerer100: skipped by the physics observer" in r.output
    assert not (tmp_path / "p.csv").exists()


def test_command_line_scores_and_refuses_training(sets, tmp_path):
    towers, _ = sets
    out = tmp_path / "p.csv"
    r = runner.invoke(
        app, ["evaluate", "--model", "physics", "--set", str(towers), "--out", str(out), "--seed", "3", "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert len(df) == 8 and set(df["seed"]) == {3} and set(df["model"]) == {"physics"}
    r = runner.invoke(app, ["finetune", "--model", "physics", "--train", str(towers), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "a physics observer needs no training" in r.output
    assert not (tmp_path / "run").exists()
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            "physics",
            "--set",
            str(towers),
            "--out",
            str(tmp_path / "q.csv"),
            "--adapter",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 2 and "--adapter: does not apply to a physics observer" in r.output
    assert not (tmp_path / "q.csv").exists()


def test_a_small_force_pushes_standing_towers_over(sets, tmp_path):
    """`push_noise` (the small force of Battaglia et al.) gives each block of a copy a random
    start velocity: the recorded scenes are unchanged, standing towers fall more often the
    harder they are pushed, and without it the numbers are exactly those of no push."""
    truth = {r.stimulus_id: r.falls for r in load_set(sets[0]).rows}
    base = dict(n_simulations=6, position_noise=1e-6, workers=1)
    still = score(sets[:1], tmp_path / "still.csv", **base)
    zero = score(sets[:1], tmp_path / "zero.csv", **base, push_noise=0.0)
    pd.testing.assert_frame_equal(still, zero)
    pushed = score(sets[:1], tmp_path / "pushed.csv", **base, push_noise=1.0)
    standing = [sid for sid, falls in truth.items() if not falls]
    p_still = still.set_index("stimulus_id")["p_yes"].astype(float)
    p_pushed = pushed.set_index("stimulus_id")["p_yes"].astype(float)
    assert (p_still[standing] == 0).all()
    assert p_pushed[standing].mean() > 0.5  # 1 m/s slides blocks far past a quarter of their side

    row = load_set(sets[0]).rows[0]
    copy = noisy_scene(row.extra["scene"], np.random.default_rng(0), 0.1, 0.0, 50, push_noise=0.05)
    assert all(len(b["velocity"]) == 3 and b["velocity"][2] == 0 for b in copy["blocks"])
    assert "velocity" not in row.extra["scene"]["blocks"][0]


def test_every_setting_is_an_option_recorded_in_each_row_and_names_the_observer(sets, tmp_path):
    """Noise, count, threshold and lapse from the command line: in each row's provenance, and
    a non-default parameter set is its own named observer in the same table."""
    towers, _ = sets
    out = tmp_path / "p.csv"
    base = ["evaluate", "--model", "physics", "--set", str(towers), "--out", str(out), "--no-progress"]
    r = runner.invoke(app, [*base, "--n-simulations", "2", "--position-noise", "0.15", "--lapse", "0.2"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--n-simulations", "2", "--position-noise", "0.15", "--threshold", "0.5"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out, keep_default_na=False)
    lapse = df[df["model"] == "physics[lapse=0.2,n_simulations=2,position_noise=0.15]"]
    step = df[df["model"] == "physics[n_simulations=2,position_noise=0.15,threshold=0.5]"]
    assert len(lapse) == len(step) == 8
    assert set(lapse["position_noise"]) == {0.15} and set(lapse["lapse"]) == {0.2} and set(lapse["threshold"]) == {""}
    # P(Yes) = lapse/2 + (1 - lapse) x share: never 0 or 1 with a lapse; 0 or 1 at a threshold
    assert set(lapse["p_yes"].round(6)) <= {0.1, 0.5, 0.9}
    assert set(step["p_yes"]) <= {0.0, 1.0} and set(step["threshold"].astype(str)) == {"0.5"}
    r = runner.invoke(app, [*base, "--lapse", "1"])
    assert r.exit_code == 2 and "lapse" in r.output
