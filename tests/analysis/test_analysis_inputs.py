"""Seeds, epochs and bad input on small made-up sets."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cubeworld.analysis import (
    AnalysisInputError,
    accuracy_table,
    analyze,
    load_inputs,
    select_epoch,
    wilson_interval,
)


def _csv(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)


def _humans(set_dir, n_participants=4, seed=0) -> pd.DataFrame:
    import numpy as np

    from cubeworld.formats.sets import load_set

    rng = np.random.default_rng(seed)
    rows = load_set(set_dir, check_images=False).rows
    return pd.DataFrame(
        [
            {
                "stimulus_id": r.stimulus_id,
                "participant": f"p{j}",
                "response": int(r.falls if rng.random() < 0.7 else not r.falls),
            }
            for r in rows
            for j in range(n_participants)
        ]
    )


def test_seeds_mean_and_intervals(tiny, tmp_path):
    s = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(s, condition="ft", seeds=(0, 1, 2), rng_seed=1)
    acc = accuracy_table(pred).set_index(["set", "n_blocks"])
    for nb in ("2", "3", "all"):
        cell = pred if nb == "all" else pred[pred["n_blocks"] == int(nb)]
        per_seed = cell.groupby("seed")["correct"].agg(["sum", "count"])
        row = acc.loc[("seta", nb)]
        assert row["accuracy"] == pytest.approx((per_seed["sum"] / per_seed["count"]).mean())
        lo, hi = wilson_interval(per_seed["sum"].to_numpy(), per_seed["count"].to_numpy())
        assert row["ci_low"] == pytest.approx(lo.mean())
        assert row["ci_high"] == pytest.approx(hi.mean())
        assert row["n_seeds"] == 3 and row["n"] == per_seed["count"].sum()


def test_epochs_last_and_learning_curve(tiny, tmp_path):
    s = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(s, condition="ft", seeds=(0, 1), epochs=(0, 1, 2), rng_seed=2)
    zero = tiny.make_predictions(s, condition="zero-shot", rng_seed=3)
    assert set(select_epoch(pd.concat([pred, zero]))["epoch"]) == {0, 2}
    p = _csv(pd.concat([pred, zero]), tmp_path / "p.csv")
    report = analyze(
        [p], tmp_path / "out", truth=[s], humans=_csv(_humans(s), tmp_path / "h.csv"), n_boot=200, progress=False
    )
    html = report.read_text()
    assert (tmp_path / "out" / "fig_accuracy_over_epochs.png").is_file()
    figures = re.findall(r"<figure id='(\w+)'><h3>[^<]*</h3><img src='data:image/png;base64", html)
    assert figures == [
        "fig_accuracy_by_blocks",
        "fig_accuracy_heatmap",
        "fig_kappa",
        "fig_kappa_differences",
        "fig_alignment",
        "fig_reliability",
        "fig_accuracy_over_epochs",
    ]
    ep = pd.read_csv(tmp_path / "out" / "accuracy_by_epoch.csv", dtype={"n_blocks": str})
    assert set(ep.loc[ep["observer"] == "ft", "epoch"]) == {0, 1, 2}
    kappa = pd.read_csv(tmp_path / "out" / "kappa.csv").set_index("observer")
    assert kappa.loc["ft", "n_seeds"] == 2 and "humans" in kappa.index


def test_truth_from_tables_and_several_sets(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    b = tiny.make_set(tmp_path / "b", "setb", sizes=(4,))
    pa = tiny.make_predictions(a, condition="ft")
    pb = tiny.make_predictions(b, condition="ft", rng_seed=5)
    humans = pd.concat([_humans(a), _humans(b, seed=1)])  # one table, stimuli of two sets
    data = load_inputs([_csv(pa, tmp_path / "a.csv"), _csv(pb, tmp_path / "b.csv")], humans=humans)
    assert set(data.truth["set"]) == {"seta", "setb"}
    assert set(data.humans["set"]) == {"seta", "setb"}


def test_ids_missing_from_truth(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(a, condition="ft")
    pred.loc[0, "stimulus_id"] = "not-there"
    path = _csv(pred, tmp_path / "p.csv")
    with pytest.raises(AnalysisInputError, match=r"p\.csv.*ground truth lacks.*not-there"):
        load_inputs([path], [a])


def test_labels_contradicting_truth(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(a, condition="ft")
    pred["falls"] = ~pred["falls"]
    pred["correct"] = ~pred["correct"]
    with pytest.raises(AnalysisInputError, match="truth says"):
        load_inputs([_csv(pred, tmp_path / "p.csv")], [a])


def test_duplicate_rows(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(a, condition="ft")
    path = _csv(pd.concat([pred, pred.iloc[:1]]), tmp_path / "dup.csv")
    with pytest.raises(AnalysisInputError, match=r"dup\.csv.*duplicate"):
        load_inputs([path])
    p1 = _csv(pred, tmp_path / "one.csv")
    p2 = _csv(pred.iloc[:3], tmp_path / "two.csv")
    with pytest.raises(AnalysisInputError, match=r"one\.csv, .*two\.csv.*duplicate"):
        load_inputs([p1, p2])


def test_bad_responses(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "p.csv")
    h = _humans(a).astype({"response": object})
    h.loc[3, "response"] = "maybe"
    path = _csv(h, tmp_path / "bad_h.csv")
    with pytest.raises(AnalysisInputError, match=r"bad_h\.csv.*Yes/No/1/0.*'maybe'"):
        load_inputs([pred], humans=path)
    ok = _humans(a).assign(response=lambda d: d["response"].map({1: "Yes", 0: "No"}))
    assert load_inputs([pred], humans=_csv(ok, tmp_path / "ok.csv")).humans is not None


def test_one_participant(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "p.csv")
    path = _csv(_humans(a, n_participants=1), tmp_path / "one_h.csv")
    with pytest.raises(AnalysisInputError, match=r"one_h\.csv.*only 1 participant"):
        load_inputs([pred], humans=path)


def test_empty_tables(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    pred = tiny.make_predictions(a, condition="ft")
    empty_p = tmp_path / "empty_p.csv"
    pred.iloc[:0].to_csv(empty_p, index=False)
    with pytest.raises(AnalysisInputError, match=r"empty_p\.csv.*empty"):
        load_inputs([empty_p])
    (tmp_path / "blank.csv").write_text("")
    with pytest.raises(AnalysisInputError, match=r"blank\.csv.*empty"):
        load_inputs([tmp_path / "blank.csv"])
    empty_h = tmp_path / "empty_h.csv"
    empty_h.write_text("stimulus_id,participant,response\n")
    with pytest.raises(AnalysisInputError, match=r"empty_h\.csv.*empty"):
        load_inputs([_csv(pred, tmp_path / "p.csv")], humans=empty_h)


def test_humans_for_other_sets_only(tiny, tmp_path):
    a = tiny.make_set(tmp_path / "a", "seta")
    b = tiny.make_set(tmp_path / "b", "setb")
    pred = _csv(tiny.make_predictions(a, condition="ft"), tmp_path / "p.csv")
    with pytest.raises(AnalysisInputError, match="none of its stimulus ids"):
        load_inputs([pred], humans=_csv(_humans(b), tmp_path / "hb.csv"))
