"""Calibration of P(Yes) against the ground truth: Brier score, log loss, reliability.

A model can rank items like people do and still be badly calibrated (always 0.9 sure);
these scores say how far its P(Yes) is from the truth as a probability:

- Brier score: mean (p - y)^2, 0 is perfect, 0.25 is a constant 0.5.
- log loss: -mean(y log p + (1 - y) log(1 - p)), with p clipped to [eps, 1 - eps]
  (eps = float64 machine epsilon, as scikit-learn clips): an observer that gives only
  answers (p in {0, 1}) pays about 36 for each wrong answer, which is what its
  certainty deserves.
- reliability: items binned by P(Yes) into equal-width bins; per bin the mean P(Yes) and
  the share of items whose true answer is Yes. A calibrated observer lies on the diagonal.
Intervals of the scores resample items (the scores are means over items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cubeworld.analysis.metrics import DEFAULT_SEED, N_BOOT, _percentiles, item_weights

N_BINS = 10
EPS = float(np.finfo(np.float64).eps)


def _checked(p, y) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    if p.shape != y.shape or p.ndim != 1 or p.size == 0:
        raise ValueError("calibration: P(Yes) and truth must be 1-D arrays of the same length")
    if np.any((p < 0) | (p > 1)) or np.isnan(p).any():
        raise ValueError("calibration: P(Yes) must lie in [0, 1]")
    if np.any((y != 0) & (y != 1)):
        raise ValueError("calibration: truth must be 0/1")
    return p, y


def brier_losses(p, y) -> np.ndarray:
    p, y = _checked(p, y)
    return (p - y) ** 2


def log_losses(p, y) -> np.ndarray:
    p, y = _checked(p, y)
    q = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def brier_score(p, y) -> float:
    """Mean squared difference of P(Yes) and the truth (1 = Yes)."""
    return float(brier_losses(p, y).mean())


def log_loss(p, y) -> float:
    """Mean negative log likelihood of the truth under P(Yes) (clipped at eps)."""
    return float(log_losses(p, y).mean())


@dataclass(frozen=True)
class Calibration:
    brier: float
    brier_ci_low: float
    brier_ci_high: float
    log_loss: float
    log_loss_ci_low: float
    log_loss_ci_high: float
    n_items: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def calibration_scores(p, y, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> Calibration:
    """Brier score and log loss per item averaged, with 95% item-bootstrap intervals.

    p may be (n_items,) or (n_seeds, n_items): the scores are then means over seeds, in
    every resample too.
    """
    P = np.atleast_2d(np.asarray(p, dtype=float))
    y = np.asarray(y, dtype=float)
    b = np.stack([brier_losses(row, y) for row in P]).mean(0)
    ll = np.stack([log_losses(row, y) for row in P]).mean(0)
    W = item_weights(y.size, n_boot, np.random.default_rng(seed)).astype(float)
    n = W.sum(1)
    blo, bhi = _percentiles((W @ b) / n)
    llo, lhi = _percentiles((W @ ll) / n)
    return Calibration(float(b.mean()), blo, bhi, float(ll.mean()), llo, lhi, int(y.size))


def reliability_bins(p, y, n_bins: int = N_BINS) -> pd.DataFrame:
    """Equal-width bins of P(Yes): bin edges, mean P(Yes), share truly Yes, n (non-empty
    bins only). Bins are (low, high], the first one includes 0 (scikit-learn's
    `calibration_curve` draws the same bins)."""
    p, y = _checked(p, y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], p)
    n = np.bincount(idx, minlength=n_bins)
    sp = np.bincount(idx, weights=p, minlength=n_bins)
    sy = np.bincount(idx, weights=y, minlength=n_bins)
    keep = n > 0
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][keep],
            "bin_high": edges[1:][keep],
            "mean_p_yes": sp[keep] / n[keep],
            "share_yes": sy[keep] / n[keep],
            "n": n[keep],
        }
    )
