"""Fitting the physics observer to people: recovery of known parameters, the command, people as observers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.fitting.config import FitConfig
from cubeworld.fitting.crossval import counts
from cubeworld.fitting.items import load_items, match_answers
from cubeworld.fitting.likelihood import fit_grid, p_yes
from cubeworld.fitting.people import responses_as_predictions, simulate_answers
from cubeworld.fitting.shares import share_table
from cubeworld.observers.noisy_newton import PhysicsScoring

runner = CliRunner()
GRID = (0.04, 0.08, 0.15)  # recovered: 0.08 and 0.15 with a lapse of 0.05


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    from cubeworld.stimuli import generate_set

    root = tmp_path_factory.mktemp("fit")
    return generate_set("tower", [2, 4], 4, 51, root / "towers", resolution=32, progress=False, workers=1)


@pytest.fixture(scope="module")
def table(towers):
    """Shares of 8 copies per item at three position noises (one simulation table)."""
    rows = load_items([towers])
    dummy = pd.DataFrame({"stimulus_id": [r.stimulus_id for r in rows], "participant": "x", "response": 0})
    items = match_answers(rows, dummy)
    config = FitConfig(n_simulations=8, workers=1, stop_at_rest=True)
    shares = share_table(
        items,
        [{"position_noise": v, "size_noise": 0.0, "push_noise": 0.0} for v in GRID],
        PhysicsScoring(),
        config,
        progress=False,
    )
    return rows, items, shares


@pytest.mark.parametrize("truth", [1, 2])
def test_known_parameters_are_recovered(table, truth):
    """Simulated people (position noise on the grid, lapse 0.05) fitted by maximum
    likelihood: the grid point and the lapse come back within the stated tolerance."""
    rows, items, shares = table
    p = p_yes(shares[truth], 0.05)
    df = simulate_answers(list(items.ids), p, participants=400, seed=truth)
    fitted_items = match_answers(rows, df)
    k, n = counts(fitted_items.yes, fitted_items.seen, np.ones(400, bool), np.ones(len(rows), bool))
    g = fit_grid(shares, [None], k, n, lapse_max=0.5)
    assert GRID[g.point] == GRID[truth]
    assert abs(g.lapse - 0.05) < 0.04
    chance = float(n.sum() * np.log(0.5))
    assert g.log_lik > chance


def test_fit_command_writes_an_observer_config_and_beats_chance(towers, tmp_path):
    rows = load_items([towers])
    p = np.where([r.falls for r in rows], 0.85, 0.2)
    simulate_answers([r.stimulus_id for r in rows], p, participants=12, seed=0).to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "fit"
    r = runner.invoke(
        app,
        [
            "fit",
            "physics",
            "--set",
            str(towers),
            "--humans",
            str(tmp_path / "h.csv"),
            "--out",
            str(out),
            "--params",
            "position_noise,threshold",
            "--position-noise-grid",
            "0.05",
            "--position-noise-grid",
            "0.2",
            "--no-refine",
            "--n-simulations",
            "4",
            "--bootstrap",
            "10",
            "--folds",
            "2",
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    fit = json.loads((out / "fit.json").read_text())
    assert set(fit["fitted"]) == {"position_noise", "threshold", "lapse"} and fit["simulated_participants"]
    assert fit["heldout"]["physics"]["per_trial"] > fit["heldout"]["chance"]["per_trial"]
    lo, hi = fit["intervals_95"]["lapse"]
    assert lo <= hi
    observer = yaml.safe_load((out / "observer.yaml").read_text())["physics-fit"]
    assert observer["kind"] == "physics" and observer["scoring"]["position_noise"] == fit["fitted"]["position_noise"]
    PhysicsScoring(**observer["scoring"])  # a config the observer takes as it is
    people = pd.read_csv(out / "participants.csv")
    assert set(people["model"]) == {"physics", "per-size", "chance"} and (people["nll"] > 0).all()
    assert set(pd.read_csv(out / "per_size.csv")["n_blocks"]) == {2, 4} and (out / "per_size.png").stat().st_size


def test_bad_fits_are_refused_with_one_line(towers, tmp_path):
    from cubeworld.datasets.catalog import get_dataset

    ds = get_dataset("lerer100")
    photos = ds.import_set(tmp_path / "lerer100", ds.shipped)
    humans = photos / "human_responses.csv"
    r = runner.invoke(
        app, ["fit", "physics", "--set", str(photos), "--humans", str(humans), "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "cannot be fitted" in r.output and "Lerer100" in r.output
    r = runner.invoke(
        app,
        [
            "fit",
            "physics",
            "--set",
            str(towers),
            "--humans",
            str(humans),
            "--out",
            str(tmp_path / "o"),
            "--params",
            "gravity",
        ],
    )
    assert r.exit_code == 2 and "'gravity' cannot be fitted" in r.output
    assert not (tmp_path / "o").exists()
    # Lerer100's people as observers: one per participant and the majority, read back as predictions
    from cubeworld.formats.predictions import read_predictions

    r = runner.invoke(app, ["fit", "people", "--set", str(photos), "--out", str(tmp_path / "people.csv")])
    assert r.exit_code == 0, r.output
    table = read_predictions(tmp_path / "people.csv")
    assert "human:majority" in set(table["model"]) and table["model"].nunique() > 50


def test_people_enter_the_observers_schema(towers):
    from cubeworld.formats.predictions import PREDICTION_COLUMNS

    rows = load_items([towers])
    df = simulate_answers([r.stimulus_id for r in rows], np.full(len(rows), 0.5), participants=3, seed=1)
    pred = responses_as_predictions(df, rows, "towers")
    assert set(PREDICTION_COLUMNS) <= set(pred.columns)
    assert set(pred["model"]) == {"human:sim-000", "human:sim-001", "human:sim-002", "human:majority"}
    one = pred[pred["model"] == "human:sim-000"].set_index("stimulus_id")
    answers = df[df["participant"] == "sim-000"].set_index("stimulus_id")["response"]
    assert (one["p_yes"] == answers.reindex(one.index)).all()
    assert (one["correct"] == ((one["p_yes"] == 1) == one["falls"])).all()


def test_centaur_scoring_splits_people_and_items_and_scores_per_participant(tmp_path):
    from cubeworld.fitting.centaur import participant_nll, split_people

    ids = [f"s{i}" for i in range(40)]
    truth_p = np.linspace(0.05, 0.95, 40)
    df = simulate_answers(ids, truth_p, participants=20, seed=3)
    train, test = split_people(df, 0.5, seed=0)
    assert not set(train["participant"]) & set(test["participant"])
    assert not set(train["stimulus_id"]) & set(test["stimulus_id"])
    assert len(train) == len(test) == 10 * 20
    table = pd.DataFrame({"stimulus_id": ids, "p_yes": truth_p, "model": "generator"})
    flat = table.assign(p_yes=0.5, model="coin")
    scores = participant_nll(pd.concat([table, flat]), test)
    assert set(scores["participant"]) == set(test["participant"]) and (scores["trials"] == 20).all()
    coin = scores[scores["model"] == "coin"]
    assert np.allclose(coin["nll_per_trial"], np.log(2))
    gen = scores[scores["model"] == "generator"]
    assert gen["nll"].sum() < coin["nll"].sum()
    table.assign(
        set="s",
        domain="tower",
        n_blocks=2,
        falls=True,
        adapter="",
        condition="",
        seed="",
        epoch=0,
        answer="Yes",
        correct=True,
    ).to_csv(tmp_path / "p.csv", index=False)
    test.to_csv(tmp_path / "h.csv", index=False)
    r = runner.invoke(
        app,
        [
            "fit",
            "nll",
            "--predictions",
            str(tmp_path / "p.csv"),
            "--humans",
            str(tmp_path / "h.csv"),
            "--out",
            str(tmp_path / "nll.csv"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "generator: NLL per trial" in r.output and len(pd.read_csv(tmp_path / "nll.csv")) == 10


def test_the_pilot_fixture_is_labelled_simulated_and_matches_its_study():
    from pathlib import Path

    import cubeworld
    from cubeworld.experiments.config import load_config
    from cubeworld.formats.responses import read_responses

    root = Path(cubeworld.__file__).parent / "fitting" / "pilot_data"
    df = read_responses(root / "towers-pilot-responses.csv")
    assert (df["simulated"] == 1).all() and "SIMULATED" in (root / "README.md").read_text()
    assert df["participant"].nunique() == 24 and df["stimulus_id"].nunique() == 40
    study = load_config(Path(cubeworld.__file__).parents[1] / "studies" / "people-pilot.yaml")
    spec = study.sets["towers-pilot"]
    assert spec.humans is not None and spec.humans.resolve() == (root / "towers-pilot-responses.csv").resolve()
    ids = {f"tower-s{spec.seed}-n{n}-{k:05d}" for n in spec.sizes for k in range(spec.per_size)}
    assert set(df["stimulus_id"]) == ids


def test_crossed_folds_hold_out_each_person_and_item_once_and_never_train_on_them():
    from cubeworld.fitting.crossval import crossed_folds
    from cubeworld.fitting.shares import refined_points

    folds = list(crossed_folds(23, 41, 5, seed=2))
    assert len(folds) == 5
    assert (sum(f.test_people.astype(int) for f in folds) == 1).all()
    assert (sum(f.test_items.astype(int) for f in folds) == 1).all()
    for f in folds:
        assert not (f.test_people & f.train_people).any() and not (f.test_items & f.train_items).any()
    grid = [{"position_noise": v, "size_noise": 0.0, "push_noise": 0.0} for v in (0.1, 0.2, 0.4)]
    new = refined_points(FitConfig(), grid, grid[1])
    assert sorted(p["position_noise"] for p in new) == pytest.approx([0.15, 0.3])
