"""Probe fitting on synthetic activation caches: a planted signal is found where it was put
and nowhere else; values unrelated to the activations give chance; the numbers equal a
direct scikit-learn computation on the same folds; one stimulus never sits on both sides
of a split; a killed fit resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from probes_helpers import load, planted, write_cache, write_set

from cubeworld.probes import ProbeConfig, ProbeError, fit_probes

# Small and fast: fixed regularisation unless a test is about the nested choice.
FAST = dict(folds=4, c=1.0, alpha=10.0, shuffles=2, n_boot=400)


def test_a_planted_signal_is_found_where_it_was_put(synthetic):
    """The label lives in decoder.0@answer, the margin in decoder.1@image; every other array
    is noise. The margin's sign is the label, so each signal also decodes the other target,
    less well. Shuffled chance levels, Holm."""
    cache, sets = synthetic
    res = fit_probes(cache, sets, ProbeConfig(**FAST), progress=False)
    decodable = {(r.point, r.pool) for r in res.rows if r.decodable}
    assert decodable == {("decoder.0", "answer"), ("decoder.1", "image")}
    assert {r.target for r in res.rows if r.decodable} == {"falls", "margin"}
    assert res.row("margin", "decoder.1", "image").score > res.row("margin", "decoder.0", "answer").score + 0.2
    label = res.row("falls", "decoder.0", "answer")
    assert label.score > 0.8 and label.score_low > label.reference and label.p_holm < 0.05
    assert label.reference_kind == "shuffled" and 0.3 < label.reference < 0.7
    margin = res.row("margin", "decoder.1", "image", domain="tower")
    assert margin.metric == "r2" and margin.score > 0.6 and margin.score_low > 0.4
    assert margin.regularisation.startswith("alpha=") and len(margin.regularisation.split(";")) == 4
    noise = res.row("falls", "vision.0", "image")
    assert noise.score_low <= 0.5 <= noise.score_high and not noise.probe_degenerate
    assert res.best("falls").point in ("decoder.0", "decoder.1")
    assert res.row("margin", "vision.0", "image").score < 0.2
    # No predictions given: the behaviour columns are empty, never invented.
    assert np.isnan(label.behaviour_accuracy) and np.isnan(label.gap) and not label.behaviour_degenerate


def test_values_unrelated_to_the_activations_give_chance(tmp_path):
    """Activations carry a label, but the set's labels are another permutation: every probe
    is at chance (its interval holds 0.5 and its chance level), none is decodable; the
    shuffles keep each fold's class balance and each stimulus's value."""
    from cubeworld.probes.fitting import shuffled_values
    from cubeworld.probes.tasks import build_tasks

    s = load(write_set(tmp_path / "t", 80, seed=3, name="t"))
    arrays = planted([s], seed=5)
    perm = np.random.default_rng(9).permutation(80)
    cache = write_cache(tmp_path / "c", [s], {k: v[perm] for k, v in arrays.items()})
    res = fit_probes(cache, [s], ProbeConfig(targets=("falls",), **{**FAST, "shuffles": 4}), progress=False)
    for r in res.rows:
        assert r.score_low <= 0.5 <= r.score_high, r
        assert r.score_low <= r.reference <= r.score_high, r
        assert not r.decodable and r.p_holm > 0.05
    task = res.tasks[0]
    for k in range(4):
        y_s = shuffled_values(task, k, seed=0)
        for fold in range(4):
            assert sorted(y_s[task.folds == fold]) == sorted(task.y[task.folds == fold])
    assert not np.array_equal(shuffled_values(task, 0, 0), task.y)
    assert np.array_equal(shuffled_values(task, 1, 0), shuffled_values(task, 1, 0))
    # Same ids twice (two sets sharing stimuli): a shuffle gives both rows one value.
    dup = load(write_set(tmp_path / "d", 20, seed=3, name="d", ids=[r.stimulus_id for r in s.rows[:20]]))
    tasks, _ = build_tasks(
        [(x.name, r.stimulus_id) for x in (s, dup) for r in x.rows],
        [r for x in (s, dup) for r in x.rows],
        ProbeConfig(targets=("falls",), folds=4, c=1.0),
    )
    t = tasks[0]
    y_s = shuffled_values(t, 0, 0)
    assert np.array_equal(y_s[:20], y_s[80:100])


def test_results_equal_a_direct_scikit_learn_computation(synthetic):
    """Fixed and nested regularisation alike: the out-of-fold predictions, accuracy and
    R^2 equal scikit-learn's own cross-validation on the same folds; the bootstrap's
    weighted statistics equal the statistics of explicitly resampled items."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, cohen_kappa_score, r2_score
    from sklearn.model_selection import (
        GridSearchCV,
        PredefinedSplit,
        StratifiedGroupKFold,
        cross_val_predict,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cubeworld.probes import bootstrap

    cache, sets = synthetic
    res = fit_probes(cache, sets, ProbeConfig(points=("decoder.0",), **{**FAST, "shuffles": 0}), progress=False)
    falls, margin = res.tasks
    X = np.load(cache / "decoder.0@answer.npy").astype(np.float32)
    pred = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)),
        X[falls.rows],
        falls.y.astype(int),
        cv=PredefinedSplit(falls.folds),
    )
    assert np.array_equal(pred, res.predictions["falls"]["decoder.0@answer"])
    assert res.row("falls", "decoder.0", "answer").score == pytest.approx(accuracy_score(falls.y, pred))
    pred = cross_val_predict(
        make_pipeline(StandardScaler(), Ridge(alpha=10.0)), X[margin.rows], margin.y, cv=PredefinedSplit(margin.folds)
    )
    assert np.allclose(pred, res.predictions["margin/tower"]["decoder.0@answer"], rtol=1e-6, atol=1e-6)
    assert res.row("margin", "decoder.0", "answer").score == pytest.approx(r2_score(margin.y, pred))

    nested = ProbeConfig(
        points=("decoder.0",),
        pools=("answer",),
        targets=("falls",),
        inner_folds=2,
        c_grid=(0.01, 1.0),
        **{**FAST, "c": None, "shuffles": 0},
    )
    got = fit_probes(cache, sets, nested, progress=False)
    expected = np.zeros(len(falls.y))
    for k in range(4):
        train, test = falls.folds != k, falls.folds == k
        search = GridSearchCV(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
            {"logisticregression__C": list(nested.c_grid)},
            cv=StratifiedGroupKFold(2, shuffle=True, random_state=0),
            scoring="neg_log_loss",
        )
        search.fit(X[falls.rows][train], falls.y[train].astype(int), groups=falls.groups[train])
        expected[test] = search.predict(X[falls.rows][test])
    assert np.array_equal(expected, got.predictions["falls"]["decoder.0@answer"])
    assert got.row("falls", "decoder.0", "answer").regularisation.startswith("C=")

    # Weighted bootstrap statistics = the statistics of explicitly resampled rows.
    rng = np.random.default_rng(0)
    y = falls.y
    p = res.predictions["falls"]["decoder.0@answer"]
    answers = (rng.random(len(y)) < 0.7).astype(float)
    for W in bootstrap.resample_weights(falls.groups, 3, seed=1, salt=2):
        for w in W:
            idx = np.repeat(np.arange(len(y)), w.astype(int))
            assert bootstrap.accuracy(w[None], p == y)[0] == pytest.approx(accuracy_score(y[idx], p[idx]))
            assert bootstrap.kappa(w[None], answers, y)[0] == pytest.approx(cohen_kappa_score(answers[idx], y[idx]))
            m = res.predictions["margin/tower"]["decoder.0@answer"]
            assert bootstrap.r2(w[None], margin.y, m)[0] == pytest.approx(r2_score(margin.y[idx], m[idx]))


def test_one_stimulus_never_sits_on_both_sides_of_a_split(tmp_path):
    """Two sets sharing stimulus ids (a subset keeps its parent's ids): each id is one
    group, wholly in one test fold, and the label's folds keep its balance; margins are
    probed per domain; a stimulus with two labels is refused."""
    parent = load(write_set(tmp_path / "parent", 40, seed=4, name="parent"))
    subset_ids = [r.stimulus_id for r in parent.rows[:16]]
    subset = load(write_set(tmp_path / "subset", 16, seed=4, name="subset", ids=subset_ids))
    pyramids = load(write_set(tmp_path / "pyr", 24, seed=6, name="pyr", domain="pyramid"))
    sets = [parent, subset, pyramids]
    cache = write_cache(tmp_path / "cache", sets, planted(sets))
    res = fit_probes(cache, sets, ProbeConfig(points=("decoder.1",), pools=("image",), **FAST), progress=False)
    assert [t.key for t in res.tasks] == ["falls", "margin/pyramid", "margin/tower"]
    for task in res.tasks:
        for g in range(task.n_groups):
            assert len(set(task.folds[task.groups == g])) == 1, (task.key, g)
        for k in range(4):
            test_ids = {task.stimulus_ids[i] for i in np.flatnonzero(task.folds == k)}
            train_ids = {task.stimulus_ids[i] for i in np.flatnonzero(task.folds != k)}
            assert not test_ids & train_ids
    falls = res.tasks[0]
    assert len(falls.rows) == 80 and falls.n_groups == 64
    for k in range(4):
        share = falls.y[falls.folds == k].mean()
        assert 0.3 <= share <= 0.7
    assert res.row("margin", "decoder.1", "image", domain="pyramid").items == 24

    flipped = write_set(tmp_path / "flipped", 16, seed=4, name="subset", ids=subset_ids)
    rows = [json.loads(line) for line in (flipped / "metadata.jsonl").read_text().splitlines()]
    rows[0] |= {"falls": not rows[0]["falls"], "answer": "No" if rows[0]["falls"] else "Yes"}
    (flipped / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    bad_sets = [parent, load(flipped)]
    bad = write_cache(tmp_path / "bad", bad_sets, planted(bad_sets))
    with pytest.raises(ProbeError, match=f"stimulus '{subset_ids[0]}' has a different falls in two sets"):
        fit_probes(bad, bad_sets, ProbeConfig(**FAST), progress=False)


def test_the_observers_answers_beside_the_probes(synthetic, tmp_path):
    """Behaviour from a prediction table: accuracy, kappa (= scikit-learn's) and the paired
    gap; a constant observer is flagged; tables that are ambiguous, incomplete or disagree
    with the set are refused, naming why."""
    import pandas as pd
    from sklearn.metrics import cohen_kappa_score

    cache, sets = synthetic
    s = sets[0]
    rng = np.random.default_rng(2)
    falls = np.array([r.falls for r in s.rows])
    answers = np.where(rng.random(len(falls)) < 0.75, falls, ~falls)

    def table(ans, model="m", **extra):
        return pd.DataFrame(
            {
                "stimulus_id": [r.stimulus_id for r in s.rows],
                "set": s.name,
                "domain": "tower",
                "n_blocks": 2,
                "falls": falls,
                "model": model,
                "adapter": "",
                "condition": "",
                "seed": "",
                "epoch": 0,
                "p_yes": ans.astype(float),
                "answer": np.where(ans, "Yes", "No"),
                "correct": ans == falls,
                **extra,
            }
        )

    config = ProbeConfig(points=("decoder.0",), **FAST)
    res = fit_probes(cache, sets, config, predictions=table(answers), progress=False)
    row = res.row("falls", "decoder.0", "answer")
    assert row.behaviour_accuracy == pytest.approx(np.mean(answers == falls))
    assert row.behaviour_kappa == pytest.approx(cohen_kappa_score(falls, answers))
    assert row.behaviour_low < row.behaviour_accuracy < row.behaviour_high
    assert row.kappa_low < row.behaviour_kappa < row.kappa_high
    assert row.gap == pytest.approx(row.score - row.behaviour_accuracy)
    assert row.gap_low < row.gap < row.gap_high and not row.behaviour_degenerate
    assert np.isnan(res.row("margin", "decoder.0", "answer").gap)  # not an accuracy: no gap
    assert res.observer["model"] == "m"

    always = fit_probes(cache, sets, config, predictions=table(np.ones_like(falls)), progress=False)
    flat = always.row("falls", "decoder.0", "answer")
    assert flat.behaviour_degenerate and flat.behaviour_kappa == 0.0 and flat.behaviour_accuracy == 0.5

    two = pd.concat([table(answers), table(answers, model="other")])
    with pytest.raises(ProbeError, match="holds 2 observers for the probed items"):
        fit_probes(cache, sets, config, predictions=two, progress=False)
    with pytest.raises(ProbeError, match="has no answer for 1 of the 80 probed items"):
        fit_probes(cache, sets, config, predictions=table(answers).iloc[1:], progress=False)
    wrong = table(answers)
    wrong.loc[3, "falls"] = not wrong.loc[3, "falls"]
    with pytest.raises(ProbeError, match=f"stimulus '{s.rows[3].stimulus_id}'.*has falls="):
        fit_probes(cache, sets, config, predictions=wrong, progress=False)


def test_bad_requests_are_one_line_errors_before_any_fit(synthetic, tmp_path):
    from cubeworld.errors import ConfigError
    from cubeworld.typed import from_plain

    cache, sets = synthetic
    with pytest.raises(ProbeError, match=r"points: 'decoder.7' is not cached; the cache holds vision.0, decoder.0"):
        fit_probes(cache, sets, ProbeConfig(points=("decoder.7",)), progress=False)
    with pytest.raises(ProbeError, match="pools: 'cls' is not cached; the cache holds image, answer"):
        fit_probes(cache, sets, ProbeConfig(pools=("cls",)), progress=False)
    with pytest.raises(ProbeError, match="unknown probe target 'mass'"):
        ProbeConfig(targets=("mass",))
    with pytest.raises(ProbeError, match="c_grid: every value must be a positive"):
        ProbeConfig(c_grid=(0.1, -1.0))
    with pytest.raises(ProbeError, match="folds: must be at most 20"):
        from_plain(ProbeConfig, {"folds": 50}, "", ProbeError)
    with pytest.raises(ConfigError, match="fold: unknown setting"):
        from_plain(ProbeConfig, {"fold": 5}, "")
    other = load(write_set(tmp_path / "other", 10, seed=8, name="other"))
    with pytest.raises(ProbeError, match="set 'other' .* is not in the activations cache"):
        fit_probes(cache, [other], ProbeConfig(), progress=False)
    changed = load(write_set(tmp_path / "towers", 80, seed=2, name="towers"))
    with pytest.raises(ProbeError, match="is not the one the activations .* were extracted from"):
        fit_probes(cache, [changed], ProbeConfig(), progress=False)
    few = load(write_set(tmp_path / "few", 6, seed=1, name="few", margins=False))
    few_cache = write_cache(tmp_path / "few-cache", [few], {"decoder.0@answer": np.zeros((6, 4))})
    with pytest.raises(
        ProbeError,
        match=r"no probe can be fitted: falls: skipped: 3 stimuli with falls=False .*"
        r"margin: skipped: no item of the sets records it",
    ):
        fit_probes(few_cache, [few], ProbeConfig(), progress=False)
    nan = planted(sets)
    nan["decoder.0@answer"][5, 2] = np.nan
    nan_cache = write_cache(tmp_path / "nan", sets, nan)
    with pytest.raises(ProbeError, match=r"activations decoder.0@answer are not finite for 1 item"):
        fit_probes(nan_cache, sets, ProbeConfig(**FAST), progress=False)


def test_a_killed_fit_resumes_with_the_arrays_not_yet_logged(synthetic, tmp_path, monkeypatch):
    from cubeworld.probes import fit as fit_module

    cache, sets = synthetic
    config = ProbeConfig(targets=("falls",), folds=3, c=1.0, shuffles=0, n_boot=200)
    straight = fit_probes(cache, sets, config, progress=False)
    real = fit_module.fit_array
    calls: list[str] = []

    kill = {"at": 3}

    def dying(root, key, *args):
        calls.append(key)
        if len(calls) == kill["at"]:
            raise KeyboardInterrupt("simulated kill")
        return real(root, key, *args)

    monkeypatch.setattr(fit_module, "fit_array", dying)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        fit_probes(cache, sets, config, work=work, progress=False)
    (log,) = work.glob("fits-*.jsonl")
    assert len(log.read_text().splitlines()) == 2
    with open(log, "a") as f:
        f.write('{"key": "torn')  # a line the kill tore
    calls.clear()
    kill["at"] = 0
    resumed = fit_probes(cache, sets, config, work=work, progress=False)
    assert len(calls) == 3  # only the arrays not logged
    assert resumed.table().equals(straight.table())
    # Other fit settings never reuse that log.
    calls.clear()
    fit_probes(
        cache, sets, ProbeConfig(targets=("falls",), folds=3, c=1.0, shuffles=0, seed=1), work=work, progress=False
    )
    assert len(calls) == 5 and len(list(work.glob("fits-*.jsonl"))) == 2
