"""Effects as contrasts: how much accuracy a trained observer loses off its training data.

The study's main result is a *difference*: an observer fine-tuned on towers of 2-4 blocks
is right more often on new towers of 2-4 blocks than on towers of 5-7 (or on pyramids, or
on photos). Reading it off two separate accuracies with two intervals hides its size and
its uncertainty, so it is computed as one number:

    drop = accuracy in distribution - accuracy out of distribution

with both accuracies the mean over the observer's training seeds. Its uncertainty has two
sources - which items were drawn, and which training runs (seeds) - so the interval is a
crossed bootstrap: each resample draws the items of each group and the seeds, with
replacement and independently, and recomputes the drop (vectorised: item weights times
the seeds' 0/1 correctness, one matrix product per group). The test is one-sided (the
trained sizes are expected to be easier): a permutation test of the group labels over
items, on each item's correctness averaged over seeds, so an item is one unit whatever the
number of seeds. The permutations are drawn all at once (one shuffled matrix); a test
checks the p-value against scipy's `permutation_test`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.analysis.metrics import DEFAULT_SEED, N_BOOT, _percentiles, item_weights, weighted_nanmean

N_PERMUTATIONS = 9_999


@dataclass(frozen=True)
class Contrast:
    """In-distribution minus out-of-distribution accuracy, its interval and its test."""

    accuracy_in: float
    accuracy_out: float
    drop: float
    ci_low: float
    ci_high: float
    p_value: float
    n_in: int
    n_out: int
    n_seeds: int
    n_boot: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accuracy_in": self.accuracy_in,
            "accuracy_out": self.accuracy_out,
            "drop": self.drop,
            "drop_ci_low": self.ci_low,
            "drop_ci_high": self.ci_high,
            "p_value": self.p_value,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "n_seeds": self.n_seeds,
        }


def _matrix(x: Any, name: str) -> np.ndarray:
    a = np.atleast_2d(np.asarray(x, dtype=float))
    if a.ndim != 2 or a.shape[1] == 0 or np.isnan(a).any() or np.any((a != 0) & (a != 1)):
        raise ValueError(f"{name}: a (seeds x items) 0/1 matrix with at least one item is needed")
    return a


def accuracy_drop(
    correct_in: Any,
    correct_out: Any,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
    n_permutations: int = N_PERMUTATIONS,
) -> Contrast:
    """The drop in accuracy from in-distribution to out-of-distribution items.

    correct_in, correct_out: (n_seeds, n_items) 0/1 correctness of the same seeds (rows in
    the same order) on the two groups of items. Interval: crossed bootstrap over the items
    of each group and the seeds. p-value: one-sided permutation test (drop > 0) of the
    group labels over items, on the seed-mean correctness of each item.
    """
    A = _matrix(correct_in, "correct_in")
    B = _matrix(correct_out, "correct_out")
    if A.shape[0] != B.shape[0]:
        raise ValueError("correct_in and correct_out must hold the same seeds")
    s = A.shape[0]
    acc_in, acc_out = float(A.mean()), float(B.mean())
    rng = np.random.default_rng(seed)
    Wa = item_weights(A.shape[1], n_boot, rng).astype(float)
    Wb = item_weights(B.shape[1], n_boot, rng).astype(float)
    per_seed = (Wa @ A.T) / A.shape[1] - (Wb @ B.T) / B.shape[1]  # (n_boot, s)
    if s > 1:
        boots = weighted_nanmean(per_seed, item_weights(s, n_boot, rng).astype(float))
    else:
        boots = per_seed[:, 0]
    lo, hi = _percentiles(boots)
    p = permutation_p(A.mean(0), B.mean(0), n_permutations=n_permutations, seed=seed)
    return Contrast(acc_in, acc_out, acc_in - acc_out, lo, hi, p, int(A.shape[1]), int(B.shape[1]), s, n_boot)


def permutation_p(x: Any, y: Any, *, n_permutations: int = N_PERMUTATIONS, seed: int = DEFAULT_SEED) -> float:
    """One-sided p of mean(x) > mean(y) by permuting the group labels: (1 + #permuted
    differences >= observed) / (1 + n_permutations), as scipy's `permutation_test` counts
    (the observed split is one of the permutations). Permutations are shuffled rows of one
    matrix, in chunks."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    both = np.concatenate([x, y])
    if np.ptp(both) == 0:
        return 1.0  # every item alike: no evidence of any difference
    observed = x.mean() - y.mean()
    rng = np.random.default_rng(seed)
    n_x, hits = x.size, 0
    eps = 1e-12 * max(1.0, abs(observed))  # a tie in floating point is a tie
    for start in range(0, n_permutations, 2_000):
        m = min(2_000, n_permutations - start)
        perm = rng.permuted(np.broadcast_to(both, (m, both.size)), axis=1)
        d = perm[:, :n_x].mean(1) - perm[:, n_x:].mean(1)
        hits += int(np.sum(d >= observed - eps))
    return float((1 + hits) / (1 + n_permutations))
