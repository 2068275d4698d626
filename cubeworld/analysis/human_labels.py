"""How good are people's answers as labels? The majority answer per item against the truth.

A condition trained on human labels learns the majority answer of several participants
per item, not the ground truth. How often that majority is right (accuracy) and how
strongly it goes with the truth (phi: the Pearson correlation of two 0/1 variables,
Matthews' correlation coefficient) bound what such training can teach; the paper reports
this agreement in its section 3.6 (66%, phi 0.33 on the Lerer100 half the quick study
trains on).

A tie (as many Yes as No) gives no majority: it is counted and left out, as the labels'
tie-breaking coin is the training's own. Intervals are crossed: each resample draws the
items and the participants, recomputes each item's majority from the drawn people, and
scores it on the drawn items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.analysis.correlation import weighted_pearson
from cubeworld.analysis.metrics import DEFAULT_SEED, N_BOOT, _percentiles, item_weights, resample_weights


@dataclass(frozen=True)
class LabelAgreement:
    accuracy: float
    accuracy_ci_low: float
    accuracy_ci_high: float
    phi: float
    phi_ci_low: float
    phi_ci_high: float
    n_items: int
    n_ties: int
    n_participants: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def majority_agreement(responses: Any, truth: Any, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> LabelAgreement:
    """Accuracy and phi of the per-item majority of `responses` ((items x participants)
    0/1, NaN = not shown) against `truth` ((items,) 0/1)."""
    R = np.asarray(responses, dtype=float)
    y = np.asarray(truth, dtype=float)
    if R.ndim != 2 or R.shape[0] != y.size:
        raise ValueError("majority_agreement: responses (items x participants) and truth (items) must match")
    M = (~np.isnan(R)).astype(float)
    X = np.nan_to_num(R)
    yes, seen = (X * M).sum(1), M.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = yes / seen
    decided = (seen > 0) & (share != 0.5)
    maj = (share > 0.5).astype(float)
    acc = float(np.mean(maj[decided] == y[decided])) if decided.any() else float("nan")
    phi = float(weighted_pearson(maj, y, decided.astype(float)))
    rng = np.random.default_rng(seed)
    W = item_weights(y.size, n_boot, rng).astype(float)
    V = resample_weights(R.shape[1], n_boot, rng).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        share_b = (V @ (X * M).T) / (V @ M.T)
    ok = np.isfinite(share_b) & (share_b != 0.5)
    maj_b = (share_b > 0.5).astype(float)
    Wd = W * ok
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_b = (Wd * (maj_b == y)).sum(1) / Wd.sum(1)
    phi_b = weighted_pearson(maj_b, y, Wd)
    alo, ahi = _percentiles(acc_b)
    plo, phi_hi = _percentiles(phi_b)
    return LabelAgreement(
        acc, alo, ahi, phi, plo, phi_hi, int(decided.sum()), int((seen > 0).sum() - decided.sum()), int(R.shape[1])
    )
