"""P(Yes | item, parameters) with a lapse, and its maximum over a grid.

The model of one answer (the physics observer's own, `noisy_newton.decide`): the share s of
noisy copies answering Yes (simulated, `shares`), a decision d = s (probability matching) or
d = [s >= threshold], and a lapse: P(Yes) = lapse/2 + (1 - lapse) d. Answers are
independent given the item, so the log-likelihood of a group's answers needs only, per item,
how many answered (`n`) and how many said Yes (`k`) -- weights, so a bootstrap resample that
draws an item or a person twice counts it twice.

The optimiser is a grid with refinement, kept deliberately simple: the simulated
parameters on a coarse grid (refined once around the best point, `shares.refined_points`),
the threshold on its grid (free: no new simulation), the lapse on a fine grid and then by
scipy's bounded scalar minimiser at the best point. Grids make the likelihood surface
inspectable and every candidate reuses one table of simulations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

EPS = 1e-9
LAPSE_STEPS = 101


def log_lik(p: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Sum over the last axis of k log p + (n - k) log(1 - p)."""
    p = np.clip(p, EPS, 1 - EPS)
    return (k * np.log(p) + (n - k) * np.log1p(-p)).sum(axis=-1)


def decisions(shares: np.ndarray, thresholds: Sequence[float | None]) -> np.ndarray:
    """(points x thresholds x items): the share itself (None) or 1/0 at each threshold."""
    out = [shares if t is None else (shares >= t - 1e-12).astype(float) for t in thresholds]
    return np.stack(out, axis=1)


def p_yes(decision: np.ndarray, lapse: float) -> np.ndarray:
    return lapse / 2 + (1 - lapse) * decision


@dataclass(frozen=True)
class GridFit:
    """The best (point, threshold, lapse) of a grid and its log-likelihood."""

    point: int
    threshold: float | None
    lapse: float
    log_lik: float


def fit_grid(
    shares: np.ndarray,
    thresholds: Sequence[float | None],
    k: np.ndarray,
    n: np.ndarray,
    lapse_max: float,
    polish: bool = True,
) -> GridFit:
    """The maximum-likelihood grid cell for answers (k Yes of n per item)."""
    from scipy.optimize import minimize_scalar

    d = decisions(shares, thresholds)  # (P, T, I)
    lapses = np.linspace(0.0, lapse_max, LAPSE_STEPS)
    p = lapses[None, None, :, None] / 2 + (1 - lapses[None, None, :, None]) * d[:, :, None, :]
    ll = log_lik(p, k, n)  # (P, T, L)
    j, t, lo = np.unravel_index(int(np.argmax(ll)), ll.shape)
    lapse, best = float(lapses[lo]), float(ll[j, t, lo])
    if polish:
        res = minimize_scalar(
            lambda x: -float(log_lik(p_yes(d[j, t], x), k, n)),
            bounds=(0.0, lapse_max),
            method="bounded",
            options={"xatol": 1e-5},
        )
        if -res.fun > best:
            lapse, best = float(res.x), float(-res.fun)
    return GridFit(int(j), thresholds[int(t)], lapse, best)


def per_size_p(keys: Sequence[str], truth: np.ndarray, k: np.ndarray, n: np.ndarray) -> dict[str, float]:
    """The accuracy-only model's accuracy per size (training answers, Laplace-smoothed)."""
    right = np.where(truth, k, n - k)
    out = {}
    for key in sorted(set(keys)):
        idx = np.array([x == key for x in keys])
        out[key] = float((right[idx].sum() + 1) / (n[idx].sum() + 2))
    return out


def per_size_yes(keys: Sequence[str], truth: np.ndarray, accuracy: dict[str, float]) -> np.ndarray:
    """P(Yes) of the accuracy-only model: right with its size's accuracy (0.5 for an unseen size)."""
    acc = np.array([accuracy.get(key, 0.5) for key in keys])
    return np.where(truth, acc, 1 - acc)
