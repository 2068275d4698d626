"""Data loading for the analysis: prediction tables, ground truth, human responses.

Everything is checked here, once, with errors that name the file and the problem
(`AnalysisInputError`); the metric and plotting code downstream can then trust its input.
Ground truth comes from set folders (`--truth`) when given, otherwise from the `falls`
column the prediction tables carry (which must then agree across rows). Set folders also
give each row's `difficulty` and the card's description of it (contract B); prediction
tables may carry an observer `kind` and `p_other` (contract C); human responses may carry
`excluded` / `exclusion_rules` flags (contract D), and flagged participants are dropped
unless the caller asks to include them (the flags are read by the responses format's own
`drop_excluded`, once). Optionally, what each trained condition was trained on
(`TrainedOn`: its training set folders, and the human answers it learned instead of the
truth) gives the generalisation contrasts their in-distribution cells and the human-label
analysis its majority labels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cubeworld.errors import CubeworldError
from cubeworld.formats.fits import FitFormatError, FitResult, read_fit
from cubeworld.formats.predictions import (
    KEY_COLUMNS,
    PredictionsFormatError,
    read_predictions,
    unanswered_rows,
    validate_predictions,
)
from cubeworld.formats.responses import (
    ResponsesFormatError,
    drop_excluded,
    read_responses,
    validate_responses,
)
from cubeworld.formats.sets import SetFormatError, StimulusSet, load_set

HUMANS = "humans"
ZERO_SHOT = "zero-shot"
TRUTH_COLUMNS = ("set", "stimulus_id", "domain", "n_blocks", "falls")
DEFAULT_KIND = "vlm"  # contract C: a table without `kind` was written by a VLM
ALL_FLAGGED = "(all flagged)"
RENDERED, PHOTO, UNKNOWN_MEDIUM = "rendered", "photo", "unknown"


class AnalysisInputError(CubeworldError):
    """An input of the analysis is unusable; the message names the file and the problem."""


@dataclass(frozen=True)
class SetInfo:
    """What the analysis knows about one evaluated set.

    folder: the set folder given with `--truth` (None when the truth came from the
    prediction tables). difficulty: the card's `difficulty` entry ({name, unit,
    description}); has_difficulty: every row of the set carries a `difficulty` value.
    """

    name: str
    folder: str | None
    n_items: int
    has_difficulty: bool
    difficulty: dict | None = None
    medium: str = UNKNOWN_MEDIUM  # "rendered" (scenes recorded) or "photo" (`set_medium`)

    @property
    def difficulty_label(self) -> str:
        """Axis label of the difficulty measure: its name and unit from the card."""
        d = self.difficulty or {}
        name = str(d.get("name") or "difficulty")
        return f"{name} ({d['unit']})" if d.get("unit") else name


@dataclass(frozen=True)
class Exclusions:
    """How the human table's exclusion flags were applied (contract D).

    flagged: the table had an `excluded` column. included: the caller asked to keep the
    flagged participants. by_rule: rule, n_participants (a participant flagged by two
    rules counts under both), and a last row for all flagged participants with their
    n_responses.
    """

    flagged: bool
    included: bool
    n_participants: int  # before exclusion
    n_excluded: int
    by_rule: pd.DataFrame
    n_excluded_responses: int = 0


@dataclass(frozen=True)
class TrainedOn:
    """One part of what a condition was trained on: a training set folder, and the human
    responses table whose majority answers it learned (None: the ground truth)."""

    condition: str
    set_dir: str | Path
    humans: str | Path | None = None


@dataclass(frozen=True)
class HumanLabels:
    """A training set labelled by people: its truth and the responses (one row each)."""

    condition: str
    set_name: str
    truth: pd.DataFrame
    responses: pd.DataFrame


@dataclass(frozen=True)
class TrainingScope:
    """What one condition was trained on: its (medium, domain, n_blocks) cells, the set
    names, and the sets whose labels were people's answers."""

    condition: str
    cells: frozenset[tuple[str, str, int]]
    sets: tuple[str, ...]
    human_labels: tuple[HumanLabels, ...] = ()


@dataclass
class AnalysisData:
    """Checked inputs: predictions (with an `observer` label), truth and human responses.

    predictions: all rows of all tables (every epoch), plus `source` (file), `observer`,
    `kind` and (numeric, NaN where empty) `p_other`. truth: one row per (set,
    stimulus_id), with `difficulty` (NaN where the set has none) and the set's `medium`.
    training: per trained condition, what it was trained on (given). humans: responses
    joined to the truth (one row per set the stimulus is in), with `correct`; None when
    no human table was given. sets: per set name, its `SetInfo`. exclusions: how the
    human table's flags were applied (None without a human table).
    """

    predictions: pd.DataFrame
    truth: pd.DataFrame
    humans: pd.DataFrame | None
    sources: list[str]
    sets: dict[str, SetInfo] = field(default_factory=dict)
    exclusions: Exclusions | None = None
    human_source: str | None = None
    training: dict[str, TrainingScope] = field(default_factory=dict)
    # Rows without an answer (a generating mode's text from which no Yes or No could be
    # read: `extraction` "failed: ..."), every epoch. They are not in `predictions`, so no
    # analysis takes a failure for a "No"; the `modes` analysis counts them.
    unanswered: pd.DataFrame | None = None
    # Fits of the physics observer to people (`formats.fits`: a study's fits/NAME folders,
    # `cubeworld analyze --fit DIR`), shown by the fit_curve and fit_heldout units.
    fits: tuple[FitResult, ...] = ()


def condition_label(model: str, adapter: str, condition: str, epoch: int) -> str:
    """What a row of the figures is called: its condition, or "zero-shot" for a base model."""
    if condition:
        return condition
    if not adapter and int(epoch) == 0:
        return ZERO_SHOT
    return adapter or "fine-tuned"


def load_predictions(paths: Sequence[str | Path | pd.DataFrame]) -> pd.DataFrame:
    """Read and concatenate prediction tables; duplicates across files are an error too.

    Items may be paths or DataFrames already in memory (named `predictions[i]` in errors).
    """
    if not paths:
        raise AnalysisInputError("no prediction tables given")
    frames = []
    for i, p in enumerate(paths):
        name = f"predictions[{i}]" if isinstance(p, pd.DataFrame) else str(p)
        try:
            df = validate_predictions(p, name) if isinstance(p, pd.DataFrame) else (read_predictions(p))
        except PredictionsFormatError as e:
            raise AnalysisInputError(str(e)) from None
        df["source"] = name
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["seed"] = df["seed"].astype(str).replace({"nan": "", "None": ""})
    df["seed"] = df["seed"].str.replace(r"\.0$", "", regex=True)
    try:
        df["epoch"] = df["epoch"].astype(int)
        df["n_blocks"] = df["n_blocks"].astype(int)
    except (TypeError, ValueError) as e:
        raise AnalysisInputError(f"{', '.join(map(str, paths))}: epoch and n_blocks must be integers ({e})") from None
    dup = df.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        files = sorted(set(df.loc[dup, "source"]))
        raise AnalysisInputError(
            f"{', '.join(files)}: {int(dup.sum())} duplicate prediction rows across tables, e.g. "
            f"stimulus {first['stimulus_id']!r} of model {first['model']!r} "
            f"(condition {first['condition']!r}, seed {first['seed']!r}, epoch {first['epoch']})"
        )
    labels = {
        r: condition_label(*r)
        for r in df[["model", "adapter", "condition", "epoch"]].drop_duplicates().itertuples(index=False, name=None)
    }
    cond = [labels[r] for r in df[["model", "adapter", "condition", "epoch"]].itertuples(index=False, name=None)]
    multi_model = df["model"].nunique() > 1
    df["observer"] = [f"{m} · {c}" if multi_model else c for m, c in zip(df["model"], cond)]
    df["correct"] = df["correct"].astype(bool)
    df["says_yes"] = (df["answer"] == "Yes").astype(int)
    df["kind"] = _kinds(df)
    df["p_yes"] = _numeric(df, "p_yes", lo=0.0, hi=1.0)
    df["p_other"] = _numeric(df, "p_other", lo=0.0, hi=1.0)
    df["answered"] = ~unanswered_rows(df)
    bad = df["answered"] & (df["correct"] != (df["says_yes"].astype(bool) == df["falls"].astype(bool)))
    if bad.any():
        first = df[bad].iloc[0]
        raise AnalysisInputError(
            f"{first['source']}: row for stimulus {first['stimulus_id']!r}: correct="
            f"{first['correct']} contradicts answer {first['answer']!r} and falls={first['falls']}"
        )
    return df


def _kinds(df: pd.DataFrame) -> pd.Series:
    """The observer kind of each row; a missing column or an empty cell means a VLM."""
    if "kind" not in df.columns:
        return pd.Series(DEFAULT_KIND, index=df.index, dtype=object)
    k = df["kind"].astype(object).where(df["kind"].notna(), "").astype(str).str.strip()
    return k.where(k != "", DEFAULT_KIND)


def _numeric(df: pd.DataFrame, column: str, lo: float, hi: float) -> pd.Series:
    """A probability column as floats (NaN where empty or absent); other text is an error."""
    if column not in df.columns:
        return pd.Series(float("nan"), index=df.index)
    raw = df[column]
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = (text != "") & (values.isna() | (values < lo - 1e-9) | (values > hi + 1e-9))
    if bad.any():
        first = df[bad].iloc[0]
        raise AnalysisInputError(
            f"{first['source']}: {column} must be a probability in [{lo:g}, {hi:g}] or empty, "
            f"got {first[column]!r} (stimulus {first['stimulus_id']!r}, model "
            f"{first['model']!r})"
        )
    return values.astype(float)


def _difficulty(rows, where: str) -> list[float]:
    """Each row's `difficulty` (contract B): all rows carry a number, or none does."""
    values, missing = [], []
    for i, r in enumerate(rows, start=1):
        v = r.extra.get("difficulty")
        if v is None:
            missing.append(i)
            values.append(float("nan"))
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise AnalysisInputError(
                f"{where}: stimulus {r.stimulus_id!r} has difficulty {v!r}, expected a number"
            ) from None
        if not math.isfinite(f):
            raise AnalysisInputError(
                f"{where}: stimulus {r.stimulus_id!r} has difficulty {v!r}, expected a finite number"
            )
        values.append(f)
    if missing and len(missing) < len(values):
        raise AnalysisInputError(
            f"{where}: {len(missing)} of {len(values)} rows lack 'difficulty' (e.g. row "
            f"{missing[0]}); a set's rows carry it all or not at all"
        )
    return values


def set_medium(s: StimulusSet) -> str:
    """ "photo" or "rendered": the card's own word when it says so (a set `kind`), else a
    set whose rows record no scene is external images (photos), one that does was
    rendered by a stimulus family."""
    for key in ("kind", "set_kind", "medium"):
        v = str(s.card.get(key) or "").lower()
        if v.startswith("photo"):
            return PHOTO
        if v.startswith("render"):
            return RENDERED
    return RENDERED if any("scene" in r.extra for r in s.rows) else PHOTO


def load_truth(set_dirs: Iterable[str | Path]) -> tuple[pd.DataFrame, dict[str, SetInfo]]:
    """Ground truth rows of the given set folders, keyed by (set card name, stimulus id),
    with each row's difficulty (NaN for sets without one) and each set's `SetInfo`."""
    frames, infos = [], {}
    for d in set_dirs:
        try:
            s = load_set(d, check_images=False)
        except SetFormatError as e:
            raise AnalysisInputError(str(e)) from None
        if s.name in infos:
            raise AnalysisInputError(
                f"--truth: set {s.name!r} was given twice (two set folders with the same card name)"
            )
        where = str(Path(d) / "metadata.jsonl")
        diff = _difficulty(s.rows, where)
        has = bool(diff) and not pd.isna(diff[0])
        card_entry = s.card.get("difficulty")
        if card_entry is not None and not isinstance(card_entry, dict):
            raise AnalysisInputError(
                f"{Path(d) / 'dataset.json'}: 'difficulty' must be an object "
                f"with name, unit and description, got {card_entry!r}"
            )
        medium = set_medium(s)
        infos[s.name] = SetInfo(s.name, str(d), len(s.rows), has, card_entry, medium)
        frames.append(_truth_frame(s, medium).assign(difficulty=diff))
    return pd.concat(frames, ignore_index=True), infos


def _truth_frame(s: StimulusSet, medium: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "set": s.name,
            "stimulus_id": [r.stimulus_id for r in s.rows],
            "domain": [r.domain for r in s.rows],
            "n_blocks": [r.n_blocks for r in s.rows],
            "falls": [r.falls for r in s.rows],
            "medium": medium,
        }
    )


def load_training(trained: Iterable[TrainedOn]) -> dict[str, TrainingScope]:
    """Per condition, the cells its training sets cover (and their human labels)."""
    parts: dict[str, list[tuple[StimulusSet, str, pd.DataFrame | None]]] = {}
    for t in trained:
        if not str(t.condition).strip():
            raise AnalysisInputError(f"--trained: an empty condition name for {t.set_dir}")
        try:
            s = load_set(t.set_dir, check_images=False)
        except SetFormatError as e:
            raise AnalysisInputError(f"--trained {t.condition}: {e}") from None
        h = None
        if t.humans is not None:
            try:
                h = _read_responses(t.humans)
            except ResponsesFormatError as e:
                raise AnalysisInputError(f"--trained {t.condition}: {e}") from None
            h, _ = _drop_flagged(h, str(t.humans), include=False)
            unknown = ~h["stimulus_id"].isin({r.stimulus_id for r in s.rows})
            if unknown.all():
                raise AnalysisInputError(
                    f"--trained {t.condition}: {t.humans}: none of its stimulus ids is in the training set {s.name!r}"
                )
            h = h[~unknown]
        parts.setdefault(str(t.condition), []).append((s, set_medium(s), h))
    out = {}
    for cond, items in parts.items():
        cells = frozenset((m, r.domain, int(r.n_blocks)) for s, m, _ in items for r in s.rows)
        labels = tuple(HumanLabels(cond, s.name, _truth_frame(s, m), h) for s, m, h in items if h is not None)
        out[cond] = TrainingScope(cond, cells, tuple(dict.fromkeys(s.name for s, _, _ in items)), labels)
    return out


def truth_from_predictions(pred: pd.DataFrame) -> pd.DataFrame:
    """Ground truth as the prediction tables state it; they must agree with each other."""
    t = pred[["set", "stimulus_id", "domain", "n_blocks", "falls", "source"]]
    u = t.drop_duplicates(list(TRUTH_COLUMNS))
    clash = u.duplicated(["set", "stimulus_id"], keep=False)
    if clash.any():
        first = u[clash].iloc[0]
        files = sorted(set(u.loc[clash, "source"]))
        raise AnalysisInputError(
            f"{', '.join(files)}: rows for stimulus {first['stimulus_id']!r} of set "
            f"{first['set']!r} disagree on domain, n_blocks or falls"
        )
    return u[list(TRUTH_COLUMNS)].reset_index(drop=True).assign(medium=UNKNOWN_MEDIUM, difficulty=float("nan"))


def check_against_truth(pred: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Every prediction must name a (set, stimulus) of the truth and agree with its label."""
    m = pred.merge(truth, on=["set", "stimulus_id"], how="left", suffixes=("", "_truth"), indicator=True)
    lacking = m["_merge"] == "left_only"
    if lacking.any():
        first = m[lacking].iloc[0]
        sets = sorted(truth["set"].unique())
        raise AnalysisInputError(
            f"{first['source']}: {int(lacking.sum())} prediction(s) for stimulus ids the ground "
            f"truth lacks, e.g. {first['stimulus_id']!r} in set {first['set']!r} "
            f"(truth sets: {sets})"
        )
    wrong = (m["falls"].astype(bool) != m["falls_truth"].astype(bool)) | (
        m["n_blocks"].astype(int) != m["n_blocks_truth"].astype(int)
    )
    if wrong.any():
        first = m[wrong].iloc[0]
        raise AnalysisInputError(
            f"{first['source']}: stimulus {first['stimulus_id']!r} of set {first['set']!r} has "
            f"falls={first['falls']}, n_blocks={first['n_blocks']} but the truth says "
            f"falls={first['falls_truth']}, n_blocks={first['n_blocks_truth']}"
        )


def _drop_flagged(h: pd.DataFrame, name: str, include: bool) -> tuple[pd.DataFrame, dict]:
    """The responses format's own reading of the exclusion flags (contract D)."""
    try:
        return drop_excluded(h, include=include, source=name)
    except ResponsesFormatError as e:
        raise AnalysisInputError(str(e)) from None


def apply_exclusions(h: pd.DataFrame, name: str, include: bool) -> tuple[pd.DataFrame, Exclusions]:
    """Drop (or keep, with `include`) the rows of flagged participants; count per rule."""
    left, summary = _drop_flagged(h, name, include=False)
    rows = [{"rule": r, "n_participants": n, "n_responses": None} for r, n in sorted(summary["by_rule"].items())]
    n_rows = len(h) - len(left)
    if summary["participants"]:
        rows.append({"rule": ALL_FLAGGED, "n_participants": summary["participants"], "n_responses": n_rows})
    info = Exclusions(
        flagged="excluded" in h.columns,
        included=include,
        n_participants=int(h["participant"].nunique()),
        n_excluded=int(summary["participants"]),
        by_rule=pd.DataFrame(rows, columns=["rule", "n_participants", "n_responses"]),
        n_excluded_responses=int(n_rows),
    )
    return (h if include else left.reset_index(drop=True)), info


def _read_responses(path: str | Path) -> pd.DataFrame:
    """`read_responses`, with a file that is not a CSV table (binary, another encoding,
    unbalanced quotes) refused in one line like every other bad table."""
    try:
        return read_responses(path)
    except (UnicodeDecodeError, pd.errors.ParserError) as e:
        reason = " ".join(str(e).split())[:200]
        raise ResponsesFormatError(f"{path}: not a readable UTF-8 CSV table ({reason})") from None


def load_humans(
    source: str | Path | pd.DataFrame, truth: pd.DataFrame, *, include_excluded: bool = False
) -> tuple[pd.DataFrame, Exclusions]:
    """Human responses joined on stimulus_id with every truth set that holds the stimulus;
    participants flagged `excluded` are dropped unless `include_excluded`."""
    name = "humans" if isinstance(source, pd.DataFrame) else str(source)
    try:
        h = validate_responses(source, name) if isinstance(source, pd.DataFrame) else _read_responses(source)
    except ResponsesFormatError as e:
        raise AnalysisInputError(str(e)) from None
    h, exclusions = apply_exclusions(h, name, include_excluded)
    if h.empty:
        raise AnalysisInputError(
            f"{name}: every participant is flagged excluded (use --include-excluded to analyse them anyway)"
        )
    n_part = h["participant"].nunique()
    if n_part < 2:
        raise AnalysisInputError(
            f"{name}: the human table has only {n_part} participant; the analysis needs at "
            "least two (the human-human consistency is the ceiling of every kappa)"
        )
    joined = h.merge(truth, on="stimulus_id", how="inner")
    unknown = ~h["stimulus_id"].isin(truth["stimulus_id"])
    if unknown.all():
        raise AnalysisInputError(
            f"{name}: none of its stimulus ids is in the predictions or truth sets (e.g. {h['stimulus_id'].iloc[0]!r})"
        )
    if unknown.any():
        warnings.warn(
            f"{name}: {int(unknown.sum())} response(s) for "
            f"{h.loc[unknown, 'stimulus_id'].nunique()} stimulus id(s) outside the analysed "
            "sets are ignored",
            stacklevel=2,
        )
    joined["correct"] = joined["response"].astype(bool) == joined["falls"].astype(bool)
    return joined, exclusions


def load_inputs(
    predictions: Sequence[str | Path | pd.DataFrame] | str | Path | pd.DataFrame,
    truth: Iterable[str | Path] = (),
    humans: str | Path | pd.DataFrame | None = None,
    *,
    include_excluded: bool = False,
    trained: Iterable[TrainedOn] = (),
    fits: Iterable[str | Path] = (),
) -> AnalysisData:
    """Load and check everything `analyze` needs (see `AnalysisData`)."""
    fit_results = load_fits(fits)
    if isinstance(predictions, (str, Path, pd.DataFrame)):
        predictions = [predictions]
    loaded = load_predictions(list(predictions))
    pred, unanswered = loaded[loaded["answered"]].reset_index(drop=True), loaded[~loaded["answered"]]
    truth = list(truth)
    if truth:
        t, infos = load_truth(truth)
        check_against_truth(pred, t)
    else:
        t = truth_from_predictions(pred)
        infos = {s: SetInfo(s, None, int(n), False) for s, n in t.groupby("set")["stimulus_id"].nunique().items()}
    h, excl = load_humans(humans, t, include_excluded=include_excluded) if humans is not None else (None, None)
    training = load_training(trained)
    pred = pred.merge(t[["set", "stimulus_id", "medium"]], on=["set", "stimulus_id"], how="left")
    pred["medium"] = pred["medium"].fillna(UNKNOWN_MEDIUM)
    return AnalysisData(
        pred,
        t,
        h,
        sorted(set(pred["source"])),
        infos,
        excl,
        None if humans is None else ("humans" if isinstance(humans, pd.DataFrame) else str(humans)),
        training,
        unanswered.reset_index(drop=True),
        fit_results,
    )


def load_fits(folders: Iterable[str | Path]) -> tuple[FitResult, ...]:
    """The fit folders given (checked before anything else is read: a bad one is one line)."""
    out = []
    for folder in folders:
        try:
            out.append(read_fit(folder))
        except FitFormatError as e:
            raise AnalysisInputError(str(e)) from None
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise AnalysisInputError(f"two fits are named {sorted(n for n in names if names.count(n) > 1)[0]!r}")
    return tuple(out)
