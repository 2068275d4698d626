"""What could a model score on a set without physics? The shortcut audit of a set's card.

Each stimulus family names simple visual cues (`StimulusFamily.shortcut_cues`: towers the
number of blocks, the top block's offset, the lean of the centre of mass; pyramids the red
block's row, whether a block above has its centre over the red one, how many blocks rest
on it). For every cue the audit fits the best one-cue rule and reports its accuracy:

- a "threshold" cue: "Yes if value > t" or "Yes if value < t", the t and direction that
  score best;
- a "category" cue: the majority answer for each value.

Fitting and scoring on the same items overstates what a rule would do on new items, so
the headline figure is **5-fold cross-validated** (the rule is fitted on four fifths and
scored on the fifth left out, every item once; folds stratified by size and answer and
dealt by a hash of the stimulus id, so the audit of a set never changes); the accuracy of the rule
fitted on all items is given beside it as an upper bound. Both come with 95% Wilson intervals. The audit
runs over all sizes pooled and within each size (a cue such as the number of blocks
says nothing within one size of a balanced set, and a lot across sizes of an unbalanced
one).

It also counts how often the sign of the family's difficulty measure (contract B)
agrees with the label: for towers that is the agreement with the static balance check.

`cubeworld audit SET` prints it for any set; generation stores it on the card
(`shortcut_audit`); a cue that decides `SHORTCUT_WARNING` or more of the items is named
in `shortcut_warnings`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.family import ShortcutCue, StimulusFamily

FOLDS = 5
SHORTCUT_WARNING = 0.9  # a cue whose cross-validated accuracy reaches this decides "nearly every item"
CONFIDENCE = 0.95


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of k successes in n, rounded to 4 decimals (cards)."""
    from cubeworld.intervals import wilson_interval

    if n == 0:
        return (math.nan, math.nan)
    lo, hi = wilson_interval(k, n, 1 - CONFIDENCE)
    return (round(float(lo), 4), round(float(hi), 4))


# -- one-cue rules --------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A fitted one-cue rule: predicts "Yes" (True) from a cue value."""

    type: str  # "threshold" or "category"
    threshold: float = 0.0
    above: bool = True  # threshold: Yes if value > threshold (else if value < threshold)
    table: tuple[tuple[float, bool], ...] = ()  # category: value -> answer
    default: bool = False  # category: the answer for a value not seen when fitting

    def predict(self, value: float) -> bool:
        if self.type == "category":
            return dict(self.table).get(value, self.default)
        return value > self.threshold if self.above else value < self.threshold

    def describe(self, cue: str) -> str:
        if self.type == "category":
            return "majority per value: " + ", ".join(f"{_num(v)}->{'Yes' if a else 'No'}" for v, a in self.table)
        if math.isinf(self.threshold):
            return f"always {'Yes' if self.predict(0.0) else 'No'}"
        return f"Yes if {cue} {'>' if self.above else '<'} {_num(self.threshold)}"


def _num(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"


def fit_rule(rule_type: str, values: Sequence[float], labels: Sequence[bool]) -> Rule:
    """The rule of type `rule_type` that classifies (values, labels) best; ties go to the simplest
    (the lowest threshold, "above" before "below")."""
    if rule_type == "category":
        counts: dict[float, list[int]] = {}
        for v, y in zip(values, labels):
            counts.setdefault(v, [0, 0])[int(y)] += 1
        yes = sum(labels)
        default = yes * 2 > len(labels)
        table = tuple((v, c[1] > c[0] if c[1] != c[0] else default) for v, c in sorted(counts.items()))
        return Rule("category", table=table, default=default)
    pairs = sorted(zip(values, labels))
    n, total_yes = len(pairs), sum(labels)
    # candidate thresholds: below everything, between distinct values, above everything
    best = Rule("threshold", -math.inf, True)
    best_score = total_yes  # "Yes if value > -inf": all Yes
    if n - total_yes > best_score:
        best, best_score = Rule("threshold", -math.inf, False), n - total_yes
    yes_below = no_below = 0
    for i, (v, y) in enumerate(pairs):
        yes_below += y
        no_below += not y
        if i + 1 < n and pairs[i + 1][0] == v:
            continue
        t = (v + pairs[i + 1][0]) / 2.0 if i + 1 < n else math.inf
        above = no_below + (total_yes - yes_below)  # Yes if value > t
        below = yes_below + (n - total_yes - no_below)  # Yes if value < t
        if above > best_score:
            best, best_score = Rule("threshold", t, True), above
        if below > best_score:
            best, best_score = Rule("threshold", t, False), below
    return best


def _folds(ids: Sequence[str], strata: Sequence[Any], folds: int) -> list[int]:
    """Each item's fold: within each stratum (size x answer), items ordered by a hash of
    their id and dealt out in turn, so every fold holds sizes and answers in the set's
    proportions (a rule that ignores its cue then scores chance, not less) and the folds
    never change."""
    fold_of = [0] * len(ids)
    dealt = 0  # dealing continues from stratum to stratum, so small strata spread over the folds too
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
    """A cue's accuracy on some items: cross-validated and fitted on all (upper bound)."""

    n: int
    cv_correct: int
    fit_correct: int
    rule: str  # the rule fitted on all the items

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


def score_cue(
    cue: ShortcutCue,
    ids: Sequence[str],
    values: Sequence[float],
    labels: Sequence[bool],
    strata: Sequence[Any] | None = None,
) -> Score:
    """A cue's score; `strata` (default: the labels) keep the folds balanced."""
    n = len(values)
    rule = fit_rule(cue.rule, values, labels)
    fit_correct = sum(rule.predict(v) == y for v, y in zip(values, labels))
    folds = min(FOLDS, n)
    cv_correct = 0
    if folds >= 2:
        fold_of = _folds(ids, list(labels) if strata is None else strata, folds)
        for f in range(folds):
            train = [j for j in range(n) if fold_of[j] != f]
            test = [j for j in range(n) if fold_of[j] == f]
            if not test:
                continue
            if not train:
                cv_correct += sum(labels[j] == False for j in test)  # noqa: E712 (no training data: say No)
                continue
            r = fit_rule(cue.rule, [values[j] for j in train], [labels[j] for j in train])
            cv_correct += sum(r.predict(values[j]) == labels[j] for j in test)
    return Score(n=n, cv_correct=cv_correct, fit_correct=fit_correct, rule=rule.describe(cue.name))


# -- the audit of a set ---------------------------------------------------------------
@dataclass
class CueAudit:
    name: str
    description: str
    rule: str  # "threshold" or "category": the cue's type of one-cue rule
    overall: Score | None  # None: the rows lack what the cue reads
    by_size: dict[int, Score] = field(default_factory=dict)
    unavailable: str = ""


@dataclass
class ShortcutAudit:
    n: int
    sizes: tuple[int, ...]
    cues: list[CueAudit]
    difficulty_name: str
    difficulty_agree: int | None  # items whose difficulty sign agrees with the label
    difficulty_n: int

    @property
    def warnings(self) -> list[str]:
        out = []
        for c in self.cues:
            if c.overall is not None and c.overall.cv >= SHORTCUT_WARNING:
                out.append(
                    f"the cue {c.name} alone decides {c.overall.cv_correct} of {c.overall.n} items "
                    f"({100 * c.overall.cv:.1f}%, cross-validated; {c.overall.rule})"
                )
        return out

    def to_card(self) -> dict[str, Any]:
        return {
            "method": (
                f"best one-cue rule per cue (threshold: Yes if value > t or < t; category: majority per "
                f"value); accuracy {FOLDS}-fold cross-validated (folds stratified by size x answer, dealt by a hash of "
                f"stimulus_id), and fitted "
                f"on all items (an upper bound); {int(CONFIDENCE * 100)}% Wilson intervals"
            ),
            "n": self.n,
            "cues": {
                c.name: {
                    "description": c.description,
                    "rule": c.rule,
                    **(
                        {"all": c.overall.to_dict(), "by_size": {str(s): sc.to_dict() for s, sc in c.by_size.items()}}
                        if c.overall is not None
                        else {"unavailable": c.unavailable}
                    ),
                }
                for c in self.cues
            },
            "difficulty_sign_agrees": (
                {"measure": self.difficulty_name, "agree": self.difficulty_agree, "n": self.difficulty_n}
                if self.difficulty_agree is not None
                else None
            ),
        }


def shortcut_audit(family: StimulusFamily, rows: Sequence[Mapping[str, Any]]) -> ShortcutAudit:
    """The audit of `rows` (row records of one family's set)."""
    ids = [str(r["stimulus_id"]) for r in rows]
    labels = [bool(r["falls"]) for r in rows]
    sizes = tuple(sorted({int(r["n_blocks"]) for r in rows}))
    cues = []
    for cue in family.shortcut_cues():
        try:
            values = [float(cue.value(r)) for r in rows]
        except (KeyError, TypeError, ValueError, IndexError) as e:
            cues.append(
                CueAudit(
                    cue.name,
                    cue.description,
                    cue.rule,
                    None,
                    unavailable=f"the rows lack what it reads ({type(e).__name__}: {e})",
                )
            )
            continue
        by_size = {}
        for s in sizes:
            idx = [i for i, r in enumerate(rows) if int(r["n_blocks"]) == s]
            by_size[s] = score_cue(cue, [ids[i] for i in idx], [values[i] for i in idx], [labels[i] for i in idx])
        strata = [(int(r["n_blocks"]), y) for r, y in zip(rows, labels)]
        cues.append(CueAudit(cue.name, cue.description, cue.rule, score_cue(cue, ids, values, labels, strata), by_size))
    agree, counted = 0, 0
    for r, y in zip(rows, labels):
        d = r.get("difficulty")
        if d is None:
            try:
                d = family.difficulty_of(r)
            except (KeyError, TypeError, ValueError, IndexError):
                d = None
        if d is None:
            continue
        counted += 1
        agree += (float(d) > 0) == (not y)
    return ShortcutAudit(
        n=len(rows),
        sizes=sizes,
        cues=cues,
        difficulty_name=family.difficulty.name,
        difficulty_agree=agree if counted else None,
        difficulty_n=counted,
    )


def format_audit(audit: ShortcutAudit) -> list[str]:
    """The audit as text lines (what `cubeworld audit SET` prints)."""
    lines = [
        f"shortcut audit: accuracy of the best one-cue rule, {FOLDS}-fold cross-validated [95% Wilson interval];",
        "  'fit' = the rule fitted on all items, an upper bound; chance is 0.500 (balanced labels)",
    ]
    width = max([len(c.name) for c in audit.cues] + [4])
    lines.append(
        f"  {'cue':{width}s}  {'all sizes [95% CI]':27s} {'items':>11s}  {'fit':>5s}  "
        + "  ".join(f"{'n=' + str(s):>6s}" for s in audit.sizes)
    )
    for c in audit.cues:
        if c.overall is None:
            lines.append(f"  {c.name:{width}s}  unavailable: {c.unavailable}")
            continue
        o = c.overall
        lo, hi = wilson(o.cv_correct, o.n)
        per = "  ".join(f"{c.by_size[s].cv:6.3f}" for s in audit.sizes)
        lines.append(
            f"  {c.name:{width}s}  {o.cv:.3f} [{lo:.3f}, {hi:.3f}]{'':6s} {o.cv_correct:>5d}/{o.n:<5d}  "
            f"{o.fit:5.3f}  {per}"
        )
        lines.append(f"  {'':{width}s}  rule fitted on all items: {o.rule}")
    if audit.difficulty_agree is not None:
        lines.append(
            f"sign of the difficulty ({audit.difficulty_name}) agrees with the label on "
            f"{audit.difficulty_agree} of {audit.difficulty_n} items"
        )
    for w in audit.warnings:
        lines.append(f"warning: {w}")
    return lines
