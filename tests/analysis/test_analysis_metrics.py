"""The metrics against cases computed by hand and against plain loops."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from cubeworld.analysis import (
    DegenerateKappaWarning,
    cohen_kappa,
    error_consistency,
    human_human_kappa,
    kappa_bounds,
    kappa_to_humans,
    kappa_to_truth,
    paired_kappa_difference,
    wilson_interval,
)


def test_perfect_agreement():
    c = error_consistency([1, 0, 1, 0], [1, 0, 1, 0])
    assert (c.p_i, c.p_j, c.c_obs, c.c_exp) == (0.5, 0.5, 1.0, 0.5)
    assert c.kappa == 1.0
    assert c.kappa_max == pytest.approx(1.0)


def test_perfect_disagreement():
    c = error_consistency([1, 1, 0, 0], [0, 0, 1, 1])
    assert c.c_obs == 0.0 and c.c_exp == 0.5
    assert c.kappa == -1.0
    assert c.kappa_min == pytest.approx(-1.0)


def test_equal_accuracies_no_shared_errors():
    # both 3/4 right, the one error each on different trials: c_obs = 2/4,
    # c_exp = .75*.75 + .25*.25 = .625, kappa = (.5 - .625) / .375 = -1/3
    c = error_consistency([1, 1, 1, 0], [1, 1, 0, 1])
    assert c.c_obs == 0.5
    assert c.c_exp == pytest.approx(0.625)
    assert c.kappa == pytest.approx(-1 / 3)
    # no shared errors is as inconsistent as these accuracies allow: kappa hits its minimum
    assert c.kappa_min == pytest.approx(-1 / 3)
    assert c.kappa_max == pytest.approx(1.0)


def test_degenerate_case_is_nan_with_warning():
    with pytest.warns(DegenerateKappaWarning):
        c = error_consistency([1, 1, 1], [1, 1, 1])
    assert c.c_exp == 1.0 and math.isnan(c.kappa)
    with pytest.warns(DegenerateKappaWarning):
        assert math.isnan(cohen_kappa(1.0, 1.0))
    with pytest.warns(DegenerateKappaWarning):  # both always wrong is degenerate too
        assert math.isnan(error_consistency([0, 0], [0, 0]).kappa)


def test_kappa_bounds_by_hand():
    # p = .6, .8: c_exp = .56; c_obs in [|.6+.8-1|, 1-|.6-.8|] = [.4, .8]
    lo, hi = kappa_bounds(0.6, 0.8)
    assert lo == pytest.approx((0.4 - 0.56) / 0.44)
    assert hi == pytest.approx((0.8 - 0.56) / 0.44)


def test_bounds_contain_every_kappa():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(5, 40))
        a = rng.random(n) < rng.random()
        b = rng.random(n) < rng.random()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateKappaWarning)
            c = error_consistency(a, b)
        if math.isnan(c.kappa):
            continue
        assert c.kappa_min - 1e-9 <= c.kappa <= c.kappa_max + 1e-9


def test_wilson_by_hand_and_not_normal():
    k, n, z = 3, 10, 1.959963984540054
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo, hi = wilson_interval(k, n)
    assert float(lo) == pytest.approx(centre - half)
    assert float(hi) == pytest.approx(centre + half)
    assert float(lo) != pytest.approx(p - z * math.sqrt(p * (1 - p) / n))  # not the default
    lo, hi = wilson_interval([0, 10], [10, 10])
    assert lo[0] == pytest.approx(0.0) and hi[1] == pytest.approx(1.0) and hi[0] > 0 and lo[1] < 1


def test_kappa_to_truth_by_hand():
    # answers 1,1,0,0 vs truth 1,0,0,0: agreement .75, Yes-rates .5/.25, chance .5 -> .5
    est = kappa_to_truth([1, 1, 0, 0], [1, 0, 0, 0], n_boot=200)
    assert est.kappa == pytest.approx(0.5)
    assert est.ci_low <= est.kappa <= est.ci_high
    perfect = kappa_to_truth([1, 0, 1, 0], [1, 0, 1, 0], n_boot=200)
    assert perfect.kappa == 1.0


def _loop_kappa_to_humans(model, H):
    ks = []
    for j in range(H.shape[1]):
        shown = ~np.isnan(H[:, j])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateKappaWarning)
            ks.append(error_consistency(model[shown], H[shown, j]).kappa)
    return np.array(ks)


def test_kappa_to_humans_matches_loop_with_missing_items():
    rng = np.random.default_rng(3)
    H = (rng.random((30, 12)) < 0.65).astype(float)
    H[rng.random(H.shape) < 0.2] = np.nan
    model = (rng.random(30) < 0.6).astype(float)
    est = kappa_to_humans(model, H, n_boot=500, seed=0)
    loop = _loop_kappa_to_humans(model, H)
    np.testing.assert_allclose(est.per_observer, loop)
    assert est.kappa == pytest.approx(np.nanmean(loop))
    assert est.ci_low < est.kappa < est.ci_high
    items = kappa_to_humans(model, H, n_boot=500, seed=0, resample="items")
    assert items.kappa == pytest.approx(est.kappa)
    assert items.ci_low < est.kappa < items.ci_high


def test_seeds_are_averaged():
    rng = np.random.default_rng(4)
    H = (rng.random((25, 6)) < 0.6).astype(float)
    s0, s1 = (rng.random(25) < 0.6).astype(float), (rng.random(25) < 0.6).astype(float)
    both = kappa_to_humans(np.stack([s0, s1]), H, n_boot=100)
    one = kappa_to_humans(s0, H, n_boot=100).kappa
    two = kappa_to_humans(s1, H, n_boot=100).kappa
    assert both.kappa == pytest.approx((one + two) / 2)


def test_bootstrap_is_reproducible():
    rng = np.random.default_rng(5)
    H = (rng.random((40, 10)) < 0.6).astype(float)
    m = (rng.random(40) < 0.6).astype(float)
    a = kappa_to_humans(m, H, n_boot=300, seed=7, resample="items")
    b = kappa_to_humans(m, H, n_boot=300, seed=7, resample="items")
    c = kappa_to_humans(m, H, n_boot=300, seed=8, resample="items")
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_human_human_is_mean_over_pairs():
    rng = np.random.default_rng(6)
    H = (rng.random((20, 7)) < 0.7).astype(float)
    pairs = [error_consistency(H[:, i], H[:, j]).kappa for i, j in itertools.combinations(range(7), 2)]
    est = human_human_kappa(H, n_boot=200)
    assert est.kappa == pytest.approx(np.mean(pairs))
    with pytest.raises(ValueError, match="two participants"):
        human_human_kappa(H[:, :1])


def test_paired_difference():
    rng = np.random.default_rng(7)
    ease = rng.normal(0.7, 1.2, 150)  # items differ: people share their errors
    H = (rng.random((150, 15)) < 1 / (1 + np.exp(-ease[:, None]))).astype(float)
    # a model that answers like the participants' majority vs. one that is random
    humanlike = (np.nanmean(H, axis=1) > 0.5).astype(float)
    random = (rng.random(150) < 0.65).astype(float)
    same = paired_kappa_difference(humanlike, humanlike, H, n_boot=300)
    assert same.difference == 0.0 and same.ci_low == 0.0 and same.ci_high == 0.0
    assert same.p_value == 1.0
    d = paired_kappa_difference(humanlike, random, H, n_boot=1000)
    assert d.difference > 0 and d.ci_low > 0 and d.p_value < 0.05
