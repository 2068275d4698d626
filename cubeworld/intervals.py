"""The Wilson score interval, once for the whole toolkit (cards, reports, planners).

The closed form, vectorised over numpy arrays, with the normal quantile from the standard
library: the same numbers as statsmodels' `proportion_confint(..., method="wilson")` (a test
checks it) without importing statsmodels (about 1.4 s) into every generation that writes a
card. The study reports Wilson intervals, so the method is named, never a default.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

CI_LEVEL = 0.95


def wilson_interval(k: Any, n: Any, alpha: float = 1 - CI_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval(s) for `k` successes in `n` trials (arrays broadcast)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n <= 0):
        raise ValueError("wilson_interval: n must be positive")
    if np.any((k < 0) | (k > n)):
        raise ValueError("wilson_interval: k must lie in [0, n]")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
