"""Degenerate observers: those whose numbers exist but say nothing about what they measure.

An observer that gives one answer to (nearly) every item of a set still gets an accuracy
(the base rate), a kappa (which then only reflects that people do better on one kind of
item than the other) and even a significant-looking p-value. An observer whose P(Yes)
barely moves (a random tiny VLM: 0.4628-0.4652) still gets a Brier score and a slope.
The report must neither rank such observers best nor count them as sharing the humans'
errors, so they are recognised here, once, from their answers alone:

- `one_answer`: the less frequent answer is given to fewer than `MIN_MINORITY_SHARE` of
  the items (pooled over seeds). Its kappas are marked degenerate (no p-value, no star)
  and it is never named best or most human-like.
- `flat`: the spread of its per-item P(Yes) (the 5th to 95th percentile range, mean over
  seeds) is under `MIN_SPREAD`: it is never named best calibrated nor counted as
  "P(Yes) changes with difficulty".
- `worse_than_constant`: a Brier score of at least 0.25, what a constant P(Yes) = 0.5
  scores: never named best calibrated.

The tests work on any 0/1 or P(Yes) arrays, so a person, a group's majority, a VLM and the
physics observer are judged alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MIN_MINORITY_SHARE = 0.05  # "(nearly) every item": fewer than 5% of answers the other way
MIN_SPREAD = 0.05  # P(Yes) whose 5th-95th percentile range is narrower "barely varies"
CONSTANT_BRIER = 0.25  # the Brier score of P(Yes) = 0.5 on every item


def minority_share(says_yes: Any) -> float:
    """Share of the less frequent answer among all answers (NaN left out)."""
    a = np.asarray(says_yes, dtype=float).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan")
    yes = float(a.mean())
    return min(yes, 1.0 - yes)


def one_answer(says_yes: Any, threshold: float = MIN_MINORITY_SHARE) -> bool:
    """True when the observer gives one answer to (nearly) every item."""
    m = minority_share(says_yes)
    return bool(np.isfinite(m) and m < threshold)


def p_yes_spread(p_yes: Any) -> float:
    """5th-95th percentile range of the per-item P(Yes) ((seeds x items): mean over seeds
    first). NaN without a value."""
    p = np.asarray(p_yes, dtype=float)
    if p.ndim == 2:
        with np.errstate(invalid="ignore"):
            p = np.nanmean(p, axis=0) if p.size else p.ravel()
    p = p[np.isfinite(p)]
    if p.size == 0:
        return float("nan")
    lo, hi = np.percentile(p, [5, 95])
    return float(hi - lo)


def flat(p_yes: Any, threshold: float = MIN_SPREAD) -> bool:
    """True when the observer's P(Yes) barely varies across items."""
    s = p_yes_spread(p_yes)
    return bool(np.isfinite(s) and s < threshold)


def worse_than_constant(brier: float) -> bool:
    """A Brier score no better than a constant P(Yes) = 0.5 gives."""
    return bool(np.isfinite(brier) and brier >= CONSTANT_BRIER - 1e-12)


@dataclass(frozen=True)
class AnswerProfile:
    """How an observer answered one set: its Yes-rate and the two degeneracy flags."""

    n_items: int
    share_yes: float
    minority_share: float
    one_answer: bool
    p_yes_spread: float
    flat: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def answer_profile(says_yes: Any, p_yes: Any | None = None) -> AnswerProfile:
    """Profile of (seeds x items) answers and, where given, P(Yes) (an observer that gives
    only answers is judged on its answers: its spread is that of its 0/1 answers)."""
    a = np.atleast_2d(np.asarray(says_yes, dtype=float))
    p = a if p_yes is None else np.atleast_2d(np.asarray(p_yes, dtype=float))
    finite = a[np.isfinite(a)]
    return AnswerProfile(
        n_items=int(a.shape[1]),
        share_yes=float(finite.mean()) if finite.size else float("nan"),
        minority_share=minority_share(a),
        one_answer=one_answer(a),
        p_yes_spread=p_yes_spread(p),
        flat=flat(p),
    )
