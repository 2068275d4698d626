"""What could a model score on a set without physics? The shortcut audit of a set's card.

Each stimulus family names simple visual cues (`StimulusFamily.shortcut_cues`: towers the
number of blocks, the top block's offset, the lean of the centre of mass, the largest
step between neighbours, ...; pyramids the red block's tier and place in it, whether a
block resting on it would lose its support, ...). For every cue the audit fits the best
one-cue rule and reports its accuracy:

- a "threshold" cue: "Yes if value > t" or "Yes if value < t", the t and direction that
  score best;
- a "category" cue: the majority answer for each value.

A cue that is itself a reading of the image (`ShortcutCue.says_yes_above`: "a block
resting on the red block has its centre off its other support, so Yes") is also scored as
that fixed reading: how often is it wrong? And because two harmless-looking cues together
can decide the labels, the audit fits small models on all the cues at once (`models`: a
logistic regression and a decision tree of depth 2).

Everything is scored on the same stratified folds (`scoring`): **5-fold cross-validated**
as the headline, fitted on all items as an upper bound, with 95% Wilson intervals; over
all sizes pooled and within each size (a cue such as the number of blocks says nothing
within one size of a balanced set, and a lot across sizes of an unbalanced one; a cue can
decide one size and not the pooled set).

It also counts how often the sign of the family's difficulty measure (contract B)
agrees with the label: for towers that is the agreement with the static balance check.

`cubeworld audit SET` prints it for any set; generation stores it on the card
(`shortcut_audit`). A cue or model that decides `SHORTCUT_WARNING` or more of the items,
pooled or within a size of at least `SIZE_WARNING_ITEMS` items, is named in
`shortcut_warnings`. A cue-controlled set's card also states the targets
(`control_targets`): per size, the best cue at most `CUE_TARGET` and the logistic
regression at most `MODEL_TARGET`, cross-validated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.audit.models import LOGISTIC, MODELS, score_models
from cubeworld.stimuli.audit.scoring import CONFIDENCE, FOLDS, Score, stratified_folds, wilson
from cubeworld.stimuli.family import ShortcutCue, StimulusFamily

SHORTCUT_WARNING = 0.9  # a cue whose cross-validated accuracy reaches this decides "nearly every item"
SIZE_WARNING_ITEMS = 20  # a size with fewer items is too small to warn about (5 folds of 4)
CUE_TARGET = 0.65  # cue-controlled sets: the best one-cue rule per size, cross-validated, at most this ...
MODEL_TARGET = 0.75  # ... and the logistic regression on every cue at most this
__all__ = ["CONFIDENCE", "FOLDS", "Score", "wilson"]


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
        fold_of = stratified_folds(ids, list(labels) if strata is None else strata, folds)
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
    # a reading cue (`ShortcutCue.says_yes_above`): items whose fixed reading is wrong, (wrong, n)
    says_yes_above: float | None = None
    reading_wrong: tuple[int, int] | None = None
    reading_wrong_by_size: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass
class ModelAudit:
    name: str
    description: str
    features: list[str]
    overall: Score
    by_size: dict[int, Score] = field(default_factory=dict)


def _decides(score: Score) -> bool:
    return score.cv >= SHORTCUT_WARNING


@dataclass
class ShortcutAudit:
    n: int
    sizes: tuple[int, ...]
    cues: list[CueAudit]
    difficulty_name: str
    difficulty_agree: int | None  # items whose difficulty sign agrees with the label
    difficulty_n: int
    models: list[ModelAudit] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """A cue or model that decides nearly every item: pooled, then size by size (sizes
        of at least SIZE_WARNING_ITEMS items)."""
        out = []
        scored = [(f"the cue {c.name} alone", c.overall, c.by_size) for c in self.cues if c.overall is not None] + [
            (f"the {m.description}", m.overall, m.by_size) for m in self.models
        ]
        for what, overall, _ in scored:
            if overall.n and _decides(overall):
                out.append(
                    f"{what} decides {overall.cv_correct} of {overall.n} items "
                    f"({100 * overall.cv:.1f}%, cross-validated; {overall.rule})"
                )
        for size in self.sizes:
            for what, _, by_size in scored:
                sc = by_size.get(size)
                if sc is not None and sc.n >= SIZE_WARNING_ITEMS and _decides(sc):
                    out.append(
                        f"{what} decides {sc.cv_correct} of {sc.n} items of size {size} "
                        f"({100 * sc.cv:.1f}%, cross-validated; {sc.rule})"
                    )
        return out

    def best_cue(self, size: int) -> tuple[str, Score] | None:
        """The cue whose one-cue rule scores best within `size` (cross-validated)."""
        scored = [(c.name, c.by_size[size]) for c in self.cues if c.overall is not None and size in c.by_size]
        return max(scored, key=lambda item: (item[1].cv, item[0]), default=None)

    def control_targets(self, reading_wrong_min: Mapping[str, float] | None = None) -> dict[str, Any]:
        """The cue-controlled set's targets, per size: the best one-cue rule at most
        CUE_TARGET and the logistic regression at most MODEL_TARGET (cross-validated), and
        each reading cue named in `reading_wrong_min` wrong on at least that share."""
        reading_wrong_min = dict(reading_wrong_min or {})
        models = {m.name: m for m in self.models}
        by_size: dict[str, Any] = {}
        for size in self.sizes:
            best = self.best_cue(size)
            logistic = models[LOGISTIC].by_size.get(size) if LOGISTIC in models else None
            entry: dict[str, Any] = {
                "best_cue": best[0] if best else None,
                "best_cue_cv": round(best[1].cv, 4) if best else None,
                "best_cue_interval": list(wilson(best[1].cv_correct, best[1].n)) if best else None,
                "logistic_cv": round(logistic.cv, 4) if logistic else None,
                "logistic_interval": list(wilson(logistic.cv_correct, logistic.n)) if logistic else None,
            }
            met = bool(best and best[1].cv <= CUE_TARGET) and bool(logistic and logistic.cv <= MODEL_TARGET)
            for cue in self.cues:
                if cue.name in reading_wrong_min and size in cue.reading_wrong_by_size:
                    wrong, n = cue.reading_wrong_by_size[size]
                    entry[f"{cue.name}_wrong"] = round(wrong / n, 4) if n else None
                    met = met and n > 0 and wrong / n >= reading_wrong_min[cue.name]
            entry["met"] = met
            by_size[str(size)] = entry
        return {
            "targets": {
                "best_cue_cv_at_most": CUE_TARGET,
                "logistic_cv_at_most": MODEL_TARGET,
                **{f"{name}_wrong_at_least": share for name, share in reading_wrong_min.items()},
            },
            "by_size": by_size,
        }

    def to_card(self) -> dict[str, Any]:
        return {
            "method": (
                f"best one-cue rule per cue (threshold: Yes if value > t or < t; category: majority per "
                f"value) and small models on every cue at once ({'; '.join(MODELS.values())}); accuracy "
                f"{FOLDS}-fold cross-validated (folds stratified by size x answer, dealt by a hash of stimulus_id), "
                f"and fitted on all items (an upper bound); {int(CONFIDENCE * 100)}% Wilson intervals"
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
                    **(
                        {
                            "reading_wrong": _wrong(c.reading_wrong),
                            "reading_wrong_by_size": {str(s): _wrong(w) for s, w in c.reading_wrong_by_size.items()},
                        }
                        if c.reading_wrong is not None
                        else {}
                    ),
                }
                for c in self.cues
            },
            "models": {
                m.name: {
                    "description": m.description,
                    "features": m.features,
                    "all": m.overall.to_dict(),
                    "by_size": {str(s): sc.to_dict() for s, sc in m.by_size.items()},
                }
                for m in self.models
            },
            "difficulty_sign_agrees": (
                {"measure": self.difficulty_name, "agree": self.difficulty_agree, "n": self.difficulty_n}
                if self.difficulty_agree is not None
                else None
            ),
        }


def _wrong(counts: tuple[int, int]) -> dict[str, Any]:
    wrong, n = counts
    return {"wrong": wrong, "n": n, "share": round(wrong / n, 4) if n else None, "interval": list(wilson(wrong, n))}


def _cue_values(cue: ShortcutCue, rows: Sequence[Mapping[str, Any]]) -> list[float] | str:
    """The cue's value on every row, or why the rows cannot give it."""
    try:
        return [float(cue.value(r)) for r in rows]
    except (KeyError, TypeError, ValueError, IndexError) as e:
        return f"the rows lack what it reads ({type(e).__name__}: {e})"


def shortcut_audit(family: StimulusFamily, rows: Sequence[Mapping[str, Any]], models: bool = True) -> ShortcutAudit:
    """The audit of `rows` (row records of one family's set); `models=False` leaves out the
    small models (and scikit-learn)."""
    ids = [str(r["stimulus_id"]) for r in rows]
    labels = [bool(r["falls"]) for r in rows]
    size_of = [int(r["n_blocks"]) for r in rows]
    sizes = tuple(sorted(set(size_of)))
    members = {s: [i for i, n in enumerate(size_of) if n == s] for s in sizes}
    strata = [(n, y) for n, y in zip(size_of, labels)]
    cues, columns = [], []
    for cue in family.shortcut_cues():
        values = _cue_values(cue, rows)
        if isinstance(values, str):
            cues.append(CueAudit(cue.name, cue.description, cue.rule, None, unavailable=values))
            continue
        columns.append((cue.name, cue.rule, values))
        by_size = {
            s: score_cue(cue, [ids[i] for i in idx], [values[i] for i in idx], [labels[i] for i in idx])
            for s, idx in members.items()
        }
        audit = CueAudit(cue.name, cue.description, cue.rule, score_cue(cue, ids, values, labels, strata), by_size)
        if cue.says_yes_above is not None:
            wrong = [(v > cue.says_yes_above) != y for v, y in zip(values, labels)]
            audit.says_yes_above = cue.says_yes_above
            audit.reading_wrong = (sum(wrong), len(wrong))
            audit.reading_wrong_by_size = {s: (sum(wrong[i] for i in idx), len(idx)) for s, idx in members.items()}
        cues.append(audit)
    model_audits = []
    if models and columns and rows:
        pooled, features = score_models(ids, columns, labels, strata)
        per_size = {
            s: score_models(
                [ids[i] for i in idx],
                [(name, rule, [values[i] for i in idx]) for name, rule, values in columns],
                [labels[i] for i in idx],
            )[0]
            for s, idx in members.items()
        }
        model_audits = [
            ModelAudit(name, MODELS[name], features, pooled[name], {s: per_size[s][name] for s in sizes})
            for name in MODELS
        ]
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
        models=model_audits,
    )


def format_audit(audit: ShortcutAudit) -> list[str]:
    """The audit as text lines (what `cubeworld audit SET` prints)."""
    lines = [
        f"shortcut audit: accuracy of the best one-cue rule and of small models on every cue, {FOLDS}-fold "
        "cross-validated [95% Wilson interval];",
        "  'fit' = fitted on all items, an upper bound; chance is 0.500 (balanced labels); per size on the right",
    ]
    width = max([len(c.name) for c in audit.cues] + [len(m.name) for m in audit.models] + [4])
    lines.append(
        f"  {'cue':{width}s}  {'all sizes [95% CI]':27s} {'items':>11s}  {'fit':>5s}  "
        + "  ".join(f"{'n=' + str(s):>6s}" for s in audit.sizes)
    )

    def line(name: str, o: Score, by_size: Mapping[int, Score]) -> str:
        lo, hi = wilson(o.cv_correct, o.n)
        per = "  ".join(f"{by_size[s].cv:6.3f}" for s in audit.sizes)
        return (
            f"  {name:{width}s}  {o.cv:.3f} [{lo:.3f}, {hi:.3f}]{'':6s} {o.cv_correct:>5d}/{o.n:<5d}  "
            f"{o.fit:5.3f}  {per}"
        )

    for c in audit.cues:
        if c.overall is None:
            lines.append(f"  {c.name:{width}s}  unavailable: {c.unavailable}")
            continue
        lines.append(line(c.name, c.overall, c.by_size))
        lines.append(f"  {'':{width}s}  rule fitted on all items: {c.overall.rule}")
        if c.reading_wrong is not None:
            wrong, n = c.reading_wrong
            per = "  ".join(
                f"{c.reading_wrong_by_size[s][0] / max(1, c.reading_wrong_by_size[s][1]):6.3f}" for s in audit.sizes
            )
            lines.append(
                f"  {'':{width}s}  its own reading (Yes if > {c.says_yes_above:g}) is wrong on {wrong} of {n} "
                f"items; share per size: {per}"
            )
    for m in audit.models:
        lines.append(line(m.name, m.overall, m.by_size))
        lines.append(f"  {'':{width}s}  {m.description}: {', '.join(m.features)}")
    if audit.difficulty_agree is not None:
        lines.append(
            f"sign of the difficulty ({audit.difficulty_name}) agrees with the label on "
            f"{audit.difficulty_agree} of {audit.difficulty_n} items"
        )
    for w in audit.warnings:
        lines.append(f"warning: {w}")
    return lines
