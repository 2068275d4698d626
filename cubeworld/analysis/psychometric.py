"""Psychometric curves: P(Yes) as a logistic function of a stimulus' difficulty.

Every generated stimulus records a difficulty (contract B; towers: the signed analytic
stability margin in mm, larger = more clearly "No"). The curve

    P(Yes | d) = 1 / (1 + exp(-(b0 + b1 d)))

is fitted by maximum likelihood with statsmodels' GLM (binomial family, logit link):

- slope b1: how sharply the observer's answers change with difficulty (negative when
  larger d means "No", as the contract orients it); 95% Wald interval, and the one-sided
  Wald p-value of b1 < 0 (`slope_p`: the direction the contract predicts).
- threshold d50 = -b0 / b1: the difficulty at which Yes and No are equally likely;
  95% interval by the delta method from the covariance of (b0, b1).
- The response is each observer's P(Yes) per item and seed when it gives graded
  probabilities (a fractional-response logit: the same likelihood, standard errors
  scaled by the Pearson dispersion), else its 0/1 answers; for humans every response is
  one trial and the standard errors are robust to clustering by participant.
- A response that is the same everywhere has no curve (NaN, `ConstantObserverWarning`);
  perfect separation (answers flip exactly at one difficulty) leaves the slope
  unidentified (NaN, noted).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from cubeworld.analysis.correlation import ConstantObserverWarning

Z95 = 1.959963984540054


@dataclass(frozen=True)
class PsychometricFit:
    intercept: float
    slope: float
    slope_ci_low: float
    slope_ci_high: float
    threshold: float
    threshold_ci_low: float
    threshold_ci_high: float
    n_trials: int
    note: str = ""
    slope_p: float = float("nan")  # one-sided Wald p of slope < 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def curve(self, x) -> np.ndarray:
        """The fitted P(Yes) at difficulties x (NaN when there is no fit)."""
        x = np.asarray(x, dtype=float)
        with np.errstate(over="ignore"):
            return 1 / (1 + np.exp(-(self.intercept + self.slope * x)))


def _nan_fit(n: int, note: str) -> PsychometricFit:
    nan = float("nan")
    return PsychometricFit(nan, nan, nan, nan, nan, nan, nan, n, note)


def fit_psychometric(x, y, *, groups=None, name: str = "observer") -> PsychometricFit:
    """Logistic fit of responses y (0/1 or probabilities) on difficulties x.

    groups: optional cluster labels (e.g. participants) for cluster-robust standard
    errors. Returns NaN fields with a `note` when no curve can be fitted.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("fit_psychometric: x and y must be 1-D arrays of the same length")
    if np.any((y < 0) | (y > 1)) or np.isnan(y).any() or np.isnan(x).any():
        raise ValueError("fit_psychometric: y must lie in [0, 1] and x be finite")
    n = int(x.size)
    if n < 3 or np.all(y == y[0]):
        warnings.warn(
            f"{name}: the same response everywhere; no psychometric curve", ConstantObserverWarning, stacklevel=2
        )
        return _nan_fit(n, "constant response")
    if np.all(x == x[0]):
        return _nan_fit(n, "one difficulty only")
    fractional = bool(np.any((y > 0) & (y < 1)))
    X = sm.add_constant(x, has_constant="add")
    kwargs: dict = {}
    if groups is not None:
        codes = np.unique(np.asarray(groups), return_inverse=True)[1]
        kwargs = {"cov_type": "cluster", "cov_kwds": {"groups": codes}}
    elif fractional:
        kwargs = {"scale": "X2"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.GLM(y, X, family=sm.families.Binomial()).fit(**kwargs)
    if any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        return _nan_fit(n, "perfect separation: slope not identified")
    b0, b1 = (float(v) for v in res.params)
    cov = np.asarray(res.cov_params(), dtype=float)
    se1 = float(np.sqrt(cov[1, 1]))
    t = -b0 / b1 if b1 != 0 else float("nan")
    # delta method: grad of -b0/b1 wrt (b0, b1) = (-1/b1, b0/b1^2)
    g = np.array([-1 / b1, b0 / b1**2]) if b1 != 0 else np.array([np.nan, np.nan])
    se_t = float(np.sqrt(g @ cov @ g))
    from scipy.stats import norm

    slope_p = float(norm.cdf(b1 / se1)) if se1 > 0 else float("nan")
    return PsychometricFit(
        b0,
        b1,
        b1 - Z95 * se1,
        b1 + Z95 * se1,
        t,
        t - Z95 * se_t,
        t + Z95 * se_t,
        n,
        "" if res.converged else "did not converge",
        slope_p,
    )
