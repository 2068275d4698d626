"""Intervals over items: a bootstrap of the stimuli, shared by every probe of a task.

Why resample stimuli: the items are a sample of the stimuli the claim is about, as
participants are of people. Each resample draws the task's stimulus groups with
replacement (every row of a drawn stimulus comes along), and gives every row a weight (how
often its group was drawn); a score is then the weighted score, so all statistics are
matrix products over one (resamples x rows) weight matrix, computed in chunks.

The same resamples serve every point and pool of a task and the observer's behaviour on
those items, so contrasts between them (probe minus behaviour) are paired. What the
intervals do not hold: the variability of refitting the probes on other training folds
(the out-of-fold predictions are taken as given, as in a bootstrap of a test set).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 256  # resamples per weight matrix: bounds memory at CHUNK x rows floats


def resample_weights(groups: np.ndarray, n_boot: int, seed: int, salt: int) -> Iterator[np.ndarray]:
    """(resamples x rows) weights, CHUNK resamples at a time, `n_boot` in all."""
    n_groups = int(groups.max()) + 1
    rng = np.random.default_rng([seed, salt])
    left = n_boot
    while left > 0:
        b = min(CHUNK, left)
        counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=b).astype(np.float64)
        yield counts[:, groups]
        left -= b


def accuracy(W: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Weighted share of correct rows, per resample."""
    return (W @ correct.astype(np.float64)) / W.sum(axis=1)


def r2(W: np.ndarray, y: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Weighted 1 - SSE / SST (SST around the resample's weighted mean); NaN where a
    resample's values do not vary."""
    sw = W.sum(axis=1)
    mean = (W @ y) / sw
    sst = W @ (y * y) - sw * mean * mean
    sse = W @ ((y - predictions) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 1.0 - sse / sst
    out[~(sst > 1e-12 * np.maximum(1.0, W @ (y * y)))] = np.nan
    return out


def kappa(W: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted Cohen's kappa of two 0/1 raters, per resample; NaN where chance agreement
    is 1 (both raters constant and equal)."""
    sw = W.sum(axis=1)
    observed = (W @ (a == b).astype(np.float64)) / sw
    pa, pb = (W @ a) / sw, (W @ b) / sw
    expected = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (observed - expected) / (1 - expected)
    out[~(expected < 1 - 1e-12)] = np.nan
    return out


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` percentile interval of the finite samples (NaN, NaN if none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def one_sided_p(gains: np.ndarray) -> float:
    """Bootstrap p-value of "the gain is above 0": (1 + #resamples with gain <= 0) / (1 + #resamples)."""
    finite = gains[np.isfinite(gains)]
    if finite.size == 0:
        return 1.0
    return float((1 + np.sum(finite <= 0)) / (1 + finite.size))
