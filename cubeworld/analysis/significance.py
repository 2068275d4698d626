"""Is an error consistency real? p-values of kappas against independent observers.

A kappa between two observers is computed from a 2 x 2 table: both right, i right only,
j right only, both wrong (or, for Cohen's kappa to the truth, both Yes ... both No). The
null hypothesis is two *independent* observers with the *same accuracies*. Conditioning on
both accuracies (the table's margins), the number of trials both got right is
hypergeometric - Fisher's exact test - and kappa is a linear, increasing function of that
count (c_obs = (2 both_right + n - right_i - right_j) / n), so the tail of the count is the
tail of kappa. This is exact for any n; the binomial with c_exp as the agreement rate
would treat the two observed accuracies as known rates instead.

- `consistency_p_value`: two-sided exact p for one pair, vectorised over pairs
  (2 x the smaller tail, capped at 1; the two tails of Fisher's test).
- `pooled_consistency_p_value`: one observer scored with several seeds against the same
  other observer (or the truth): the seeds' both-right counts add up, and under the null
  their sum is the sum of independent hypergeometrics, whose distribution is the
  convolution of theirs (exact, like an exact Cochran-Mantel-Haenszel test).
- `mean_kappa_test`: a mean kappa over participants, tested against 0 with a one-sample
  t-test across participants (each participant one observation).
A degenerate kappa (c_exp = 1) has no p-value (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _tails(x, n, right_i, right_j):
    from scipy.stats import hypergeom

    lower = hypergeom.cdf(x, n, right_i, right_j)
    upper = hypergeom.sf(x - 1, n, right_i, right_j)
    return lower, upper


def consistency_p_value(n, right_i, right_j, both_right):
    """Two-sided exact p-value(s) of the kappa of two observers (arrays broadcast).

    n: trials both saw; right_i/right_j: each observer's correct trials among them (for
    Cohen's kappa to the truth: Yes answers and true Yes); both_right: trials both got
    right (both Yes). NaN where the kappa is degenerate (both always right or both always
    wrong) or n = 0.
    """
    n = np.asarray(n, dtype=float)
    ri = np.asarray(right_i, dtype=float)
    rj = np.asarray(right_j, dtype=float)
    x = np.asarray(both_right, dtype=float)
    lower, upper = _tails(x, n, ri, rj)
    p = np.minimum(1.0, 2 * np.minimum(lower, upper))
    degenerate = (n <= 0) | ((ri == n) & (rj == n)) | ((ri == 0) & (rj == 0))
    p = np.where(degenerate, np.nan, p)
    return p if p.ndim else float(p)


def pooled_consistency_p_value(tables) -> float:
    """Two-sided exact p of the pooled agreement of one observer's seeds with another.

    tables: iterable of (n, right_i, right_j, both_right), one per seed. The statistic is
    the summed both-right count; its null distribution is the convolution of the seeds'
    hypergeometric distributions.
    """
    from scipy.stats import hypergeom

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
    lower = pmf[: total + 1].sum()
    upper = pmf[total:].sum()
    return float(min(1.0, 2 * min(lower, upper)))


@dataclass(frozen=True)
class MeanTest:
    """One-sample t-test of a mean kappa against 0 across participants."""

    mean: float
    t: float
    p_value: float
    n: int


def mean_kappa_test(kappas) -> MeanTest:
    """t-test of the mean of per-participant kappas against 0 (NaNs left out)."""
    from scipy.stats import ttest_1samp

    k = np.asarray(kappas, dtype=float)
    k = k[np.isfinite(k)]
    if k.size < 2 or np.all(k == k[0]):
        return MeanTest(float(k.mean()) if k.size else float("nan"), float("nan"), float("nan"), int(k.size))
    r = ttest_1samp(k, 0.0)
    return MeanTest(float(k.mean()), float(r.statistic), float(r.pvalue), int(k.size))


def stars(p) -> str:
    """The usual marks: *** p < .001, ** p < .01, * p < .05, '' otherwise or NaN."""
    if p is None or not np.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
