"""Discrimination: the ROC AUC of an observer's P(Yes) for the true answer.

Accuracy thresholds P(Yes) at 0.5; an observer can keep ranking falling towers above
standing ones while its threshold drifts (a trained CNN on towers larger than it saw), so
its accuracy sits near chance while its AUC does not. The AUC is the probability that a
random falling item gets a higher P(Yes) than a random standing one (ties count half):
the Mann-Whitney U statistic over the product of the class sizes.

Resampled items are integer weights (`metrics.item_weights`); the AUC of the sample they
describe uses the average ranks of the expanded sample (`correlation.weighted_ranks`), so
every resample is computed at once. Several seeds: the mean AUC over seeds, in every
resample too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.analysis.correlation import weighted_ranks
from cubeworld.analysis.metrics import DEFAULT_SEED, N_BOOT, _percentiles, item_weights


def _checked(scores: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    y = np.asarray(truth, dtype=float)
    if y.ndim != 1 or s.shape[1] != y.size:
        raise ValueError("roc_auc: scores (seeds x items) and truth (items) must cover the same items")
    if np.isnan(s).any() or np.any((y != 0) & (y != 1)):
        raise ValueError("roc_auc: scores must be finite and truth 0/1")
    return s, y


def weighted_auc(scores: Any, truth: Any, weights: Any) -> np.ndarray:
    """AUC of one score vector (n,) under item weights (n_boot, n): NaN where a resample
    holds only one class."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(truth, dtype=float)
    W = np.atleast_2d(np.asarray(weights, dtype=float))
    ranks = weighted_ranks(s, W) if W.shape[0] > 1 else weighted_ranks(s, W[0])[None, :]
    n_pos = W @ y
    n_neg = W @ (1 - y)
    u = (W * ranks) @ y - n_pos * (n_pos + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def roc_auc(scores: Any, truth: Any) -> float:
    """ROC AUC of P(Yes) for the truth (1 = falls); (seeds x items): mean over seeds."""
    s, y = _checked(scores, truth)
    ones = np.ones((1, y.size))
    return float(np.mean([weighted_auc(row, y, ones)[0] for row in s]))


@dataclass(frozen=True)
class AUC:
    auc: float
    ci_low: float
    ci_high: float
    n_items: int

    def as_dict(self) -> dict[str, Any]:
        return {"auc": self.auc, "auc_ci_low": self.ci_low, "auc_ci_high": self.ci_high}


def auc_interval(scores: Any, truth: Any, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> AUC:
    """The AUC with a 95% item-bootstrap interval (seeds averaged in every resample)."""
    s, y = _checked(scores, truth)
    point = roc_auc(s, y)
    if not (0 < y.sum() < y.size):
        return AUC(float("nan"), float("nan"), float("nan"), int(y.size))
    W = item_weights(y.size, n_boot, np.random.default_rng(seed)).astype(float)
    boots = np.mean([weighted_auc(row, y, W) for row in s], axis=0)
    lo, hi = _percentiles(boots)
    return AUC(point, lo, hi, int(y.size))
