"""Graded alignment: how well an observer's P(Yes) follows the share of people saying Yes.

Kappa uses only right/wrong; people give a graded signal per item, the share of
participants answering Yes. Here:

- `alignment(signal, share)` / `alignments(signals, share, responses=R)`: Pearson and
  Spearman correlation between an observer's per-item signal (P(Yes), or its 0/1 answers
  when that is all it gives) and the human share of Yes, each with a 95% percentile
  interval. Given the (items x participants) responses, the interval is crossed: each
  resample draws items and participants, and the share of Yes is recomputed from the
  drawn participants; given only the share, items alone are resampled.
- `split_half_ceiling(responses)`: what the whole panel agrees with itself: split the
  participants at random into two halves, correlate the halves' item shares, correct for
  the halved number of raters with Spearman-Brown (r' = 2r / (1 + r)), and average over
  many random splits. Its interval draws a new split and resamples the items each time.
  No observer that gives one answer per item can reach it (a
  share of 107 people is far smoother than any single answer), so:
- `leave_one_out(responses)`: the benchmark a single answerer can be held to: each
  participant's 0/1 answers against the *other* participants' share of Yes, Pearson r per
  person; their distribution, its mean with a crossed interval, and `percentile_among`
  places an observer's r among single people (GPT-4V's 0.435 on Lerer100 sits at about
  the 10th percentile of the 107).

Resampled items are integer weights (one multinomial draw per resample, as for the kappas,
`metrics.item_weights`), so a resample's correlation is a weighted correlation: Pearson
from weighted moments; Spearman as the Pearson of the average ranks the resampled sample
would give (ties - including an item drawn twice - share their mean rank), computed by
sorting each resample once. No loop over resamples.

A constant observer (one value on every item) has no correlation: NaN, with a
`ConstantObserverWarning`; the tables count such observers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from cubeworld.analysis.metrics import (
    CI_LEVEL,
    DEFAULT_SEED,
    N_BOOT,
    _percentiles,
    item_weights,
    resample_weights,
    weighted_nanmean,
)

N_SPLITS = 1_000


class ConstantObserverWarning(RuntimeWarning):
    """An observer gave the same value on every item: its correlation is NaN."""


def weighted_pearson(x, y, w):
    """Pearson r of x and y under item weights w (rows = resamples; arrays broadcast).

    NaN where either variable has no variance under the weights.
    """
    x, y, w = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(w, float))
    sw = w.sum(-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = (w * x).sum(-1, keepdims=True) / sw
        my = (w * y).sum(-1, keepdims=True) / sw
        dx, dy = x - mx, y - my
        sxy = (w * dx * dy).sum(-1)
        sxx = (w * dx * dx).sum(-1)
        syy = (w * dy * dy).sum(-1)
        # relative tolerance: a variance that is rounding noise is no variance
        tol = 1e-12 * np.maximum(1.0, (w * (x * x + y * y)).sum(-1))
        r = np.where((sxx <= tol) | (syy <= tol), np.nan, sxy / np.sqrt(sxx * syy))
    return np.clip(r, -1.0, 1.0)


def weighted_ranks(x, w):
    """Average ranks (1-based) each item would get in the sample its weights describe.

    x, w: (..., n). An item drawn w_i times occupies w_i places; ties share the mean of
    the places they occupy (`scipy.stats.rankdata(method="average")` on the expanded
    sample). Items of weight 0 get the rank they would have had (they are not counted).
    """
    x, w = np.asarray(x, float), np.asarray(w, float)
    if x.ndim == 1 and w.ndim == 2:  # one x for every resample: sort it once
        order = np.argsort(x, kind="stable")
        xs = x[order]
        n = x.size
        new_group = np.ones(n, dtype=bool)
        new_group[1:] = xs[1:] != xs[:-1]
        start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
        end = np.append(new_group[1:], True)
        last = np.minimum.accumulate(np.where(end, np.arange(n), n - 1)[::-1])[::-1]
        ws = w[:, order]
        cum = np.cumsum(ws, axis=1)
        less = cum[:, start] - ws[:, start]
        ranks_sorted = less + (cum[:, last] - less + 1) / 2
        ranks = np.empty_like(ranks_sorted)
        ranks[:, order] = ranks_sorted
        return ranks
    x, w = np.broadcast_arrays(x, w)
    order = np.argsort(x, axis=-1, kind="stable")
    xs = np.take_along_axis(x, order, -1)
    ws = np.take_along_axis(w, order, -1)
    cum = np.cumsum(ws, axis=-1)
    before = cum - ws  # weight strictly before each position
    n = x.shape[-1]
    idx = np.broadcast_to(np.arange(n), x.shape)
    new_group = np.ones(x.shape, dtype=bool)
    new_group[..., 1:] = xs[..., 1:] != xs[..., :-1]
    start = np.maximum.accumulate(np.where(new_group, idx, 0), axis=-1)
    last = np.flip(
        np.minimum.accumulate(
            np.flip(
                np.where(np.concatenate([new_group[..., 1:], np.ones(x.shape[:-1] + (1,), bool)], -1), idx, n - 1), -1
            ),
            -1,
        ),
        -1,
    )
    less = np.take_along_axis(before, start, -1)
    upto = np.take_along_axis(cum, last, -1)
    ranks_sorted = less + (upto - less + 1) / 2
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, -1)
    return ranks


def weighted_spearman(x, y, w):
    """Spearman rho under item weights: Pearson of the weighted average ranks."""
    return weighted_pearson(weighted_ranks(x, w), weighted_ranks(y, w), w)


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlations with 95% item-bootstrap intervals."""

    pearson: float
    pearson_ci_low: float
    pearson_ci_high: float
    spearman: float
    spearman_ci_low: float
    spearman_ci_high: float
    n_items: int
    n_boot: int
    constant: bool = False

    def as_dict(self) -> dict:
        return {
            "pearson": self.pearson,
            "pearson_ci_low": self.pearson_ci_low,
            "pearson_ci_high": self.pearson_ci_high,
            "spearman": self.spearman,
            "spearman_ci_low": self.spearman_ci_low,
            "spearman_ci_high": self.spearman_ci_high,
            "n_items": self.n_items,
        }


def _checked_pair(signal, share) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(signal, dtype=float)
    y = np.asarray(share, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError("alignment: signal and share must be 1-D arrays of the same length")
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("alignment: missing values; pass only items both cover")
    if x.size < 3:
        raise ValueError("alignment: at least three items are needed")
    return x, y


def alignment(
    signal, share, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED, name: str = "observer", responses=None
) -> Correlation:
    """Correlation of an observer's per-item signal with the human share of Yes.

    signal: (n_items,) P(Yes) (mean over seeds) or 0/1 answers; share: (n_items,) share
    of participants answering Yes; responses: optionally the (n_items, n_participants)
    0/1 answers (NaN = not shown) behind the share, for a crossed interval. Intervals:
    central 95% of `n_boot` resamples (resamples where either side is constant are left
    out of the percentiles).
    """
    return alignments([signal], share, n_boot=n_boot, seed=seed, names=[name], responses=responses)[0]


def _shares_under(responses: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot, n_items) share of Yes among the drawn participants (weights V), and where
    it is defined (some drawn participant saw the item)."""
    R = np.asarray(responses, dtype=float)
    M = (~np.isnan(R)).astype(np.float32)
    yes = (np.nan_to_num(R) * M).astype(np.float32)
    V = np.asarray(V, dtype=np.float32)
    seen = V @ M.T
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (V @ yes.T) / seen
    ok = seen > 0
    return np.where(ok, share, 0.0).astype(float), ok


def alignments(
    signals, share, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED, names=None, responses=None
) -> list[Correlation]:
    """`alignment` for several observers on the same items: they share the resamples (and
    the humans' ranks are computed once), as a paired comparison would want. With
    `responses`, every resample also draws the participants (crossed)."""
    y = np.asarray(share, dtype=float)
    xs = [_checked_pair(s, y)[0] for s in signals]
    names = list(names) if names is not None else [f"observer {i}" for i in range(len(xs))]
    ones = np.ones(y.size)
    rng = np.random.default_rng(seed)
    W = item_weights(y.size, n_boot, rng).astype(float)
    if responses is not None:
        R = np.asarray(responses, dtype=float)
        if R.ndim != 2 or R.shape[0] != y.size:
            raise ValueError("alignment: responses must be an (n_items, n_participants) matrix")
        Y, ok = _shares_under(R, resample_weights(R.shape[1], n_boot, rng))
        W = W * ok
    else:
        Y = y
    ry = weighted_ranks(Y, W)
    ry1 = weighted_ranks(y, ones)
    out = []
    for x, name in zip(xs, names):
        pr = float(weighted_pearson(x, y, ones))
        sr = float(weighted_pearson(weighted_ranks(x, ones), ry1, ones))
        constant = bool(np.all(x == x[0]))
        if constant:
            warnings.warn(
                f"{name}: the same value on every item; its correlation with the humans is NaN",
                ConstantObserverWarning,
                stacklevel=3,
            )
            nan = float("nan")
            out.append(Correlation(pr, nan, nan, sr, nan, nan, int(x.size), n_boot, True))
            continue
        plo, phi = _percentiles(weighted_pearson(x, Y, W), CI_LEVEL)
        slo, shi = _percentiles(weighted_pearson(weighted_ranks(x, W), ry, W), CI_LEVEL)
        out.append(Correlation(pr, plo, phi, sr, slo, shi, int(x.size), n_boot, False))
    return out


@dataclass(frozen=True)
class LeaveOneOut:
    """Each participant's answers against the others' share of Yes (Pearson r).

    mean: mean r over participants, with a crossed 95% interval; per_participant: each
    person's r (NaN for one who gave one answer to every item); n_constant: those.
    """

    mean: float
    ci_low: float
    ci_high: float
    median: float
    p10: float
    p90: float
    n_participants: int
    n_items: int
    n_constant: int
    n_boot: int
    per_participant: np.ndarray = field(repr=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "pearson": self.mean,
            "pearson_ci_low": self.ci_low,
            "pearson_ci_high": self.ci_high,
            "median": self.median,
            "p10": self.p10,
            "p90": self.p90,
            "n_items": self.n_items,
        }


def _loo_r(W: np.ndarray, X: np.ndarray, Y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(rows of W) x P weighted Pearson r of columns X[:, p] and Y[:, p] on mask[:, p]:
    six matrix products of the item weights with per-participant columns."""
    Wm = np.asarray(W, dtype=float)
    sw = Wm @ mask
    sx, sy = Wm @ (mask * X), Wm @ (mask * Y)
    sxx, syy, sxy = Wm @ (mask * X * X), Wm @ (mask * Y * Y), Wm @ (mask * X * Y)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sy / sw
        vx = sxx - sx * sx / sw
        vy = syy - sy * sy / sw
        tol = 1e-9 * np.maximum(1.0, sw)
        r = np.where((vx > tol) & (vy > tol) & (sw > 2), cov / np.sqrt(vx * vy), np.nan)
    return np.clip(r, -1.0, 1.0)


def leave_one_out(responses, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> LeaveOneOut:
    """The single-person benchmark of graded alignment, from (n_items, n_participants)
    0/1 answers (NaN = not shown).

    Per participant p: Pearson r between p's answers and the share of Yes among the
    others on the items p saw. Interval of the mean: crossed bootstrap (items and
    participants drawn; the others' share is that of the whole panel without p).
    """
    R = np.asarray(responses, dtype=float)
    if R.ndim != 2 or R.shape[1] < 3:
        raise ValueError("leave_one_out: an (items x participants) matrix with at least three participants is needed")
    M = (~np.isnan(R)).astype(float)
    X = np.nan_to_num(R)
    n, P = R.shape
    yes, seen = (X * M).sum(1, keepdims=True), M.sum(1, keepdims=True)
    others_seen = seen - M
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = np.where(others_seen > 0, (yes - X * M) / others_seen, 0.0)
    mask = M * (others_seen > 0)
    r = _loo_r(np.ones((1, n)), X, Y, mask)[0]
    rng = np.random.default_rng(seed)
    W = item_weights(n, n_boot, rng)
    V = resample_weights(P, n_boot, rng).astype(float)
    boots = np.empty(n_boot)
    for c in range(0, n_boot, 2_000):
        boots[c : c + 2_000] = weighted_nanmean(_loo_r(W[c : c + 2_000], X, Y, mask), V[c : c + 2_000])
    lo, hi = _percentiles(boots, CI_LEVEL)
    fin = r[np.isfinite(r)]
    q = np.percentile(fin, [10, 50, 90]) if fin.size else [np.nan] * 3
    return LeaveOneOut(
        float(fin.mean()) if fin.size else float("nan"),
        lo,
        hi,
        float(q[1]),
        float(q[0]),
        float(q[2]),
        P,
        n,
        int(P - fin.size),
        n_boot,
        r,
    )


def percentile_among(value: float, people) -> float:
    """Where `value` falls among single people's values: the percentage of them below it
    (ties count half). NaN for a NaN value or no people."""
    v = np.asarray(people, dtype=float)
    v = v[np.isfinite(v)]
    if not np.isfinite(value) or v.size == 0:
        return float("nan")
    return float(100 * (np.mean(v < value) + 0.5 * np.mean(v == value)))


def spearman_brown(r):
    """Reliability of the full panel from a split-half correlation: 2r / (1 + r)."""
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(r <= -1, np.nan, 2 * r / (1 + r))
    return out if out.ndim else float(out)


@dataclass(frozen=True)
class Ceiling:
    """Split-half human ceiling (Spearman-Brown corrected), mean over random splits."""

    pearson: float
    pearson_ci_low: float
    pearson_ci_high: float
    spearman: float
    spearman_ci_low: float
    spearman_ci_high: float
    n_items: int
    n_participants: int
    n_splits: int
    n_boot: int

    def as_dict(self) -> dict:
        return {
            "pearson": self.pearson,
            "pearson_ci_low": self.pearson_ci_low,
            "pearson_ci_high": self.pearson_ci_high,
            "spearman": self.spearman,
            "spearman_ci_low": self.spearman_ci_low,
            "spearman_ci_high": self.spearman_ci_high,
            "n_items": self.n_items,
        }


def _half_shares(R: np.ndarray, M: np.ndarray, halves: np.ndarray):
    """Per split (rows of `halves`, 1 = half A): each half's share of Yes per item.

    Returns (share_a, share_b, defined) of shape (splits, items); `defined` is False where
    a half holds no response to the item.
    """
    A = halves.astype(np.float32)
    B = 1.0 - A
    yes = (R * M).T.astype(np.float32)  # (P, n)
    seen = M.T.astype(np.float32)
    na, nb = A @ seen, B @ seen
    with np.errstate(divide="ignore", invalid="ignore"):
        sa = (A @ yes) / na
        sb = (B @ yes) / nb
    defined = (na > 0) & (nb > 0)
    return np.nan_to_num(sa.astype(float)), np.nan_to_num(sb.astype(float)), defined


def _random_halves(n_splits: int, P: int, rng: np.random.Generator) -> np.ndarray:
    """(n_splits, P) 0/1: a uniformly random half (floor(P/2) participants) per row."""
    ranks = np.argsort(rng.random((n_splits, P)), axis=1).argsort(axis=1)
    return (ranks < P // 2).astype(np.float32)


def split_half_ceiling(
    responses, *, n_splits: int = N_SPLITS, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED
) -> Ceiling:
    """The human ceiling of graded alignment from an (n_items, n_participants) 0/1 matrix.

    NaN marks an item a participant did not see. Point estimate: Spearman-Brown corrected
    split-half correlation, mean over `n_splits` random splits. Interval: central 95% of
    `n_boot` draws of (random split, item resample). The people enter through the random
    split, not by drawing them with replacement: copies of one person in a panel make it
    agree with itself more than distinct people do, which biases a reliability (measured
    on Lerer100: an interval of [0.94, 0.98] below its own point estimate 0.982).
    """
    Rm = np.asarray(responses, dtype=float)
    if Rm.ndim != 2 or Rm.shape[1] < 2:
        raise ValueError(
            "split_half_ceiling: an (items x participants) matrix with at least two participants is needed"
        )
    M = (~np.isnan(Rm)).astype(float)
    R = np.nan_to_num(Rm)
    n, P = R.shape
    rng = np.random.default_rng(seed)
    halves = _random_halves(n_splits, P, rng)
    sa, sb, ok = _half_shares(R, M, halves)
    w = ok.astype(float)
    point_p = spearman_brown(weighted_pearson(sa, sb, w))
    point_s = spearman_brown(weighted_spearman(sa, sb, w))
    halves = _random_halves(n_boot, P, rng)
    sa, sb, ok = _half_shares(R, M, halves)
    W = item_weights(n, n_boot, rng).astype(float) * ok
    boot_p = spearman_brown(weighted_pearson(sa, sb, W))
    boot_s = spearman_brown(weighted_spearman(sa, sb, W))
    plo, phi = _percentiles(boot_p, CI_LEVEL)
    slo, shi = _percentiles(boot_s, CI_LEVEL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return Ceiling(
            float(np.nanmean(point_p)), plo, phi, float(np.nanmean(point_s)), slo, shi, n, P, n_splits, n_boot
        )
