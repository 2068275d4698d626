"""`cubeworld human plan`: participants or responses per item for a target interval width."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from human_helpers import make_set
from typer.testing import CliRunner

from cubeworld.analysis.metrics import kappa_to_humans
from cubeworld.analysis.tables import human_accuracy_table
from cubeworld.human.cli import human_app
from cubeworld.human.pilot import Pilot, PlanError, responses_pilot
from cubeworld.human.plan import (
    PlanSettings,
    _needed,
    half_widths,
    participant_values,
    plan,
    spread_matrix,
)
from cubeworld.human.plan_report import Pay, cost
from cubeworld.human.store import Store
from cubeworld.human.study import create_human_study, load_human_study

runner = CliRunner()


def synthetic_pilot(n_per_size: int = 10, n_people: int = 40, seed: int = 1) -> Pilot:
    """Participants of differing skill on items of three sizes, and one model."""
    rng = np.random.default_rng(seed)
    sizes = np.repeat([2, 3, 4], n_per_size)
    ease = rng.normal(0.8, 0.8, sizes.size)  # some items are hard for everyone
    skill = rng.normal(0.0, 0.5, n_people)
    p = 1 / (1 + np.exp(-(ease[:, None] + skill[None, :])))
    correct = (rng.random(p.shape) < p).astype(float)
    model = (rng.random(sizes.size) < 1 / (1 + np.exp(-ease))).astype(float)[None, :]
    return Pilot(
        "synthetic",
        [f"s{i}" for i in range(sizes.size)],
        sizes,
        correct,
        [f"p{j}" for j in range(n_people)],
        observers={"model-A": model},
    )


def test_intervals_are_the_analysis_intervals():
    """On the whole pilot, the planner's half-widths are those the analysis reports."""
    pilot = synthetic_pilot()
    values, _ = participant_values(pilot.correct, pilot.sizes, pilot.observers)
    hw = np.mean([half_widths(values, 2000, np.random.default_rng(s)) for s in range(4)], 0)
    rows = [
        (sid, pid, pilot.correct[i, j], pilot.sizes[i], "x")
        for j, pid in enumerate(pilot.participants)
        for i, sid in enumerate(pilot.item_ids)
    ]
    table = human_accuracy_table(
        pd.DataFrame(rows, columns=["stimulus_id", "participant", "correct", "n_blocks", "set"])
    )
    table = table[table["n_blocks"] != "all"]
    accuracy = ((table["ci_high"] - table["ci_low"]) / 2).to_numpy()
    est = kappa_to_humans(pilot.observers["model-A"], pilot.correct)
    expected = np.r_[accuracy, (est.ci_high - est.ci_low) / 2]
    np.testing.assert_allclose(hw, expected, rtol=0.08)
    # ... and the per-participant values are the analysis' own numbers.
    np.testing.assert_allclose(values[:, -1], est.per_observer)
    np.testing.assert_allclose(np.nanmean(values[:, :3], 0), table["accuracy"], rtol=1e-12)


def test_half_width_shrinks_like_one_over_sqrt_n_and_plan_is_reproducible():
    pilot = synthetic_pilot()
    settings = PlanSettings(grid=(10, 40, 160), resamples=30, n_boot=300, seed=3)
    result = plan(pilot, settings)
    ratio = result.half_widths[2] / result.half_widths[0]  # 16x the people: a quarter
    assert np.all((ratio > 0.18) & (ratio < 0.32)), ratio
    assert np.all(np.diff(result.half_widths, axis=0) < 0)
    again = plan(pilot, settings)
    np.testing.assert_array_equal(result.half_widths, again.half_widths)
    # The needed size meets the target in a fresh simulation at that size.
    need = result.needed["accuracy n_blocks=3"]
    assert need.how == "interpolated"
    check = plan(pilot, PlanSettings(grid=(need.n,), resamples=60, n_boot=300, seed=9))
    assert check.half_widths[0, 1] == pytest.approx(settings.target, rel=0.15)


def test_needed_sizes():
    sizes = [10, 20, 40]
    assert _needed(sizes, np.array([0.04, 0.03, 0.02]), 0.05).how == "at most"
    n = _needed(sizes, np.array([0.08, 0.06, 0.04]), 0.05)
    assert n.how == "interpolated" and n.n == 29  # 20 * (0.06/0.05)^2 = 28.8
    n = _needed(sizes, np.array([0.2, 0.15, 0.1]), 0.05)
    assert n.how == "extrapolated" and n.n == 160
    assert _needed(sizes, np.array([np.nan] * 3), 0.05).n is None


def test_spread_design_answers_every_item_r_times():
    pilot = synthetic_pilot()
    rng = np.random.default_rng(0)
    m = spread_matrix(pilot.correct, 3, 7, rng)
    assert m.shape == (30, 3 * 5)  # ceil(30 / 7) = 5 participants per round
    assert np.all(np.isfinite(m).sum(1) == 3)
    assert np.all(np.isfinite(m).sum(0) <= 7)
    # A sparse pilot: missing answers are drawn from the item's respondents.
    sparse = pilot.correct.copy()
    sparse[:, ::2][np.random.default_rng(1).random(sparse[:, ::2].shape) < 0.5] = np.nan
    m = spread_matrix(sparse, 2, 10, rng)
    assert np.all(np.isfinite(m).sum(1) == 2)
    result = plan(pilot, PlanSettings(design="spread", items_per_participant=10, grid=(1, 4), resamples=15, n_boot=200))
    assert result.participants == [3, 12]
    assert np.all(result.half_widths[1] < result.half_widths[0])


def test_cost_as_prolific_pays():
    result = plan(synthetic_pilot(), PlanSettings(grid=(10, 20), resamples=10, n_boot=100))
    pay = Pay(base=2.0, bonus_per_correct=0.01, fee_percent=33.33)
    c = cost(result, 20, pay)
    assert c.participants == 20 and c.rewards == 40.0
    assert c.bonuses == pytest.approx(20 * 30 * result.mean_accuracy * 0.01)
    assert c.fee == pytest.approx((c.rewards + c.bonuses) * 0.3333)
    assert cost(result, 20, Pay(base=2.0, fee_percent=0)).fee == 0


def test_cli_default_pilot_is_lerer100(tmp_path, monkeypatch):
    monkeypatch.delenv("CUBEWORLD_LERER100", raising=False)  # the copy shipped with cubeworld
    out = tmp_path / "plan"
    r = runner.invoke(
        human_app,
        ["plan", "--sizes", "5,20,80", "--resamples", "10", "--boot", "200", "--base", "1.5", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "pilot lerer100 (100 items, 107 participants, 5 model(s))" in r.output
    for words in (
        "acc n=2",
        "acc n=4",
        "kappa GPT-4V",
        "kappa CLAUDE-3",
        "cost (USD)",
        "all targets:",
        "Prolific service fee of 33.33%",
    ):
        assert words in r.output, words
    doc = json.loads((out / "plan.json").read_text())
    assert set(doc["needed"]) == {
        "accuracy n_blocks=2",
        "accuracy n_blocks=3",
        "accuracy n_blocks=4",
        "kappa GPT-4V",
        "kappa FUYU",
        "kappa ADAPTER",
        "kappa OTTER",
        "kappa CLAUDE-3",
    }
    assert doc["pilot"]["mean_accuracy"] == pytest.approx(0.656, abs=0.001)
    table = pd.read_csv(out / "plan.csv")
    assert len(table) == 3 * 8 and set(table["size"]) == {5, 20, 80}
    assert (out / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _export_with_people(tmp_path: Path) -> Path:
    """A real study export: 8 participants (one straight-lining, excluded), attention checks."""
    study = create_human_study(
        make_set(tmp_path / "set", 12), tmp_path / "study", "same", exclusions={"same_answer_run": 12}
    )
    store = Store(load_human_study(study))
    rng = np.random.default_rng(0)
    for j in range(8):
        s = store.start_session(f"pp{j}", session_id=f"s{j}")
        store.consent(s.token, True)
        for t in s.remaining:
            right = rng.random() < 0.55 + 0.05 * j
            response = 1 if j == 7 else (t.correct_response if right else 1 - t.correct_response)
            store.record(s.token, f"r-{j}-{t.trial_index:05d}", t.stimulus_id, t.trial_index, response, rt_ms=600.0)
        store.complete(s.token)
    store.close()
    r = runner.invoke(human_app, ["export", str(study), "--out", str(tmp_path / "e" / "r.csv")])
    assert r.exit_code == 0, r.output
    return tmp_path / "e" / "r.csv"


def _predictions(tmp_path: Path, responses: Path) -> Path:
    df = pd.read_csv(responses).drop_duplicates("stimulus_id")
    falls = df["answer"] == "Yes"
    says_yes = np.arange(len(df)) % 3 != 0
    pd.DataFrame(
        {
            "stimulus_id": df["stimulus_id"],
            "set": "tiny-tower",
            "domain": "tower",
            "n_blocks": df["n_blocks"],
            "falls": falls,
            "model": "tiny-vlm",
            "adapter": "",
            "condition": "",
            "seed": 0,
            "epoch": 0,
            "p_yes": says_yes.astype(float),
            "answer": np.where(says_yes, "Yes", "No"),
            "correct": says_yes == falls,
        }
    ).to_csv(tmp_path / "pred.csv", index=False)
    return tmp_path / "pred.csv"


def test_cli_plans_from_an_export_and_predictions(tmp_path):
    responses = _export_with_people(tmp_path)
    pilot = responses_pilot(responses)
    assert pilot.n_participants == 7  # the excluded one is left out
    assert responses_pilot(responses, include_excluded=True).n_participants == 8
    preds = _predictions(tmp_path, responses)
    out = tmp_path / "plan"
    r = runner.invoke(
        human_app,
        [
            "plan",
            "--pilot",
            str(responses),
            "--predictions",
            str(preds),
            "--sizes",
            "4,8,16",
            "--resamples",
            "10",
            "--boot",
            "100",
            "--fee-percent",
            "0",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "7 participants" in r.output and "kappa zero-shot" in r.output
    assert "1 participant(s) flagged excluded in the pilot are left out (same_answer_run 1" in r.output
    assert "no service fee included" in r.output
    doc = json.loads((out / "plan.json").read_text())
    assert "kappa zero-shot" in doc["needed"] and doc["pay"]["fee_percent"] == 0
    r = runner.invoke(
        human_app,
        [
            "plan",
            "--pilot",
            str(responses),
            "--predictions",
            str(preds),
            "--model",
            "no-such-model",
            "--out",
            str(tmp_path / "p2"),
        ],
    )
    assert r.exit_code == 2 and "--model 'no-such-model'" in r.output
    assert not (tmp_path / "p2").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (["--target", "0"], "--target must be a half-width > 0"),
        (["--target", "-0.1"], "--target must be a half-width > 0"),
        (["--target", "nan"], "--target must be a half-width > 0"),
        (["--design", "both"], "--design must be one of"),
        (["--sizes", "10,x"], "--sizes must be comma-separated integers"),
        (["--sizes", "1,10"], "at least 2"),
        (["--items-per-participant", "5"], "spread design only"),
        (["--fee-percent", "-1"], "--fee-percent must be a number >= 0"),
        (["--assurance", "1.5"], "--assurance must lie between 0 and 1"),
        (["--set", "x"], "--set and --predictions describe a --pilot table"),
    ],
)
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, args, words):
    out = tmp_path / "plan"
    r = runner.invoke(human_app, ["plan", *args, "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], r.output
    assert not out.exists()


def test_pilot_without_truth_needs_a_set(tmp_path):
    table = tmp_path / "r.csv"
    pd.DataFrame({"stimulus_id": ["a", "b"], "participant": ["p", "q"], "response": [1, 0]}).to_csv(table, index=False)
    with pytest.raises(PlanError, match="pass --set"):
        responses_pilot(table)
    r = runner.invoke(human_app, ["plan", "--pilot", str(table), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "pass --set" in r.output
    assert not (tmp_path / "o").exists()


def test_kappa_warnings_stay_inside_the_planner():
    pilot = synthetic_pilot()
    pilot.correct[:, 0] = 1.0  # a participant right on every item: a degenerate kappa
    pilot.observers["perfect"] = np.ones((1, pilot.n_items))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = plan(pilot, PlanSettings(grid=(5, 10), resamples=10, n_boot=100))
    assert result.n_degenerate >= 1
