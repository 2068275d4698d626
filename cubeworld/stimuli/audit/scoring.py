"""How the shortcut audit scores a predictor: stratified folds, cross-validated and fitted
accuracy, Wilson intervals. Shared by the one-cue rules (`shortcut`) and the small models
(`models`), so both are scored on exactly the same folds.

Fitting and scoring on the same items overstates what a predictor would do on new items,
so the headline figure is **5-fold cross-validated**: fitted on four fifths, scored on the
fifth left out, every item once. Folds are stratified by size and answer and dealt by a
hash of the stimulus id, so the audit of a set never changes and every fold holds sizes
and answers in the set's proportions (a predictor that ignores its input then scores
chance, not less). The accuracy fitted on all items is given beside it as an upper bound.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FOLDS = 5
CONFIDENCE = 0.95


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of k successes in n, rounded to 4 decimals (cards)."""
    from cubeworld.intervals import wilson_interval

    if n == 0:
        return (math.nan, math.nan)
    lo, hi = wilson_interval(k, n, 1 - CONFIDENCE)
    return (round(float(lo), 4), round(float(hi), 4))


def stratified_folds(ids: Sequence[str], strata: Sequence[Any], folds: int) -> list[int]:
    """Each item's fold: within each stratum (size x answer), items ordered by a hash of
    their id and dealt out in turn; dealing continues from stratum to stratum, so small
    strata spread over the folds too."""
    fold_of = [0] * len(ids)
    dealt = 0
    for stratum in sorted(set(strata), key=repr):
        members = sorted(
            (hashlib.sha256(i.encode("utf-8")).hexdigest(), j)
            for j, (i, g) in enumerate(zip(ids, strata))
            if g == stratum
        )
        for _, j in members:
            fold_of[j] = dealt % folds
            dealt += 1
    return fold_of


@dataclass(frozen=True)
class Score:
    """A predictor's accuracy on some items: cross-validated and fitted on all (upper bound)."""

    n: int
    cv_correct: int
    fit_correct: int
    rule: str  # the predictor fitted on all the items, in words

    @property
    def cv(self) -> float:
        return self.cv_correct / self.n if self.n else math.nan

    @property
    def fit(self) -> float:
        return self.fit_correct / self.n if self.n else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "cv_correct": self.cv_correct,
            "cv_accuracy": round(self.cv, 4),
            "cv_interval": list(wilson(self.cv_correct, self.n)),
            "fit_correct": self.fit_correct,
            "fit_accuracy": round(self.fit, 4),
            "fit_interval": list(wilson(self.fit_correct, self.n)),
            "rule": self.rule,
        }
