"""`cubeworld human plan`: items and participants (or responses per item) for a target
interval width, with the item floor no number of people can pass."""

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
    MIN_ITEMS,
    MIN_PARTICIPANTS,
    PlanSettings,
    _needed,
    accuracy_boots,
    crossed_half_widths,
    plan,
    simulate,
    spread_matrix,
    usable_observers,
)
from cubeworld.human.plan_report import Pay, cost, format_report
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
        falls=(rng.random(sizes.size) < 0.5).astype(float),
    )


def test_intervals_are_the_analysis_intervals():
    """In one study, the planner's half-widths are those the analysis reports: crossed
    intervals of the mean accuracy at each size and of the mean kappa."""
    pilot = synthetic_pilot()
    hw = np.mean(
        [
            crossed_half_widths(pilot.correct, pilot.sizes, pilot.observers, 2000, np.random.default_rng(s))
            for s in range(3)
        ],
        0,
    )
    rows = [
        (sid, pid, pilot.correct[i, j], pilot.sizes[i], "x")
        for j, pid in enumerate(pilot.participants)
        for i, sid in enumerate(pilot.item_ids)
    ]
    table = human_accuracy_table(
        pd.DataFrame(rows, columns=["stimulus_id", "participant", "correct", "n_blocks", "set"]), n_boot=4000
    )
    table = table[table["n_blocks"] != "all"]
    accuracy = ((table["ci_high"] - table["ci_low"]) / 2).to_numpy()
    est = kappa_to_humans(pilot.observers["model-A"], pilot.correct, n_boot=4000)
    np.testing.assert_allclose(hw, np.r_[accuracy, (est.ci_high - est.ci_low) / 2], rtol=0.1)
    W = np.ones((1, pilot.n_items), np.float32) * (pilot.sizes == 3)
    assert accuracy_boots(pilot.correct, W, None)[0] == pytest.approx(table["accuracy"].iloc[1])


def test_variance_model_matches_simulated_studies_and_has_an_item_floor():
    """The plan's half-widths (from the pilot's variance components) agree with studies
    simulated from the pilot (people and items drawn, the analysis' intervals computed);
    more people shrink them only down to the item floor."""
    pilot = synthetic_pilot(n_per_size=14, n_people=50)
    settings = PlanSettings(grid=(10, 40), items=(42,), resamples=40, n_boot=400, seed=3)
    result = plan(pilot, settings)
    observers, _ = usable_observers(pilot)
    rng = np.random.default_rng(5)
    for b, size in enumerate(result.sizes):
        sim = simulate(pilot, observers, 42, size, settings, rng).mean(0)
        np.testing.assert_allclose(result.half_widths[0, b], sim, rtol=0.15)
    assert np.all(np.diff(result.half_widths[0], axis=0) < 0)
    assert np.all(result.half_widths[0, -1] > result.floors[0])
    again = plan(pilot, settings)
    np.testing.assert_array_equal(result.half_widths, again.half_widths)


def test_target_below_the_item_floor_is_said_plainly():
    pilot = synthetic_pilot()
    result = plan(pilot, PlanSettings(target=0.02, items=(30, 120)))
    key = "accuracy n_blocks=3"
    j = [q.key for q in result.quantities].index(key)
    assert result.floors[0, j] > 0.02 and result.needed[(30, key)].how == "unreachable"
    assert result.floors[1, j] == pytest.approx(result.floors[0, j] / 2)  # 1/sqrt(items)
    text = format_report(result, Pay())
    assert "not reachable by adding participants (the items alone leave" in text
    assert result.items_needed[key] > 30
    big = plan(pilot, PlanSettings(target=0.02, items=(result.items_needed[key] * 2,), grid=(10, 40, 160, 640)))
    assert big.needed[(result.items_needed[key] * 2, key)].n is not None


def test_needed_sizes():
    sizes = [10, 20, 40]
    assert _needed(sizes, np.array([0.04, 0.03, 0.02]), 0.05).how == "at most"
    n = _needed(sizes, np.array([0.08, 0.06, 0.04]), 0.05)
    assert n.how == "interpolated" and n.n == 29  # 20 * (0.06/0.05)^2 = 28.8
    n = _needed(sizes, np.array([0.2, 0.15, 0.1]), 0.05)
    assert n.how == "extrapolated" and n.n == 160
    assert _needed(sizes, np.array([np.nan] * 3), 0.05).n is None
    # with an item floor of 0.03: half-width^2 = 0.03^2 + c / n
    n = _needed(sizes, np.array([0.2, 0.15, 0.1]), 0.05, floor=0.03)
    assert n.how == "extrapolated" and n.n == int(np.ceil(40 * (0.1**2 - 0.03**2) / (0.05**2 - 0.03**2)))
    assert _needed(sizes, np.array([0.2, 0.15, 0.1]), 0.05, floor=0.06).how == "unreachable"


def test_degenerate_reference_observers_are_not_planned_for():
    pilot = synthetic_pilot()
    pilot.observers["always-yes"] = pilot.falls[None, :].copy()  # correct exactly where the truth is Yes
    result = plan(pilot, PlanSettings(grid=(10, 20)))
    assert "kappa always-yes" not in [q.key for q in result.quantities]
    assert any("always-yes gives one answer" in n for n in result.skipped)


def test_coverage_at_the_smallest_design_accepted():
    """Simulation from a population of people and items: the analysis' crossed intervals,
    whose width the planner plans for, cover the population's accuracy and mean kappa at
    least 93% of the time at the smallest design the planner accepts - whether people or
    items differ most. The paper's participant-only interval does not."""
    from cubeworld.analysis.metrics import _pair_kappas, item_weights, weighted_nanmean

    def sig(x):
        return 1 / (1 + np.exp(-x))

    P, n = MIN_PARTICIPANTS, MIN_ITEMS
    gh, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    for sd_people, sd_items in ((0.9, 0.3), (0.4, 1.2)):
        ph = sig(0.75 + sd_people * gh[:, None] + sd_items * gh[None, :])  # (people, items) quadrature
        pm = sig(0.4 + 0.8 * sd_items * gh)[None, :]
        a, b, x = ph @ w, float(pm[0] @ w), (ph * pm) @ w
        true_acc = float(a @ w)
        true_kappa = float((2 * (x - a * b) / (a * (1 - b) + b * (1 - a))) @ w)
        rng = np.random.default_rng(11)
        hits = np.zeros(3)
        runs = 300
        for _ in range(runs):
            u, v = rng.normal(0, sd_people, P), rng.normal(0, sd_items, n)
            C = (rng.random((n, P)) < sig(0.75 + u[None, :] + v[:, None])).astype(float)
            A = (rng.random(n) < sig(0.4 + 0.8 * v)).astype(float)[None, :]
            W, V = item_weights(n, 400, rng), item_weights(P, 400, rng)
            acc = weighted_nanmean((W @ C) / W.sum(1, keepdims=True), V)
            lo, hi = np.percentile(acc, [2.5, 97.5])
            hits[0] += lo <= true_acc <= hi
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                k, _, _ = _pair_kappas(W, A, C, np.ones_like(C), bounds=False)
                lo, hi = np.nanpercentile(weighted_nanmean(k[:, 0, :], V), [2.5, 97.5])
            hits[1] += lo <= true_kappa <= hi
            lo, hi = np.percentile(C.mean(0)[rng.integers(0, P, (400, P))].mean(1), [2.5, 97.5])
            hits[2] += lo <= true_acc <= hi  # the paper's interval: participants only
        coverage = hits / runs
        assert coverage[0] >= 0.93 and coverage[1] >= 0.93, (sd_people, sd_items, coverage)
        if sd_items > sd_people:
            assert coverage[2] < 0.85  # items that differ make the paper's interval far too narrow


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
    result = plan(pilot, PlanSettings(design="spread", items_per_participant=10, items=(30,), grid=(4, 16)))
    assert [result.participants_for(r, 30) for r in result.sizes] == [12, 48]
    assert np.all(result.half_widths[0, 1] < result.half_widths[0, 0])
    with pytest.raises(PlanError, match="at least 10 are needed"):
        plan(pilot, PlanSettings(design="spread", items_per_participant=10, items=(30,), grid=(1, 4)))


def test_cost_as_prolific_pays():
    result = plan(synthetic_pilot(), PlanSettings(grid=(10, 20), items=(30,)))
    pay = Pay(base=2.0, bonus_per_correct=0.01, fee_percent=33.33)
    c = cost(result, 20, pay, 30)
    assert c.participants == 20 and c.rewards == 40.0
    assert c.bonuses == pytest.approx(20 * 30 * result.mean_accuracy * 0.01)
    assert c.fee == pytest.approx((c.rewards + c.bonuses) * 0.3333)
    assert cost(result, 20, Pay(base=2.0, fee_percent=0), 30).fee == 0
    assert cost(result, 20, pay, 60).bonuses == pytest.approx(2 * c.bonuses)  # more items, more answers


def test_cli_default_pilot_is_lerer100(tmp_path, monkeypatch):
    monkeypatch.delenv("CUBEWORLD_LERER100", raising=False)  # the copy shipped with cubeworld
    out = tmp_path / "plan"
    r = runner.invoke(
        human_app,
        ["plan", "--sizes", "10,20,80", "--base", "1.5", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "pilot lerer100 (100 items, 107 participants, 3 model(s))" in r.output
    for words in (
        "acc n=2",
        "acc n=4",
        "kappa GPT-4V",
        "kappa CLAUDE-3",
        "cost (USD)",
        "item floor",
        "100 items: not reachable by adding participants (the items alone leave",
        "all targets with 400 items:",
        "note: ADAPTER gives one answer to (nearly) every pilot item",
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
        "kappa CLAUDE-3",
    }
    # with the pilot's 100 photos the item sampling alone leaves about +-0.09 (2 blocks)
    # and +-0.095 (GPT-4V): +-0.05 is out of reach however many people take part
    floor = doc["needed"]["accuracy n_blocks=2"]["100"]
    assert floor["how"] == "unreachable" and floor["item_floor"] == pytest.approx(0.09, abs=0.006)
    assert doc["needed"]["kappa GPT-4V"]["100"]["item_floor"] == pytest.approx(0.095, abs=0.008)
    assert doc["pilot"]["mean_accuracy"] == pytest.approx(0.656, abs=0.001)
    table = pd.read_csv(out / "plan.csv")
    assert len(table) == 3 * 3 * 6 and set(table["size"]) == {10, 20, 80} and set(table["items"]) == {100, 200, 400}
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
            "10,20,40",
            "--items",
            "24,48",
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
        (["--sizes", "5,10"], "at least 10 participants"),
        (["--items", "5"], "--items: at least 20 items"),
        (["--items", "20,x"], "--items must be comma-separated integers"),
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
        result = plan(pilot, PlanSettings(grid=(10, 20), items=(30,)))
        plan(pilot, PlanSettings(grid=(10,), items=(30,), assurance=0.8, resamples=10, n_boot=100))
    assert result.n_degenerate >= 1
