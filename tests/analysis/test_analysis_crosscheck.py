"""The statistics against independent, well-kept implementations.

The package keeps its own vectorised code (one matrix product per bootstrap); here each
number is recomputed the plain way with scikit-learn, scipy or statsmodels. Bootstrap
intervals are compared with `scipy.stats.bootstrap` (percentile method): both draw their
own resamples, so they agree up to Monte Carlo error (about 0.003 at 10,000 resamples
here; the tolerance is several times that).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from cubeworld.analysis import (
    alignment,
    brier_score,
    calibration_scores,
    consistency_p_value,
    error_consistency,
    fit_psychometric,
    human_human_kappa,
    kappa_to_humans,
    kappa_to_truth,
    log_loss,
    mean_kappa_test,
    pooled_consistency_p_value,
    reliability_bins,
    spearman_brown,
    split_half_ceiling,
    weighted_pearson,
    weighted_spearman,
    wilson_interval,
)
from cubeworld.analysis.correlation import weighted_ranks

BOOT = 10_000
MC_TOL = 0.02


def _cohen(a, b, axis=-1):
    """Cohen's kappa of two 0/1 vectors, written out (the statistic scipy resamples)."""
    pa, pb = a.mean(axis), b.mean(axis)
    po = (a == b).mean(axis)
    pe = pa * pb + (1 - pa) * (1 - pb)
    return (po - pe) / (1 - pe)


# --------------------------------------------------------------------------- kappa


def test_kappa_to_truth_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    for _ in range(25):
        n = int(rng.integers(10, 200))
        truth = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int)
        says = np.where(rng.random(n) < rng.uniform(0.3, 0.9), truth, 1 - truth)
        est = kappa_to_truth(says, truth, n_boot=100)
        assert est.kappa == pytest.approx(cohen_kappa_score(says, truth), abs=1e-12)


def test_error_consistency_is_cohens_kappa_of_correctness():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    for _ in range(25):
        n = int(rng.integers(10, 200))
        a = (rng.random(n) < rng.uniform(0.3, 0.9)).astype(int)
        b = np.where(rng.random(n) < 0.6, a, (rng.random(n) < 0.6).astype(int))
        if a.min() == a.max() and b.min() == b.max():
            continue
        assert error_consistency(a, b).kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_kappa_to_humans_per_participant_matches_scikit_learn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(2)
    H = (rng.random((50, 9)) < 0.65).astype(float)
    H[rng.random(H.shape) < 0.15] = np.nan
    m = (rng.random(50) < 0.6).astype(float)
    est = kappa_to_humans(m, H, n_boot=100)
    for j in range(H.shape[1]):
        seen = ~np.isnan(H[:, j])
        assert est.per_observer[j] == pytest.approx(
            cohen_kappa_score(m[seen].astype(int), H[seen, j].astype(int)), abs=1e-12
        )


def test_kappa_to_truth_interval_matches_scipy_bootstrap():
    rng = np.random.default_rng(3)
    truth = (rng.random(100) < 0.5).astype(float)
    says = np.where(rng.random(100) < 0.7, truth, 1 - truth)
    est = kappa_to_truth(says, truth, n_boot=BOOT, seed=0)
    ref = stats.bootstrap(
        (says, truth), _cohen, paired=True, vectorized=True, n_resamples=BOOT, method="percentile", random_state=1
    )
    assert est.ci_low == pytest.approx(ref.confidence_interval.low, abs=MC_TOL)
    assert est.ci_high == pytest.approx(ref.confidence_interval.high, abs=MC_TOL)


def test_participant_resampling_matches_scipy_bootstrap():
    rng = np.random.default_rng(4)
    H = (rng.random((60, 40)) < 0.65).astype(float)
    m = (rng.random(60) < 0.6).astype(float)
    est = kappa_to_humans(m, H, n_boot=BOOT, seed=0, resample="participants")  # the paper's interval
    ref = stats.bootstrap((est.per_observer,), np.mean, n_resamples=BOOT, method="percentile", random_state=1)
    assert est.ci_low == pytest.approx(ref.confidence_interval.low, abs=MC_TOL / 2)
    assert est.ci_high == pytest.approx(ref.confidence_interval.high, abs=MC_TOL / 2)


def test_item_resampling_to_humans_matches_scipy_bootstrap():
    rng = np.random.default_rng(5)
    H = (rng.random((80, 12)) < 0.65).astype(float)
    m = np.where(rng.random(80) < 0.5, H[:, 0], (rng.random(80) < 0.6)).astype(float)
    est = kappa_to_humans(m, H, n_boot=BOOT, seed=0, resample="items")

    def mean_kappa(idx, axis=-1):
        idx = np.asarray(idx, dtype=int)
        a = m[idx][..., None]  # (..., n, 1)
        h = H[idx]  # (..., n, P)
        return np.nanmean(_cohen(np.moveaxis(a, -2, -1), np.moveaxis(h, -2, -1)), axis=-1)

    ref = stats.bootstrap(
        (np.arange(80),), mean_kappa, vectorized=True, n_resamples=BOOT, method="percentile", random_state=1
    )
    assert est.ci_low == pytest.approx(ref.confidence_interval.low, abs=MC_TOL)
    assert est.ci_high == pytest.approx(ref.confidence_interval.high, abs=MC_TOL)


def _cohen_pairs(m, h):
    """Mean over columns of Cohen's kappa of vector m with each column of h (NaN-safe)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(_cohen(m[:, None], h, axis=0))


def test_crossed_resampling_matches_a_plain_loop():
    """Items and participants drawn together: the vectorised bootstrap against a loop that
    draws both and recomputes every kappa (independent draws: Monte Carlo agreement)."""
    rng = np.random.default_rng(21)
    n, P = 50, 14
    ease = rng.normal(0.8, 1.2, n)
    H = (rng.random((n, P)) < 1 / (1 + np.exp(-(ease[:, None] + rng.normal(0, 0.5, P))))).astype(float)
    m = (rng.random(n) < 1 / (1 + np.exp(-ease))).astype(float)
    est = kappa_to_humans(m, H, n_boot=4000, seed=0)
    loop = []
    for _ in range(4000):
        i, j = rng.integers(0, n, n), rng.integers(0, P, P)
        loop.append(_cohen_pairs(m[i], H[np.ix_(i, j)]))
    lo, hi = np.nanpercentile(loop, [2.5, 97.5])
    assert est.ci_low == pytest.approx(lo, abs=MC_TOL) and est.ci_high == pytest.approx(hi, abs=MC_TOL)
    # the paper's interval holds the items fixed and is far narrower
    paper = kappa_to_humans(m, H, n_boot=4000, seed=0, resample="participants")
    assert paper.ci_high - paper.ci_low < 0.75 * (est.ci_high - est.ci_low)


def test_crossed_ceiling_matches_a_plain_loop():
    """The human-human ceiling's crossed resamples: items and people drawn, the mean over
    pairs of distinct drawn people, computed the plain way."""
    rng = np.random.default_rng(22)
    n, P = 40, 9
    ease = rng.normal(0.7, 1.0, n)
    H = (rng.random((n, P)) < 1 / (1 + np.exp(-ease[:, None]))).astype(float)
    est = human_human_kappa(H, n_boot=3000, seed=0)
    a, b = np.triu_indices(P, 1)
    loop = []
    for _ in range(3000):
        i, j = rng.integers(0, n, n), rng.integers(0, P, P)
        h = H[np.ix_(i, j)]
        distinct = j[a] != j[b]  # a person is never paired with their own copy
        with np.errstate(invalid="ignore", divide="ignore"):
            loop.append(np.nanmean(_cohen(h[:, a[distinct]], h[:, b[distinct]], axis=0)))
    lo, hi = np.nanpercentile(loop, [2.5, 97.5])
    assert est.ci_low == pytest.approx(lo, abs=MC_TOL) and est.ci_high == pytest.approx(hi, abs=MC_TOL)


def test_human_human_is_scikit_learn_over_pairs():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(6)
    H = (rng.random((30, 6)) < 0.7).astype(int)
    pairs = [cohen_kappa_score(H[:, i], H[:, j]) for i, j in itertools.combinations(range(6), 2)]
    assert human_human_kappa(H, n_boot=100).kappa == pytest.approx(np.mean(pairs), abs=1e-12)


# --------------------------------------------------------------------------- Wilson


def test_wilson_matches_scipy_binomtest():
    """statsmodels computes the package's intervals; scipy's own Wilson is the check."""
    for k, n in [(0, 10), (3, 10), (10, 10), (37, 100), (1, 3), (499, 1000)]:
        lo, hi = wilson_interval(k, n)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert float(lo) == pytest.approx(ref.low, abs=1e-9)
        assert float(hi) == pytest.approx(ref.high, abs=1e-9)


# --------------------------------------------------------------------------- p-values


def _two_sided_fisher(table):
    greater = stats.fisher_exact(table, alternative="greater").pvalue
    less = stats.fisher_exact(table, alternative="less").pvalue
    return min(1.0, 2 * min(greater, less))


def test_consistency_p_value_is_one_sided_fishers_exact_test():
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(8, 120))
        a = (rng.random(n) < rng.uniform(0.2, 0.9)).astype(int)
        b = np.where(rng.random(n) < rng.uniform(0, 0.8), a, (rng.random(n) < 0.6)).astype(int)
        if (a.min() == a.max()) and (b.min() == b.max()) and a[0] == b[0]:
            continue
        both = int((a & b).sum())
        table = [[both, int((a & (1 - b)).sum())], [int(((1 - a) & b).sum()), int(((1 - a) & (1 - b)).sum())]]
        p = consistency_p_value(n, a.sum(), b.sum(), both)  # kappa > 0
        assert p == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-9, abs=1e-12)
        p2 = consistency_p_value(n, a.sum(), b.sum(), both, alternative="two-sided")
        assert p2 == pytest.approx(_two_sided_fisher(table), rel=1e-9, abs=1e-12)


def test_consistency_p_value_matches_simulated_independent_observers():
    """Simulation: shuffle one observer's right/wrong over the trials (same accuracy,
    independence), count how often the both-right count - and so the kappa, which rises
    with it - is as far out in each tail."""
    rng = np.random.default_rng(8)
    a = (rng.random(60) < 0.65).astype(int)
    b = np.where(rng.random(60) < 0.35, a, (rng.random(60) < 0.65)).astype(int)
    both = int((a & b).sum())
    sims = rng.permuted(np.tile(b, (200_000, 1)), axis=1) @ a
    assert consistency_p_value(60, a.sum(), b.sum(), both) == pytest.approx(np.mean(sims >= both), abs=0.006)
    from cubeworld.analysis.metrics import kappa_from_counts

    x = np.arange(0, 61)
    valid = (x <= min(a.sum(), b.sum())) & (x >= a.sum() + b.sum() - 60)
    assert np.all(np.diff(kappa_from_counts(60, a.sum(), b.sum(), x[valid])) > 0)
    assert kappa_from_counts(60, a.sum(), b.sum(), both) == pytest.approx(error_consistency(a, b).kappa)


def test_pooled_p_value_matches_simulation_over_seeds():
    rng = np.random.default_rng(9)
    truth = (rng.random(40) < 0.5).astype(int)
    seeds = [np.where(rng.random(40) < 0.62, truth, 1 - truth) for _ in range(3)]
    tables = [(40, s.sum(), truth.sum(), (s & truth).sum()) for s in seeds]
    observed = sum(t[3] for t in tables)
    sims = sum(rng.permuted(np.tile(s, (100_000, 1)), axis=1) @ truth for s in seeds)
    assert pooled_consistency_p_value(tables) == pytest.approx(np.mean(sims >= observed), abs=0.008)
    p_sim = min(1.0, 2 * min(np.mean(sims >= observed), np.mean(sims <= observed)))
    assert pooled_consistency_p_value(tables, alternative="two-sided") == pytest.approx(p_sim, abs=0.008)
    one = tables[0]
    assert pooled_consistency_p_value([one]) == pytest.approx(consistency_p_value(*one))


def test_degenerate_kappa_has_no_p_value():
    assert math.isnan(consistency_p_value(10, 10, 10, 10))
    assert math.isnan(consistency_p_value(10, 0, 0, 0))
    assert math.isnan(pooled_consistency_p_value([(10, 10, 10, 10), (5, 0, 0, 0)]))
    assert consistency_p_value(10, 10, 6, 6) == 1.0  # kappa 0 by construction


def test_mean_kappa_test_is_a_one_sample_t_test():
    rng = np.random.default_rng(10)
    k = rng.normal(0.1, 0.2, 37)
    t = mean_kappa_test(np.append(k, np.nan))
    assert t.n == 37
    assert t.t == pytest.approx(k.mean() / (k.std(ddof=1) / math.sqrt(37)))
    assert t.p_value == pytest.approx(stats.t.sf(t.t, 36))  # one-sided: mean kappa > 0
    assert mean_kappa_test(-k).p_value > 0.5  # a negative mean is never "beyond chance"
    assert mean_kappa_test(k, alternative="two-sided").p_value == pytest.approx(2 * stats.t.sf(abs(t.t), 36))


def test_holm_and_bootstrap_p_values():
    from statsmodels.stats.multitest import multipletests

    from cubeworld.analysis.significance import adjust, bootstrap_p_value

    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    ok = np.isfinite(p)
    order = np.argsort(p[ok])
    m = ok.sum()
    # Holm by hand: sorted p times (m - rank), running maximum, capped at 1
    by_hand = np.minimum(1, np.maximum.accumulate(np.sort(p[ok]) * (m - np.arange(m))))
    out = adjust(p)
    assert np.isnan(out[2])
    np.testing.assert_allclose(out[ok][order], by_hand)
    np.testing.assert_allclose(adjust(p, "fdr_bh")[ok], multipletests(p[ok], method="fdr_bh")[1])
    boots = np.r_[np.full(90, 0.2), np.full(10, -0.1)]
    assert bootstrap_p_value(boots) == pytest.approx(11 / 101)
    assert bootstrap_p_value(-boots) > 0.9
    assert bootstrap_p_value(boots, alternative="two-sided") == pytest.approx(22 / 101)


# --------------------------------------------------------------------------- correlations


def test_weighted_ranks_are_ranks_of_the_expanded_sample():
    rng = np.random.default_rng(11)
    for _ in range(30):
        n = int(rng.integers(3, 30))
        x = rng.integers(0, 6, n).astype(float)  # many ties
        if rng.random() < 0.5:
            x = rng.random(n)
        w = rng.integers(0, 4, n).astype(float)
        if w.sum() == 0:
            continue
        expanded = np.repeat(x, w.astype(int))
        ref = stats.rankdata(expanded)
        mine = weighted_ranks(x, w)
        first = np.concatenate([[0], np.cumsum(w.astype(int))[:-1]])
        for i in np.flatnonzero(w > 0):
            assert mine[i] == pytest.approx(ref[first[i]])
        # the rows of a weight matrix (the count path for few distinct values) agree
        np.testing.assert_allclose(weighted_ranks(x, w[None, :])[0][w > 0], mine[w > 0])


def test_weighted_correlations_are_those_of_the_expanded_sample():
    rng = np.random.default_rng(12)
    x = rng.random(25)
    y = np.round(x + rng.normal(0, 0.3, 25), 1)  # ties in y
    w = rng.integers(0, 4, 25)
    xe, ye = np.repeat(x, w), np.repeat(y, w)
    assert weighted_pearson(x, y, w) == pytest.approx(stats.pearsonr(xe, ye).statistic)
    assert weighted_spearman(x, y, w) == pytest.approx(stats.spearmanr(xe, ye).statistic)


def test_alignment_matches_scipy():
    rng = np.random.default_rng(13)
    share = rng.random(100)
    p = np.clip(share + rng.normal(0, 0.25, 100), 0, 1)
    c = alignment(p, share, n_boot=BOOT, seed=0)
    assert c.pearson == pytest.approx(stats.pearsonr(p, share).statistic)
    assert c.spearman == pytest.approx(stats.spearmanr(p, share).statistic)
    for name, f in (("pearson", lambda a, b, axis=-1: stats.pearsonr(a, b, axis=axis).statistic), ("spearman", None)):
        if f is None:

            def f(a, b, axis=-1):
                ra = stats.rankdata(a, axis=axis)
                rb = stats.rankdata(b, axis=axis)
                return stats.pearsonr(ra, rb, axis=axis).statistic

        ref = stats.bootstrap(
            (p, share), f, paired=True, vectorized=True, n_resamples=BOOT, method="percentile", random_state=1
        ).confidence_interval
        assert getattr(c, f"{name}_ci_low") == pytest.approx(ref.low, abs=MC_TOL)
        assert getattr(c, f"{name}_ci_high") == pytest.approx(ref.high, abs=MC_TOL)


def _loop_split_half(R, n_splits, rng):
    """Plain version: a permutation per split, shares of each half, Pearson, SB-corrected."""
    P = R.shape[1]
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(P)
        a, b = perm[: P // 2], perm[P // 2 :]
        r = stats.pearsonr(np.nanmean(R[:, a], 1), np.nanmean(R[:, b], 1)).statistic
        out.append(2 * r / (1 + r))
    return float(np.mean(out))


def test_split_half_ceiling_matches_a_plain_loop():
    rng = np.random.default_rng(14)
    p_item = rng.random(60)
    R = (rng.random((60, 30)) < p_item[:, None]).astype(float)
    c = split_half_ceiling(R, n_splits=2000, n_boot=2000, seed=0)
    assert c.pearson == pytest.approx(_loop_split_half(R, 2000, rng), abs=0.01)
    assert c.pearson_ci_low < c.pearson < c.pearson_ci_high
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    # people who do not agree beyond chance have no ceiling to speak of
    noise = (rng.random((60, 30)) < 0.5).astype(float)
    assert abs(split_half_ceiling(noise, n_splits=500, n_boot=500).pearson) < 0.35


def test_leave_one_out_is_pearson_with_the_others_share():
    from cubeworld.analysis.correlation import leave_one_out, percentile_among

    rng = np.random.default_rng(23)
    p_item = rng.random(40)
    R = (rng.random((40, 12)) < p_item[:, None]).astype(float)
    R[3, 5] = np.nan
    loo = leave_one_out(R, n_boot=1000, seed=0)
    for j in range(12):
        seen = ~np.isnan(R[:, j])
        others = np.nanmean(np.delete(R, j, axis=1), axis=1)
        ref = stats.pearsonr(R[seen, j], others[seen]).statistic
        assert loo.per_participant[j] == pytest.approx(ref, abs=1e-9)
    assert loo.mean == pytest.approx(loo.per_participant.mean())
    assert loo.ci_low < loo.mean < loo.ci_high
    assert percentile_among(10.0, loo.per_participant) == 100.0
    assert percentile_among(loo.median, loo.per_participant) == pytest.approx(50, abs=5)


def test_auc_matches_scikit_learn_also_under_weights():
    from sklearn.metrics import roc_auc_score

    from cubeworld.analysis.discrimination import auc_interval, roc_auc, weighted_auc

    rng = np.random.default_rng(24)
    y = (rng.random(80) < 0.5).astype(float)
    s = np.round(np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, 80), 0, 1), 1)  # ties
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))
    w = rng.integers(0, 3, 80).astype(float)
    idx = np.repeat(np.arange(80), w.astype(int))
    assert weighted_auc(s, y, np.stack([w, w]))[0] == pytest.approx(roc_auc_score(y[idx], s[idx]))
    two = np.stack([s, np.clip(s + rng.normal(0, 0.1, 80), 0, 1)])
    a = auc_interval(two, y, n_boot=2000)
    assert a.auc == pytest.approx(np.mean([roc_auc_score(y, row) for row in two]))
    assert a.ci_low < a.auc < a.ci_high


def test_permutation_test_matches_scipy_and_contrast_interval_a_loop():
    from cubeworld.analysis.contrasts import accuracy_drop, permutation_p

    rng = np.random.default_rng(25)
    a = (rng.random(70) < 0.72).astype(float)
    b = (rng.random(50) < 0.6).astype(float)
    ref = stats.permutation_test(
        (a, b),
        lambda x, y, axis: x.mean(axis) - y.mean(axis),
        permutation_type="independent",
        alternative="greater",
        n_resamples=20_000,
        vectorized=True,
        random_state=0,
    ).pvalue
    assert permutation_p(a, b, n_permutations=20_000) == pytest.approx(ref, abs=0.012)
    # several seeds: the interval resamples items (within each group) and seeds
    A = (rng.random((3, 70)) < 0.75).astype(float)
    B = (rng.random((3, 50)) < 0.55).astype(float)
    c = accuracy_drop(A, B, n_boot=3000, seed=0)
    loop = []
    for _ in range(3000):
        ia, ib, js = rng.integers(0, 70, 70), rng.integers(0, 50, 50), rng.integers(0, 3, 3)
        loop.append(A[np.ix_(js, ia)].mean() - B[np.ix_(js, ib)].mean())
    lo, hi = np.percentile(loop, [2.5, 97.5])
    assert c.drop == pytest.approx(A.mean() - B.mean())
    assert c.ci_low == pytest.approx(lo, abs=MC_TOL) and c.ci_high == pytest.approx(hi, abs=MC_TOL)
    assert c.p_value < 0.01


def test_majority_labels_against_truth_is_accuracy_and_phi():
    from sklearn.metrics import matthews_corrcoef

    from cubeworld.analysis.human_labels import majority_agreement

    rng = np.random.default_rng(26)
    truth = (rng.random(60) < 0.5).astype(float)
    R = (rng.random((60, 9)) < np.where(truth[:, None] == 1, 0.65, 0.4)).astype(float)
    a = majority_agreement(R, truth, n_boot=1000)
    maj = (R.mean(1) > 0.5).astype(float)
    assert a.accuracy == pytest.approx(np.mean(maj == truth))
    assert a.phi == pytest.approx(matthews_corrcoef(truth, maj))
    assert a.n_ties == 0 and a.accuracy_ci_low < a.accuracy < a.accuracy_ci_high


# --------------------------------------------------------------------------- calibration


def test_brier_log_loss_and_bins_match_scikit_learn():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss
    from sklearn.metrics import log_loss as sk_log_loss

    rng = np.random.default_rng(15)
    y = (rng.random(200) < 0.5).astype(int)
    p = np.clip(0.5 + (y - 0.5) * rng.uniform(0, 0.8, 200) + rng.normal(0, 0.15, 200), 0, 1)
    p[:5] = [0.0, 1.0, 0.1, 0.5, 0.9]  # edges of bins and of the clip
    assert brier_score(p, y) == pytest.approx(brier_score_loss(y, p))
    assert log_loss(p, y) == pytest.approx(sk_log_loss(y, p, labels=[0, 1]))
    bins = reliability_bins(p, y, n_bins=10)
    true, pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(bins["share_yes"], true)
    np.testing.assert_allclose(bins["mean_p_yes"], pred)
    c = calibration_scores(p, y, n_boot=BOOT, seed=0)
    ref = stats.bootstrap(
        ((p - y) ** 2,), np.mean, n_resamples=BOOT, method="percentile", random_state=1
    ).confidence_interval
    assert c.brier_ci_low == pytest.approx(ref.low, abs=MC_TOL / 2)
    assert c.brier_ci_high == pytest.approx(ref.high, abs=MC_TOL / 2)


# --------------------------------------------------------------------------- logistic fits


def _direct_ml(x, y):
    """Maximum likelihood of the logistic curve with scipy.optimize, and the covariance
    from the exact Hessian (X' diag(p(1-p)) X)^-1 at the optimum."""
    X = np.column_stack([np.ones_like(x), x])

    def nll(b):
        z = X @ b
        return float(np.sum(np.logaddexp(0, z) - y * z))

    def grad(b):
        return X.T @ (1 / (1 + np.exp(-(X @ b))) - y)

    res = optimize.minimize(nll, np.zeros(2), jac=grad, method="BFGS", options={"gtol": 1e-10, "maxiter": 1000})
    p = 1 / (1 + np.exp(-(X @ res.x)))
    cov = np.linalg.inv(X.T @ (X * (p * (1 - p))[:, None]))
    return res.x, cov


def test_logistic_fit_matches_direct_maximum_likelihood():
    rng = np.random.default_rng(16)
    x = rng.uniform(-10, 10, 600)
    y = (rng.random(600) < 1 / (1 + np.exp(-(0.4 - 0.5 * x)))).astype(float)
    f = fit_psychometric(x, y)
    b, cov = _direct_ml(x, y)
    assert (f.intercept, f.slope) == pytest.approx(tuple(b), abs=1e-5)
    se = math.sqrt(cov[1, 1])
    assert f.slope_ci_low == pytest.approx(b[1] - 1.959964 * se, abs=1e-4)
    assert f.slope_ci_high == pytest.approx(b[1] + 1.959964 * se, abs=1e-4)
    t = -b[0] / b[1]
    g = np.array([-1 / b[1], b[0] / b[1] ** 2])
    se_t = math.sqrt(g @ cov @ g)
    assert f.threshold == pytest.approx(t, abs=1e-4)
    assert f.threshold_ci_low == pytest.approx(t - 1.959964 * se_t, abs=1e-3)
    # the true curve (slope -0.5, threshold 0.8) lies in the intervals
    assert f.slope_ci_low < -0.5 < f.slope_ci_high
    assert f.threshold_ci_low < 0.8 < f.threshold_ci_high


def test_fractional_fit_matches_direct_quasi_likelihood():
    rng = np.random.default_rng(17)
    x = rng.uniform(-5, 5, 200)
    p = np.clip(1 / (1 + np.exp(-(-0.2 - 0.9 * x))) + rng.normal(0, 0.05, 200), 0.001, 0.999)
    f = fit_psychometric(x, p)
    b, _ = _direct_ml(x, p)
    assert (f.intercept, f.slope) == pytest.approx(tuple(b), abs=1e-5)


def test_constant_and_separated_responses_have_no_curve():
    from cubeworld.analysis import ConstantObserverWarning

    x = np.linspace(-5, 5, 30)
    with pytest.warns(ConstantObserverWarning):
        f = fit_psychometric(x, np.ones(30))
    assert math.isnan(f.slope) and f.note == "constant response"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = fit_psychometric(x, (x < 0).astype(float))
    assert math.isnan(f.slope) and "separation" in f.note
