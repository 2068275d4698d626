"""The study's statistics on plain arrays: accuracy, Wilson intervals, error consistency.

Everything here works on numpy arrays of correctness (1 = right, 0 = wrong, NaN = not
shown to that observer) or answers, so the functions can be checked by hand and reused
outside the report. Loading tables lives in `loading.py`, drawing in `plotting.py`.

Definitions (Geirhos et al. 2020; Schulze Buschoff et al. 2025):

- error consistency of observers i, j with accuracies p_i, p_j on the same n trials:
  c_exp = p_i p_j + (1 - p_i)(1 - p_j), c_obs = share of trials both got right or both got
  wrong, kappa = (c_obs - c_exp) / (1 - c_exp).
- Degenerate case c_exp = 1 (both observers always right, or both always wrong): there are
  no errors whose consistency could be measured and kappa is 0/0. We return NaN and warn
  (`DegenerateKappaWarning`); means over observers skip NaNs and the tables report how
  many pairs were degenerate. Returning 0 or 1 instead would pull the mean towards an
  arbitrary value that no data supports (model-vs-human returns 1.0 there).
- kappa to the ground truth: error consistency against the truth is 0 by construction
  (the truth has accuracy 1, so c_obs = c_exp = p). "Kappa to the ground truth" is
  therefore Cohen's (1960) kappa between the answers (Yes/No) and the correct answers,
  with chance agreement from the two Yes-rates: the same formula with p = P(Yes).
- bounds (Klein et al. 2025): given p_i, p_j, c_obs can only lie in
  [|p_i + p_j - 1|, 1 - |p_i - p_j|], so kappa lies in the interval those ends map to.
  Shown next to each kappa, they say how much room the two accuracies left.
- intervals: bootstraps draw with `numpy.random.Generator(PCG64(seed))` so that a report
  is reproducible; resampled items are integer weights from one multinomial draw per
  resample, which turns every resample's counts into one matrix product.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from cubeworld.intervals import wilson_interval  # noqa: F401 - one Wilson interval, re-exported

N_BOOT = 10_000
CI_LEVEL = 0.95
DEFAULT_SEED = 0


class DegenerateKappaWarning(RuntimeWarning):
    """kappa was 0/0 (c_exp = 1) for some pair and is reported as NaN."""


# --------------------------------------------------------------------------- accuracy


# --------------------------------------------------------------------------- kappa


def cohen_kappa(c_obs, c_exp, *, warn: bool = True):
    """kappa = (c_obs - c_exp) / (1 - c_exp); NaN (with a warning) where c_exp = 1."""
    c_obs = np.asarray(c_obs, dtype=float)
    c_exp = np.asarray(c_exp, dtype=float)
    degenerate = np.isclose(c_exp, 1.0, rtol=0.0, atol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(degenerate, np.nan, (c_obs - c_exp) / np.where(degenerate, 1.0, 1 - c_exp))
    if warn and np.any(degenerate & ~np.isnan(c_exp)):
        warnings.warn(
            f"{int(np.sum(degenerate))} degenerate kappa(s): c_exp = 1 (both observers always "
            "right or both always wrong), reported as NaN",
            DegenerateKappaWarning,
            stacklevel=2,
        )
    return kappa if kappa.ndim else float(kappa)


def expected_consistency(p_i, p_j):
    """c_exp: agreement expected from two independent observers with rates p_i, p_j."""
    p_i = np.asarray(p_i, dtype=float)
    p_j = np.asarray(p_j, dtype=float)
    return p_i * p_j + (1 - p_i) * (1 - p_j)


def kappa_bounds(p_i, p_j, *, warn: bool = False):
    """(kappa_min, kappa_max) that accuracies p_i, p_j allow (Klein et al. 2025).

    c_obs max = 1 - |p_i - p_j| (errors overlap as much as they can), c_obs min =
    |p_i + p_j - 1| (they overlap as little as they can); kappa is monotone in c_obs.
    """
    p_i = np.asarray(p_i, dtype=float)
    p_j = np.asarray(p_j, dtype=float)
    c_exp = expected_consistency(p_i, p_j)
    lo = cohen_kappa(np.abs(p_i + p_j - 1), c_exp, warn=warn)
    hi = cohen_kappa(1 - np.abs(p_i - p_j), c_exp, warn=warn)
    return lo, hi


@dataclass(frozen=True)
class Consistency:
    """Error consistency of two observers on the same trials."""

    n: int
    p_i: float
    p_j: float
    c_obs: float
    c_exp: float
    kappa: float
    kappa_min: float
    kappa_max: float


def _as_binary(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == bool:
        return a.astype(float)
    a = a.astype(float)
    if np.any((a != 0) & (a != 1)):
        raise ValueError(f"{name}: values must be 0/1 or booleans")
    return a


def error_consistency(correct_i, correct_j) -> Consistency:
    """Geirhos et al. (2020) error consistency of two observers' correctness vectors."""
    a = _as_binary(correct_i, "correct_i")
    b = _as_binary(correct_j, "correct_j")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("error_consistency: two 1-D vectors of the same length are needed")
    if a.size == 0:
        raise ValueError("error_consistency: no trials")
    p_i, p_j = a.mean(), b.mean()
    c_obs = float(np.mean(a == b))
    c_exp = float(expected_consistency(p_i, p_j))
    lo, hi = kappa_bounds(p_i, p_j)
    return Consistency(a.size, float(p_i), float(p_j), c_obs, c_exp, cohen_kappa(c_obs, c_exp), float(lo), float(hi))


def answer_kappa(says_yes, truth_yes) -> Consistency:
    """Cohen's kappa of answers against the correct answers (p_i, p_j are Yes-rates)."""
    return error_consistency(says_yes, truth_yes)


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class KappaEstimate:
    """A mean kappa with its bootstrap interval and the range the accuracies allowed.

    `kappa_min`/`kappa_max` are the Klein et al. bounds averaged like `kappa` itself
    (over participants and seeds); `per_observer` holds the kappa to each participant
    (averaged over seeds) where the estimate is a mean over participants.
    """

    kappa: float
    ci_low: float
    ci_high: float
    kappa_min: float
    kappa_max: float
    n_items: int
    n_observers: int
    n_boot: int
    resample: str
    n_degenerate: int = 0
    per_observer: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        return {
            "kappa": self.kappa,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "kappa_min": self.kappa_min,
            "kappa_max": self.kappa_max,
            "n_items": self.n_items,
            "n_observers": self.n_observers,
            "n_boot": self.n_boot,
            "resample": self.resample,
            "n_degenerate": self.n_degenerate,
        }


def item_weights(n_items: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_items) counts of how often each item is drawn in each resample.

    Each resample draws n_items indices uniformly with replacement (the ordinary
    bootstrap); one flat bincount turns all draws into counts at once. float32 holds these
    small integer counts (and the 0/1 matrices they multiply) exactly.
    """
    idx = rng.integers(0, n_items, size=(n_boot, n_items))
    idx += (np.arange(n_boot) * n_items)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_boot * n_items)
    return counts.reshape(n_boot, n_items).astype(np.float32)


def _percentiles(values: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def _seeds_by_items(x, name: str) -> np.ndarray:
    """Accept (n_items,) or (n_seeds, n_items) 0/1 arrays; return 2-D float."""
    a = _as_binary(x, name) if not np.isnan(np.asarray(x, dtype=float)).any() else None
    if a is None:
        raise ValueError(f"{name}: missing values are not allowed for a model")
    return a[None, :] if a.ndim == 1 else a


def kappa_from_counts(n, right_i, right_j, both_right):
    """Error consistency from the 2 x 2 counts: 2 (n x - a b) / (a (n - b) + b (n - a)).

    The same number as (c_obs - c_exp) / (1 - c_exp) with a = right_i, b = right_j,
    x = both_right (multiply both by n^2); the denominator is 0 exactly in the degenerate
    cases (both always right or both always wrong), which give NaN. Products of counts are
    exact in float32 below 2^24, so resamples can use float32.
    """
    n, a, b, x = (np.asarray(v) for v in (n, right_i, right_j, both_right))
    den = a * (n - b) + b * (n - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2 * (n * x - a * b) / np.where(den > 0, den, 1), np.nan)


def _pair_kappas(W, A, B, M, bounds: bool = True):
    """kappa of observer rows A (s, n) against columns B (n, P) under item weights W.

    A: model correctness per seed; B: human correctness (0 where missing); M: (n, P)
    mask of shown items. All weighted counts come from one matrix product
    W @ [M, M*B, M*a_1, M*a_1*B, ...] (float32: the counts are small integers, exact);
    kappa follows from the counts (`kappa_from_counts`). Returns (n_boot, s, P) kappas and
    bounds; the resamples (bounds=False) stay in float32, the point estimate in float64.
    """
    P = B.shape[1]
    cols = [M, M * B]
    for a in A:
        am = M * a[:, None]
        cols += [am, am * B]
    C = np.asarray(W, dtype=np.float32) @ np.concatenate(cols, axis=1).astype(np.float32)
    if bounds:
        C = C.astype(np.float64)
    n_j, right_h = C[:, :P], C[:, P : 2 * P]
    out_k, out_lo, out_hi = [], [], []
    for i in range(len(A)):
        right_m = C[:, (2 + 2 * i) * P : (3 + 2 * i) * P]
        both_right = C[:, (3 + 2 * i) * P : (4 + 2 * i) * P]
        out_k.append(kappa_from_counts(n_j, right_m, right_h, both_right))
        if bounds:  # the resamples need no bounds: skip the work
            with np.errstate(divide="ignore", invalid="ignore"):
                lo, hi = kappa_bounds(right_m / n_j, right_h / n_j)
            out_lo.append(lo)
            out_hi.append(hi)
    k = np.stack(out_k, 1)
    if not bounds:
        return k, None, None
    return k, np.stack(out_lo, 1), np.stack(out_hi, 1)


def _human_matrix(human_correct) -> tuple[np.ndarray, np.ndarray]:
    H = np.asarray(human_correct, dtype=float)
    if H.ndim != 2:
        raise ValueError("human_correct must be a (n_items, n_participants) matrix")
    M = (~np.isnan(H)).astype(float)
    B = np.nan_to_num(H, nan=0.0)
    if np.any((B != 0) & (B != 1)):
        raise ValueError("human_correct: values must be 0/1 (or NaN where not shown)")
    return B, M


def _nanmean(x, axis):
    """Mean over `axis` leaving out NaN (NaN where nothing is left), without warnings."""
    x = np.asarray(x)
    if x.ndim and x.shape[axis] == 1:
        return np.take(x, 0, axis=axis)
    ok = ~np.isnan(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        n = ok.sum(axis=axis)
        return np.where(n > 0, np.where(ok, x, 0).sum(axis=axis) / np.maximum(n, 1), np.nan)


def kappa_to_humans(
    model_correct,
    human_correct,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
    resample: str = "participants",
) -> KappaEstimate:
    """Mean error consistency of a model with each participant, with a 95% interval.

    model_correct: (n_items,) or (n_seeds, n_items) 0/1; several seeds -> per-participant
    kappa is the mean over seeds (as the study averaged seeds). human_correct:
    (n_items, n_participants) 0/1 with NaN where a participant did not see an item; each
    pair uses the items both saw.

    resample="participants" (the study): the interval is the central 95% of the mean over
    10,000 resamples (with replacement) of the per-participant kappas.
    resample="items": the items are resampled and every kappa recomputed (all seeds and
    participants share each resample), which also carries the uncertainty from the items.
    """
    A = _seeds_by_items(model_correct, "model_correct")
    B, M = _human_matrix(human_correct)
    if A.shape[1] != B.shape[0]:
        raise ValueError("model_correct and human_correct must cover the same items")
    if B.shape[1] < 1:
        raise ValueError("kappa_to_humans: no participants")
    ones = np.ones((1, B.shape[0]))
    k, lo, hi = _pair_kappas(ones, A, B, M)  # (1, s, P)
    n_degenerate = int(np.isnan(k).sum())
    if n_degenerate:
        warnings.warn(
            f"{n_degenerate} degenerate model-participant kappa(s) (c_exp = 1) left out of the mean",
            DegenerateKappaWarning,
            stacklevel=2,
        )
    per_participant = _nanmean(k[0], 0)  # mean over seeds
    rng = np.random.default_rng(seed)
    if resample == "participants":
        valid = per_participant[np.isfinite(per_participant)]
        if valid.size == 0:
            boots = np.full(n_boot, np.nan)
        else:
            idx = rng.integers(0, valid.size, size=(n_boot, valid.size))
            boots = valid[idx].mean(axis=1)
    elif resample == "items":
        W = item_weights(B.shape[0], n_boot, rng)
        kb, _, _ = _pair_kappas(W, A, B, M, bounds=False)
        boots = _nanmean(_nanmean(kb, 1), 1)
    else:
        raise ValueError(f"resample must be 'participants' or 'items', not {resample!r}")
    ci = _percentiles(boots)
    return KappaEstimate(
        kappa=float(_nanmean(per_participant, 0)),
        ci_low=ci[0],
        ci_high=ci[1],
        kappa_min=float(_nanmean(_nanmean(lo[0], 0), 0)),
        kappa_max=float(_nanmean(_nanmean(hi[0], 0), 0)),
        n_items=int(B.shape[0]),
        n_observers=int(B.shape[1]),
        n_boot=n_boot,
        resample=resample,
        n_degenerate=n_degenerate,
        per_observer=per_participant,
    )


def kappa_to_truth(says_yes, truth_yes, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> KappaEstimate:
    """Cohen's kappa of the answers with the correct answers; 95% interval over items.

    says_yes: (n_items,) or (n_seeds, n_items) 0/1 answers (1 = Yes); truth_yes:
    (n_items,) 0/1. Several seeds -> mean kappa over seeds, in every item resample too.
    For humans pass each participant as a "seed" row (NaN where not shown is allowed):
    the kappa is then the mean over participants.
    """
    S = np.asarray(says_yes, dtype=float)
    S = S[None, :] if S.ndim == 1 else S
    t = _as_binary(truth_yes, "truth_yes")
    if S.shape[1] != t.shape[0]:
        raise ValueError("says_yes and truth_yes must cover the same items")
    M = (~np.isnan(S)).astype(float).T  # (n, s)
    Sb = np.nan_to_num(S, nan=0.0).T  # (n, s)
    if np.any((Sb != 0) & (Sb != 1)):
        raise ValueError("says_yes: values must be 0/1 (or NaN where not shown)")

    def stats(W, bounds=True):
        n = W @ M  # (b, s)
        p_a = (W @ (M * Sb)) / n
        p_t = (W @ (M * t[:, None])) / n
        agree = (W @ (M * (Sb == t[:, None]))) / n
        c_exp = expected_consistency(p_a, p_t)
        kap = cohen_kappa(agree, c_exp, warn=False)
        if not bounds:
            return kap, None, None
        lo, hi = kappa_bounds(p_a, p_t)
        return kap, lo, hi

    k, lo, hi = stats(np.ones((1, t.size)))
    n_degenerate = int(np.isnan(k).sum())
    if n_degenerate:
        warnings.warn(
            f"{n_degenerate} degenerate kappa(s) to the truth (c_exp = 1) left out",
            DegenerateKappaWarning,
            stacklevel=2,
        )
    rng = np.random.default_rng(seed)
    W = item_weights(t.size, n_boot, rng)
    kb, _, _ = stats(W, bounds=False)
    boots = _nanmean(kb, 1)
    ci = _percentiles(boots)
    return KappaEstimate(
        kappa=float(_nanmean(k[0], 0)),
        ci_low=ci[0],
        ci_high=ci[1],
        kappa_min=float(_nanmean(lo[0], 0)),
        kappa_max=float(_nanmean(hi[0], 0)),
        n_items=int(t.size),
        n_observers=int(S.shape[0]),
        n_boot=n_boot,
        resample="items",
        n_degenerate=n_degenerate,
        per_observer=k[0],
    )


def pair_counts(model_correct, human_correct) -> dict[str, np.ndarray]:
    """The 2 x 2 counts behind each model-participant kappa, per seed and participant.

    Returns arrays of shape (n_seeds, n_participants): `n` (items both saw), `right_i`
    (model right), `right_j` (participant right), `both_right`. What the exact tests of
    `significance` need.
    """
    A = _seeds_by_items(model_correct, "model_correct")
    B, M = _human_matrix(human_correct)
    n = np.broadcast_to(M.sum(0), (A.shape[0], B.shape[1])).astype(float)
    return {"n": n, "right_i": A @ M, "right_j": np.broadcast_to((M * B).sum(0), n.shape), "both_right": A @ (M * B)}


def human_pair_counts(human_correct) -> dict[str, np.ndarray]:
    """(P, P) 2 x 2 counts of every pair of participants on the items both saw."""
    B, M = _human_matrix(human_correct)
    right_i = (M * B).T @ M
    return {"n": M.T @ M, "right_i": right_i, "right_j": right_i.T, "both_right": (M * B).T @ (M * B)}


def pairwise_human_kappas(human_correct) -> np.ndarray:
    """(P, P) error consistency of every pair of participants (NaN on the diagonal)."""
    B, M = _human_matrix(human_correct)
    n = M.T @ M
    with np.errstate(divide="ignore", invalid="ignore"):
        p_row = ((M * B).T @ M) / n  # accuracy of i on items shared with j
        p_col = p_row.T
        both_right = (M * B).T @ (M * B)
        both_wrong = (M * (1 - B)).T @ (M * (1 - B))
        c_obs = (both_right + both_wrong) / n
    k = cohen_kappa(c_obs, expected_consistency(p_row, p_col), warn=False)
    k = np.where(n > 0, k, np.nan)
    np.fill_diagonal(k, np.nan)
    return k


def human_human_kappa(human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> KappaEstimate:
    """The ceiling: mean error consistency over all pairs of participants.

    The interval resamples participants: each participant's mean kappa to all others,
    10,000 resamples of those means (the same logic as for a model to the humans).
    """
    B, M = _human_matrix(human_correct)
    P = B.shape[1]
    if P < 2:
        raise ValueError("human_human_kappa: at least two participants are needed")
    k = pairwise_human_kappas(human_correct)
    iu = np.triu_indices(P, 1)
    pairs = k[iu]
    n_degenerate = int(np.isnan(pairs).sum())
    n = M.T @ M
    with np.errstate(divide="ignore", invalid="ignore"):
        p_row = ((M * B).T @ M) / n
    lo, hi = kappa_bounds(p_row[iu], p_row.T[iu])
    per_participant = _nanmean(k, 1)
    valid = per_participant[np.isfinite(per_participant)]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, valid.size, size=(n_boot, valid.size))
    ci = _percentiles(valid[idx].mean(axis=1))
    return KappaEstimate(
        kappa=float(_nanmean(pairs, 0)),
        ci_low=ci[0],
        ci_high=ci[1],
        kappa_min=float(_nanmean(lo, 0)),
        kappa_max=float(_nanmean(hi, 0)),
        n_items=int(B.shape[0]),
        n_observers=P,
        n_boot=n_boot,
        resample="participants",
        n_degenerate=n_degenerate,
        per_observer=per_participant,
    )


@dataclass(frozen=True)
class KappaDifference:
    """Paired bootstrap of mean kappa-to-humans of model A minus model B over items."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_boot: int

    def as_dict(self) -> dict:
        return {
            "difference": self.difference,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "n_boot": self.n_boot,
        }


def item_bootstrap_mean_kappa(
    correct, human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED
) -> tuple[float, np.ndarray]:
    """(mean kappa to the humans, its n_boot item-resampled values).

    The resamples depend only on (number of items, n_boot, seed), so two models scored on
    the same items with the same seed get the same resamples: their differences are a
    paired bootstrap (what `paired_kappa_difference` does).
    """
    A = _seeds_by_items(correct, "correct")
    H, M = _human_matrix(human_correct)
    if A.shape[1] != H.shape[0]:
        raise ValueError("the model and the humans must cover the same items")

    def mean_kappa(W):
        k, _, _ = _pair_kappas(W, A, H, M, bounds=False)
        return _nanmean(_nanmean(k, 1), 1)

    point = float(mean_kappa(np.ones((1, H.shape[0])))[0])
    return point, mean_kappa(item_weights(H.shape[0], n_boot, np.random.default_rng(seed)))


def kappa_difference_from_boots(point_a, boots_a, point_b, boots_b) -> KappaDifference:
    """Paired difference A - B from two item bootstraps drawn with the same resamples."""
    d = np.asarray(boots_a) - np.asarray(boots_b)
    n_boot = d.size
    d = d[np.isfinite(d)]
    lo, hi = _percentiles(d)
    p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))) if d.size else float("nan")
    return KappaDifference(float(point_a - point_b), lo, hi, float(p), n_boot)


def paired_kappa_difference(
    correct_a, correct_b, human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED
) -> KappaDifference:
    """Is model A more human-like than B? Paired bootstrap over items.

    Each resample draws items once and recomputes both models' mean kappa to the humans
    on it, so the item difficulty both share cancels out. The two-sided p-value is twice
    the smaller share of resampled differences on either side of 0 (capped at 1).
    """
    pa, ba = item_bootstrap_mean_kappa(correct_a, human_correct, n_boot=n_boot, seed=seed)
    pb, bb = item_bootstrap_mean_kappa(correct_b, human_correct, n_boot=n_boot, seed=seed)
    return kappa_difference_from_boots(pa, ba, pb, bb)
