"""Is an effect real? Directional p-values, and their correction for many tests.

A kappa between two observers is computed from a 2 x 2 table: both right, i right only,
j right only, both wrong (or, for Cohen's kappa to the truth, both Yes ... both No). The
question a report asks of it has a direction: do the two share errors (agree with the
truth) *more* than independent observers with the same accuracies would? So every test
here is one-sided, kappa > 0, by default; a negative kappa is reported as what it is
(fewer shared errors than chance), never counted as "sharing". Conditioning on both
accuracies (the table's margins), the number of trials both got right is hypergeometric -
Fisher's exact test - and kappa is a linear, increasing function of that count
(c_obs = (2 both_right + n - right_i - right_j) / n), so the upper tail of the count is the
upper tail of kappa. This is exact for any n.

- `consistency_p_value`: exact p for one pair, vectorised over pairs.
- `pooled_consistency_p_value`: one observer scored with several seeds against the same
  other observer (or the truth): the seeds' both-right counts add up, and under the null
  their sum is the sum of independent hypergeometrics, whose distribution is the
  convolution of theirs (exact, like an exact Cochran-Mantel-Haenszel test).
- `mean_kappa_test`: a mean kappa over participants against 0 with a t-test across
  participants. It holds the items fixed (as the paper's interval does); the report leads
  with `bootstrap_p_value` of a crossed resampling instead.
- `bootstrap_p_value`: the share of resampled estimates on the wrong side of the null
  value (the test that the percentile interval inverts), with the usual +1 correction so
  that it is never 0.
- `adjust`: Holm's step-down correction (the report's choice; Benjamini-Hochberg on
  request) across one family of tests, via statsmodels; NaN p-values are left out of the
  family and stay NaN.
A degenerate kappa (c_exp = 1) has no p-value (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Alternative = Literal["greater", "two-sided"]
ALPHA = 0.05
CORRECTION = "holm"
CORRECTION_NAMES = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}


def _check_alternative(alternative: str) -> None:
    if alternative not in ("greater", "two-sided"):
        raise ValueError(f"alternative must be 'greater' or 'two-sided', not {alternative!r}")


def _tails(x: Any, n: Any, right_i: Any, right_j: Any) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import hypergeom

    lower = hypergeom.cdf(x, n, right_i, right_j)
    upper = hypergeom.sf(x - 1, n, right_i, right_j)
    return lower, upper


def consistency_p_value(n: Any, right_i: Any, right_j: Any, both_right: Any, alternative: Alternative = "greater"):
    """Exact p-value(s) of the kappa of two observers (arrays broadcast).

    n: trials both saw; right_i/right_j: each observer's correct trials among them (for
    Cohen's kappa to the truth: Yes answers and true Yes); both_right: trials both got
    right (both Yes). alternative="greater" (default): kappa > 0, the upper tail of
    Fisher's test; "two-sided": twice the smaller tail, capped at 1. NaN where the kappa
    is degenerate (both always right or both always wrong) or n = 0.
    """
    _check_alternative(alternative)
    n = np.asarray(n, dtype=float)
    ri = np.asarray(right_i, dtype=float)
    rj = np.asarray(right_j, dtype=float)
    x = np.asarray(both_right, dtype=float)
    lower, upper = _tails(x, n, ri, rj)
    p = np.minimum(1.0, upper if alternative == "greater" else 2 * np.minimum(lower, upper))
    degenerate = (n <= 0) | ((ri == n) & (rj == n)) | ((ri == 0) & (rj == 0))
    p = np.where(degenerate, np.nan, p)
    return p if p.ndim else float(p)


def pooled_consistency_p_value(tables: Any, alternative: Alternative = "greater") -> float:
    """Exact p of the pooled agreement of one observer's seeds with another.

    tables: iterable of (n, right_i, right_j, both_right), one per seed. The statistic is
    the summed both-right count; its null distribution is the convolution of the seeds'
    hypergeometric distributions. One-sided (kappa > 0) unless alternative="two-sided".
    """
    from scipy.stats import hypergeom

    _check_alternative(alternative)
    pmf = np.ones(1)
    total = 0
    degenerate = True
    for n, ri, rj, x in tables:
        n, ri, rj, x = int(n), int(ri), int(rj), int(x)
        if n <= 0:
            continue
        if not ((ri == n and rj == n) or (ri == 0 and rj == 0)):
            degenerate = False
        pmf = np.convolve(pmf, hypergeom.pmf(np.arange(n + 1), n, ri, rj))
        total += x
    if degenerate:
        return float("nan")
    upper = float(pmf[total:].sum())
    if alternative == "greater":
        return min(1.0, upper)
    return float(min(1.0, 2 * min(float(pmf[: total + 1].sum()), upper)))


@dataclass(frozen=True)
class MeanTest:
    """t-test of a mean kappa against 0 across participants (one-sided by default)."""

    mean: float
    t: float
    p_value: float
    n: int


def mean_kappa_test(kappas: Any, alternative: Alternative = "greater") -> MeanTest:
    """t-test of the mean of per-participant kappas against 0 (NaNs left out)."""
    from scipy.stats import ttest_1samp

    _check_alternative(alternative)
    k = np.asarray(kappas, dtype=float)
    k = k[np.isfinite(k)]
    if k.size < 2 or np.all(k == k[0]):
        return MeanTest(float(k.mean()) if k.size else float("nan"), float("nan"), float("nan"), int(k.size))
    r = ttest_1samp(k, 0.0, alternative=alternative)
    return MeanTest(float(k.mean()), float(r.statistic), float(r.pvalue), int(k.size))


def bootstrap_p_value(resamples: Any, null: float = 0.0, alternative: Alternative = "greater") -> float:
    """p of "the estimate exceeds `null`" from its bootstrap resamples.

    One-sided: (1 + #resamples <= null) / (1 + #resamples), the share of the resampled
    distribution on the null's side (what the percentile interval inverts), never 0.
    Two-sided: twice the smaller side, capped at 1. NaN resamples are left out; NaN when
    none is left.
    """
    _check_alternative(alternative)
    b = np.asarray(resamples, dtype=float)
    b = b[np.isfinite(b)]
    if b.size == 0:
        return float("nan")
    below = (1 + np.sum(b <= null)) / (1 + b.size)
    if alternative == "greater":
        return float(below)
    above = (1 + np.sum(b >= null)) / (1 + b.size)
    return float(min(1.0, 2 * min(below, above)))


def adjust(p_values: Any, method: str = CORRECTION) -> np.ndarray:
    """Adjusted p-values of one family of tests (Holm by default; "fdr_bh" for
    Benjamini-Hochberg), statsmodels' `multipletests`. NaN entries are not tests: they
    are left out of the family and stay NaN."""
    from statsmodels.stats.multitest import multipletests

    if method not in CORRECTION_NAMES:
        raise ValueError(f"method must be one of {sorted(CORRECTION_NAMES)}, not {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], alpha=ALPHA, method=method)[1]
    return out


def stars(p: Any) -> str:
    """The usual marks: *** p < .001, ** p < .01, * p < .05, '' otherwise or NaN."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
