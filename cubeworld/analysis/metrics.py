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
- intervals: items are a sample, as participants (and a model's training seeds) are. The
  report's intervals therefore resample them *together*, a crossed bootstrap
  (`resample="crossed"`, the default): each resample draws the items and, independently,
  the participants (or seeds) with replacement, recomputes every kappa on the drawn items
  and averages it over the drawn participants. The paper resampled participants only
  (`resample="participants"`), which holds the items fixed and gives intervals several
  times narrower on Lerer100; it stays available, labelled as the paper's.
- bootstraps draw with `numpy.random.Generator(PCG64(seed))` so that a report is
  reproducible; resampled items (and participants) are integer weights from one
  multinomial draw per resample, which turns every resample's counts into one matrix
  product (`resample_weights`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from cubeworld.intervals import wilson_interval  # noqa: F401 - one Wilson interval, re-exported

N_BOOT = 10_000
CI_LEVEL = 0.95
DEFAULT_SEED = 0
RESAMPLES = ("crossed", "participants", "items")
# Human-human ceiling: the pair kappas of one item resample cost P^2; each is crossed with
# this many participant resamples (a two-stage Monte Carlo of the same crossed bootstrap).
ITEM_DRAWS = 1_000
# The most memory one crossed bootstrap may ask for (`bootstrap_bytes`); a larger --n-boot
# is refused before any work, with the largest count that fits.
MAX_BOOTSTRAP_BYTES = 4 * 2**30


def bootstrap_bytes(n_boot: int, n_items: int, n_participants: int = 0, n_seeds: int = 1) -> int:
    """An upper estimate of the peak memory of one crossed bootstrap (`kappa_to_humans`,
    `kappa_to_truth`, `human_human_kappa`) of `n_items` items, `n_participants` people
    and an observer with `n_seeds` seeds.

    Every resample holds a row of item counts (int64 draws, their bincount, float32) and
    a row of weighted counts per participant and seed; the human-human ceiling adds its
    chunks of P x P pair kappas, whatever n_boot. The per-resample constants are about
    twice the peaks tracemalloc measured (24 vs 20 bytes per item; 32 vs 13-16 per
    participant and seed), so the refusal errs on the safe side.
    """
    per_resample = 24 * n_items + 32 * (1 + n_seeds) * n_participants
    return int(n_boot) * per_resample + 2048 * n_participants**2


def max_resamples(n_items: int, n_participants: int = 0, n_seeds: int = 1, limit: int = MAX_BOOTSTRAP_BYTES) -> int:
    """The most resamples whose bootstrap stays within `limit` bytes (`bootstrap_bytes`)."""
    per_resample = 24 * n_items + 32 * (1 + n_seeds) * n_participants
    return max(0, (limit - 2048 * n_participants**2) // max(per_resample, 1))


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
    boots: np.ndarray | None = field(default=None, repr=False, compare=False)  # the resampled means

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
    """(n_boot, n_items) counts of how often each unit is drawn in each resample.

    Each resample draws n_items indices uniformly with replacement (the ordinary
    bootstrap); one flat bincount turns all draws into counts at once. float32 holds these
    small integer counts (and the 0/1 matrices they multiply) exactly. The units may be
    items, participants or seeds (`resample_weights` names the use).
    """
    idx = rng.integers(0, n_items, size=(n_boot, n_items))
    idx += (np.arange(n_boot) * n_items)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n_boot * n_items)
    return counts.reshape(n_boot, n_items).astype(np.float32)


resample_weights = item_weights  # the same draw for any unit: items, participants, seeds


def weighted_nanmean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the mean of `values` under `weights` (both (n_boot, k)), leaving NaNs out
    (NaN where no weight is left): the mean over resampled participants or seeds."""
    ok = np.isfinite(values)
    num = (np.where(ok, values, 0.0) * weights).sum(-1, dtype=np.float64)
    den = (weights * ok).sum(-1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _check_resample(resample: str, allowed: tuple[str, ...] = RESAMPLES) -> None:
    if resample not in allowed:
        raise ValueError(f"resample must be one of {list(allowed)}, not {resample!r}")


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
    """kappa of observer rows A against columns B (n, P) under item weights W.

    A: model correctness per seed, (s, n), or per seed and participant, (s, n, P), with
    NaN where a pair is not compared (an observer that is one of the participants, or
    their majority without the participant: `people.leave_one_out_correct`); B: human
    correctness (0 where missing); M: (n, P) mask of shown items. All weighted counts come
    from one matrix product W @ [M, M*B, M*a_1, M*a_1*B, ...] (float32: the counts are
    small integers, exact); kappa follows from the counts (`kappa_from_counts`). Returns
    (n_boot, s, P) kappas and bounds; the resamples (bounds=False) stay in float32, the
    point estimate in float64. A pair with no item compared has NaN.
    """
    P = B.shape[1]
    per_participant = np.ndim(A) == 3
    if per_participant:  # each row has its own mask: 4 column blocks per row
        cols = []
        for a in A:
            mi = M * ~np.isnan(a)
            ai = mi * np.nan_to_num(a)
            cols += [mi, mi * B, ai, ai * B]
    else:
        cols = [M, M * B]
        for a in A:
            am = M * a[:, None]
            cols += [am, am * B]
    C = np.asarray(W, dtype=np.float32) @ np.concatenate(cols, axis=1).astype(np.float32)
    if bounds:
        C = C.astype(np.float64)
    out_k, out_lo, out_hi = [], [], []
    for i in range(len(A)):
        if per_participant:
            n_j, right_h, right_m, both_right = (C[:, (4 * i + b) * P : (4 * i + b + 1) * P] for b in range(4))
        else:
            n_j, right_h = C[:, :P], C[:, P : 2 * P]
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


def _model_rows(model_correct, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A model's correctness as (s, n) or (s, n, P) rows, and which pairs are compared
    ((s, P): some item the participant saw (mask M, (n, P)) is compared)."""
    n_items, n_participants = M.shape
    a = np.asarray(model_correct, dtype=float)
    if a.ndim == 3:
        if a.shape[1:] != (n_items, n_participants):
            raise ValueError("model_correct per participant must be (n_seeds, n_items, n_participants)")
        ok = ~np.isnan(a)
        if np.any((a[ok] != 0) & (a[ok] != 1)):
            raise ValueError("model_correct: values must be 0/1 (or NaN where not compared)")
        return a, (ok & (M[None] > 0)).any(axis=1)
    A = _seeds_by_items(model_correct, "model_correct")
    if A.shape[1] != n_items:
        raise ValueError("model_correct and human_correct must cover the same items")
    return A, np.broadcast_to((M > 0).any(axis=0), (A.shape[0], n_participants))


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


def _seed_mean(k: np.ndarray, U: np.ndarray | None) -> np.ndarray:
    """(n_boot, s, P) kappas -> (n_boot, P): mean over seeds, under seed weights U
    (n_boot, s) when the seeds are resampled."""
    if U is None or k.shape[1] == 1:
        return _nanmean(k, 1)
    return weighted_nanmean(np.moveaxis(k, 1, 2), U[:, None, :])


def kappa_to_humans(
    model_correct,
    human_correct,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
    resample: str = "crossed",
) -> KappaEstimate:
    """Mean error consistency of a model with each participant, with a 95% interval.

    model_correct: (n_items,) or (n_seeds, n_items) 0/1; several seeds -> per-participant
    kappa is the mean over seeds (as the study averaged seeds). human_correct:
    (n_items, n_participants) 0/1 with NaN where a participant did not see an item; each
    pair uses the items both saw. An observer made of the participants themselves gives
    model_correct per participant, (n_seeds, n_items, n_participants) with NaN where a
    pair is not compared (a person with themselves; the majority of the others against
    each participant: `people.leave_one_out_correct`): such a participant's kappa is NaN,
    left out of the mean and of `n_observers`, and not counted as degenerate. The
    participant resamples stay the same as every other observer's (paired comparisons).

    resample="crossed" (the report's): each resample draws the items, the participants
    and (with several) the seeds, each with replacement and independently; every kappa is
    recomputed on the drawn items and averaged over the drawn seeds and participants.
    resample="participants" (the paper's): the per-participant kappas are resampled, the
    items held fixed. resample="items": the items only. The resampled means are kept in
    `boots` (for a bootstrap p-value).
    """
    _check_resample(resample)
    B, M = _human_matrix(human_correct)
    if B.shape[1] < 1:
        raise ValueError("kappa_to_humans: no participants")
    A, compared = _model_rows(model_correct, M)
    ones = np.ones((1, B.shape[0]))
    k, lo, hi = _pair_kappas(ones, A, B, M)  # (1, s, P)
    n_degenerate = int((np.isnan(k[0]) & compared).sum())
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
    else:
        W = item_weights(B.shape[0], n_boot, rng)
        kb, _, _ = _pair_kappas(W, A, B, M, bounds=False)  # (n_boot, s, P)
        if resample == "items":
            boots = _nanmean(_nanmean(kb, 1), 1)
        else:
            V = resample_weights(B.shape[1], n_boot, rng)
            U = resample_weights(A.shape[0], n_boot, rng) if A.shape[0] > 1 else None
            boots = weighted_nanmean(_seed_mean(kb, U), V)
    ci = _percentiles(boots)
    return KappaEstimate(
        kappa=float(_nanmean(per_participant, 0)),
        ci_low=ci[0],
        ci_high=ci[1],
        kappa_min=float(_nanmean(_nanmean(lo[0], 0), 0)),
        kappa_max=float(_nanmean(_nanmean(hi[0], 0), 0)),
        n_items=int(B.shape[0]),
        n_observers=int(compared.any(axis=0).sum()),
        n_boot=n_boot,
        resample=resample,
        n_degenerate=n_degenerate,
        per_observer=per_participant,
        boots=np.asarray(boots, dtype=float),
    )


def kappa_to_truth(
    says_yes, truth_yes, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED, resample: str = "crossed"
) -> KappaEstimate:
    """Cohen's kappa of the answers with the correct answers, with a 95% interval.

    says_yes: (n_items,) or (n_rows, n_items) 0/1 answers (1 = Yes); truth_yes:
    (n_items,) 0/1. Rows are a model's seeds, or - for people - the participants (NaN
    where not shown is allowed): the kappa is then the mean over rows. The interval
    resamples the items and, with resample="crossed" (default) and several rows, the rows
    too (seeds or participants); resample="items" holds the rows fixed.
    """
    _check_resample(resample, ("crossed", "items"))
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
        with np.errstate(divide="ignore", invalid="ignore"):
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
    if resample == "crossed" and S.shape[0] > 1:
        boots = weighted_nanmean(kb, resample_weights(S.shape[0], n_boot, rng))
    else:
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
        resample=resample if S.shape[0] > 1 else "items",
        n_degenerate=n_degenerate,
        per_observer=k[0],
        boots=np.asarray(boots, dtype=float),
    )


def pair_counts(model_correct, human_correct) -> dict[str, np.ndarray]:
    """The 2 x 2 counts behind each model-participant kappa, per seed and participant.

    Returns arrays of shape (n_seeds, n_participants): `n` (items both saw), `right_i`
    (model right), `right_j` (participant right), `both_right`. What the exact tests of
    `significance` need. A model per participant ((s, n, P), NaN where not compared) counts
    only the compared items (n = 0 where none is).
    """
    B, M = _human_matrix(human_correct)
    A, _ = _model_rows(model_correct, M)
    if A.ndim == 3:
        mi = M[None] * ~np.isnan(A)
        ai = mi * np.nan_to_num(A)
        return {"n": mi.sum(1), "right_i": ai.sum(1), "right_j": (mi * B).sum(1), "both_right": (ai * B).sum(1)}
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


def _pair_kappa_stack(W: np.ndarray, B: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(c, P, P) error consistency of every pair of participants under each row of item
    weights W (c, n); NaN where a pair is degenerate or shares no item, and on the
    diagonal. The counts of all pairs come from matrix products of W with the items'
    outer products (float32: small integer counts, exact)."""
    n_items, P = B.shape
    W = np.asarray(W, dtype=np.float32)
    MB = (M * B).astype(np.float32)
    c = W.shape[0]
    if np.all(M == 1):  # everyone saw every item: n and the accuracies are per participant
        nn = W.sum(1)[:, None, None]
        r = W @ MB
        a, b = r[:, :, None], r[:, None, :]
    else:
        Mf = M.astype(np.float32)
        nn = (W @ (Mf[:, :, None] * Mf[:, None, :]).reshape(n_items, P * P)).reshape(c, P, P)
        a = (W @ (MB[:, :, None] * Mf[:, None, :]).reshape(n_items, P * P)).reshape(c, P, P)
        b = np.swapaxes(a, 1, 2)
    x = (W @ (MB[:, :, None] * MB[:, None, :]).reshape(n_items, P * P)).reshape(c, P, P)
    ab = a * b
    den = nn * (a + b) - 2 * ab  # a (n - b) + b (n - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 2 * (nn * x - ab) / den
    k[~(den > 0)] = np.nan
    idx = np.arange(P)
    k[:, idx, idx] = np.nan
    return k


def _pair_mean_under(K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Mean pair kappa over resampled participants: for each participant resample
    (rows of V (c, r, P), r per pair matrix K (c, P, P)), the mean of K[p, q] over pairs
    of drawn participants p != q, weighted V_p V_q (a participant is never paired with
    itself, nor with its own copy). NaN pairs are left out. Returns (c, r)."""
    ok = np.isfinite(K)
    Kz = np.where(ok, K, 0.0).astype(np.float32)
    Vt = np.swapaxes(V, 1, 2).astype(np.float32)  # (c, P, r)
    num = np.einsum("crp,cpr->cr", V, Kz @ Vt, dtype=np.float64)
    sv = V.sum(-1, dtype=np.float64)
    den = sv * sv - (V.astype(np.float64) ** 2).sum(-1)
    bad = ~ok
    idx = np.arange(K.shape[1])
    bad[:, idx, idx] = False
    if bad.any():  # degenerate pairs carry no weight
        den = den - np.einsum("crp,cpr->cr", V, bad.astype(np.float32) @ Vt, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def crossed_pair_means(
    human_correct, n_boot: int, rng: np.random.Generator, *, item_draws: int = ITEM_DRAWS, chunk: int = 64
) -> np.ndarray:
    """`n_boot` crossed resamples of the mean kappa over all pairs of participants.

    Each resample draws items and participants with replacement; the pairs are those of
    distinct drawn participants (weight V_p V_q). The P x P pair kappas of an item resample
    cost P^2, so `item_draws` item resamples are each crossed with n_boot / item_draws
    participant resamples: a two-stage Monte Carlo of the same bootstrap distribution.
    """
    B, M = _human_matrix(human_correct)
    n_items, P = B.shape
    n_item = max(1, min(n_boot, item_draws))
    per = -(-n_boot // n_item)
    W = item_weights(n_items, n_item, rng)
    V = resample_weights(P, n_item * per, rng).reshape(n_item, per, P)
    out = np.empty((n_item, per))
    for c in range(0, n_item, chunk):
        K = _pair_kappa_stack(W[c : c + chunk], B, M)
        out[c : c + chunk] = _pair_mean_under(K, V[c : c + chunk])
    return out.ravel()[:n_boot]


def human_human_kappa(
    human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED, resample: str = "crossed"
) -> KappaEstimate:
    """The ceiling: mean error consistency over all pairs of participants.

    resample="crossed" (the report's): items and participants resampled together
    (`crossed_pair_means`). resample="participants" (the paper's): each participant's mean
    kappa to all others, resampled; with the items fixed, and treating a participant's
    mean as independent of the others', this interval is narrower than the pair mean's
    own sampling error.
    """
    _check_resample(resample, ("crossed", "participants"))
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
    rng = np.random.default_rng(seed)
    if resample == "participants":
        valid = per_participant[np.isfinite(per_participant)]
        idx = rng.integers(0, valid.size, size=(n_boot, valid.size))
        boots = valid[idx].mean(axis=1)
    else:
        boots = crossed_pair_means(human_correct, n_boot, rng)
    ci = _percentiles(boots)
    return KappaEstimate(
        kappa=float(_nanmean(pairs, 0)),
        ci_low=ci[0],
        ci_high=ci[1],
        kappa_min=float(_nanmean(lo, 0)),
        kappa_max=float(_nanmean(hi, 0)),
        n_items=int(B.shape[0]),
        n_observers=P,
        n_boot=n_boot,
        resample=resample,
        n_degenerate=n_degenerate,
        per_observer=per_participant,
        boots=np.asarray(boots, dtype=float),
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


def bootstrap_mean_kappa(
    correct, human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED, resample: str = "crossed"
) -> tuple[float, np.ndarray]:
    """(mean kappa to the humans, its n_boot resampled values), as `kappa_to_humans`.

    The item and participant resamples depend only on (number of items, number of
    participants, n_boot, seed), so two models scored on the same items against the same
    people with the same seed get the same resamples: their differences are a paired
    bootstrap (what `paired_kappa_difference` does). Each model's own seeds are resampled
    apart from the other's (they are not paired).
    """
    _, M = _human_matrix(human_correct)
    A, _ = _model_rows(correct, M)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateKappaWarning)
        est = kappa_to_humans(A, human_correct, n_boot=n_boot, seed=seed, resample=resample)
    assert est.boots is not None
    return est.kappa, est.boots


def kappa_difference_from_boots(point_a, boots_a, point_b, boots_b) -> KappaDifference:
    """Paired difference A - B from two bootstraps drawn with the same resamples; its
    p-value is two-sided (no observer is expected to be the more human-like one)."""
    from cubeworld.analysis.significance import bootstrap_p_value

    d = np.asarray(boots_a) - np.asarray(boots_b)
    n_boot = d.size
    d = d[np.isfinite(d)]
    lo, hi = _percentiles(d)
    p = bootstrap_p_value(d, 0.0, alternative="two-sided")
    return KappaDifference(float(point_a - point_b), lo, hi, float(p), n_boot)


def paired_kappa_difference(
    correct_a, correct_b, human_correct, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED
) -> KappaDifference:
    """Is model A more human-like than B? Paired crossed bootstrap over items and people.

    Each resample draws items and participants once and recomputes both models' mean
    kappa to the humans on them, so the item difficulty and the people both share cancel
    out. The two-sided p-value is twice the smaller share of resampled differences on
    either side of 0 (+1 corrected, capped at 1).
    """
    pa, ba = bootstrap_mean_kappa(correct_a, human_correct, n_boot=n_boot, seed=seed)
    pb, bb = bootstrap_mean_kappa(correct_b, human_correct, n_boot=n_boot, seed=seed)
    return kappa_difference_from_boots(pa, ba, pb, bb)
