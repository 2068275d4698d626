"""Exclusion rules, declared in study.yaml before the data come in, applied at export.

A researcher writes the rules into the study's settings before launching (block
`exclusions:` of study.yaml); the store records them when the first participant starts,
so an export can say whether the rules it applied are the ones declared before any data
existed. Excluded participants are never deleted: the export keeps all their rows and
flags them (`excluded` 0/1, `exclusion_rules` = the ";"-joined names of the rules that
hit), and the analysis drops flagged rows unless asked to keep them.

The rules (a rule set to null is off):

    attention_failed: N       at least N attention checks answered wrongly
    same_answer_run: N        a run of at least N identical answers in a row (image
                              trials in the order shown; attention checks are skipped)
    median_rt_below_ms: T     median reaction time over image trials below T ms
    median_rt_beyond_sd: K    median reaction time more than K standard deviations from
                              the mean of all participants' medians (either side; needs
                              at least 3 participants with reaction times)
    duplicates: true          a later participant whose Prolific ID equals an earlier one's
                              ignoring case and surrounding space, or who shares an earlier
                              participant's non-empty Prolific SESSION_ID
    duplicates_of: [files]    CSV files (e.g. an earlier study's participants.csv) whose
                              `participant` column lists people who took part before;
                              they are flagged `duplicates` here

The rule names are the keys, so a flag leads straight back to the line of study.yaml
that caused it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas loads only when rules are applied, not at `cubeworld --help`
    import pandas as pd

from cubeworld.human.errors import HumanStudyError, SettingProblem
from cubeworld.human.limits import MAX_EXCLUSION_FILES, MAX_TRIALS, RT_MAX_MS
from cubeworld.typed import from_plain, setting

RULES = ("attention_failed", "same_answer_run", "median_rt_below_ms", "median_rt_beyond_sd", "duplicates")
RT_RULES = ("median_rt_below_ms", "median_rt_beyond_sd")
MIN_PARTICIPANTS_FOR_SD = 3


class ExclusionError(HumanStudyError):
    """Exclusion rules that are malformed or cannot be applied to the data at hand."""


@dataclass(frozen=True)
class ExclusionRules:
    """The `exclusions:` block of study.yaml (see the module docstring for each rule)."""

    attention_failed: int | None = setting(None, minimum=1, maximum=MAX_TRIALS)
    same_answer_run: int | None = setting(None, minimum=2, maximum=MAX_TRIALS)
    median_rt_below_ms: float | None = setting(None, minimum=0, maximum=RT_MAX_MS)
    median_rt_beyond_sd: float | None = setting(None, minimum=0, maximum=100)
    duplicates: bool = True
    duplicates_of: tuple[str, ...] = setting(factory=tuple, maximum=MAX_EXCLUSION_FILES)

    def __post_init__(self) -> None:
        for key in RT_RULES:
            if getattr(self, key) == 0:
                raise SettingProblem(f"exclusions.{key}", "must be a positive number (or null for off), got 0")
        if not all(p.strip() for p in self.duplicates_of):
            raise SettingProblem("exclusions.duplicates_of", "must be a list of CSV file paths, got an empty one")

    @classmethod
    def parse(cls, data: Any, where: str) -> ExclusionRules:
        """Rules from plain data (a mapping of rules, or None for the defaults)."""
        if data is None:
            return cls()
        try:
            return from_plain(cls, data, where, ExclusionError)
        except SettingProblem as e:
            raise ExclusionError(f"{where}: {e}") from None

    @property
    def active(self) -> tuple[str, ...]:
        """The names of the rules that are on."""
        on = []
        for name in RULES:
            value = getattr(self, name)
            if name == "duplicates":
                if value or self.duplicates_of:
                    on.append(name)
            elif value is not None:
                on.append(name)
        return tuple(on)

    @property
    def uses_rt(self) -> bool:
        return any(getattr(self, k) is not None for k in RT_RULES)


@dataclass
class ParticipantStats:
    """What the rules look at, per participant (also exported in participants.csv)."""

    attention_failed: int = 0
    longest_same_answer_run: int = 0
    median_rt_ms: float = float("nan")


@dataclass
class ExclusionResult:
    """Who is excluded by which rules; counts per rule; notes on rules that could not apply."""

    rules: ExclusionRules
    flags: dict[str, list[str]]  # participant -> rule names that hit (empty: kept)
    stats: dict[str, ParticipantStats]
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Participants hit by each active rule (one participant may count under several)."""
        return {r: sum(r in f for f in self.flags.values()) for r in self.rules.active}

    @property
    def n_excluded(self) -> int:
        return sum(bool(f) for f in self.flags.values())

    def label(self, participant: str) -> str:
        return ";".join(self.flags.get(participant, []))

    def summary(self) -> str:
        """One line: how many were excluded and by which rule."""
        n = len(self.flags)
        if not self.rules.active:
            return f"exclusions: no rules declared; all {n} participant(s) kept"
        per = ", ".join(f"{r} {c}" for r, c in self.counts.items())
        return f"exclusions: {self.n_excluded} of {n} participant(s) excluded ({per})"


def longest_run(values: Iterable[int]) -> int:
    """The length of the longest run of equal consecutive values (0 for none)."""
    best = run = 0
    previous = object()
    for v in values:
        run = run + 1 if v == previous else 1
        previous = v
        best = max(best, run)
    return best


def normalise_id(pid: str) -> str:
    return str(pid).strip().casefold()


def read_previous_participants(paths: Iterable[str], base: Path) -> set[str]:
    """Normalised Prolific IDs listed in earlier studies' tables (`participant` column)."""
    import pandas as pd

    seen: set[str] = set()
    for p in paths:
        path = Path(p) if Path(p).is_absolute() else base / p
        if not path.is_file():
            raise ExclusionError(f"exclusions.duplicates_of: {path}: no such file")
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
            raise ExclusionError(
                f"exclusions.duplicates_of: {path}: not a readable CSV ({str(e).splitlines()[0]})"
            ) from None
        if "participant" not in df.columns:
            raise ExclusionError(
                f"exclusions.duplicates_of: {path}: no 'participant' column (columns: {list(df.columns)})"
            )
        seen.update(normalise_id(x) for x in df["participant"] if str(x).strip())
    return seen


def apply_exclusions(
    rules: ExclusionRules,
    participants: pd.DataFrame,
    responses: pd.DataFrame,
    *,
    previous: set[str] | None = None,
    source: str = "responses",
) -> ExclusionResult:
    """Apply `rules` to every participant.

    participants: one row per participant, in the order they started, with columns
    `participant`, `prolific_session_id` and (for the attention rule) `attention_failed`.
    responses: image trials only, with `participant`, `response` (0/1), `trial_index` and
    (for the reaction-time rules) `rt_ms`. `previous`: normalised IDs from `duplicates_of`.
    A reaction-time rule on a table with no reaction times is an ExclusionError.
    """
    import numpy as np
    import pandas as pd

    pids = [str(p) for p in participants["participant"]]
    flags: dict[str, list[str]] = {p: [] for p in pids}
    stats = {p: ParticipantStats() for p in pids}
    notes: list[str] = []

    if "attention_failed" in participants.columns:
        for p, f in zip(pids, participants["attention_failed"]):
            stats[p].attention_failed = int(f)

    rt = None
    if "rt_ms" in responses.columns:
        rt = pd.to_numeric(responses["rt_ms"], errors="coerce")
        rt = rt.where(np.isfinite(rt))
    if rules.uses_rt and len(responses) and (rt is None or rt.isna().all()):
        asked = [r for r in RT_RULES if getattr(rules, r) is not None]
        lacks = "has no rt_ms column" if rt is None else "has no reaction time in rt_ms"
        raise ExclusionError(
            f"{source}: the exclusion rule(s) {asked} need reaction times, "
            f"but the table {lacks}; turn them off (null) in study.yaml"
        )

    if len(responses):
        ordered = responses.assign(_rt=rt if rt is not None else np.nan).sort_values(
            ["participant", "trial_index"], kind="stable"
        )
        for p, g in ordered.groupby("participant", sort=False):
            s = stats.get(str(p))
            if s is None:
                continue
            s.longest_same_answer_run = longest_run(g["response"].astype(int).tolist())
            vals = g["_rt"].dropna()
            if len(vals):
                s.median_rt_ms = float(vals.median())

    if rules.attention_failed is not None:
        for p in pids:
            if stats[p].attention_failed >= rules.attention_failed:
                flags[p].append("attention_failed")
    if rules.same_answer_run is not None:
        for p in pids:
            if stats[p].longest_same_answer_run >= rules.same_answer_run:
                flags[p].append("same_answer_run")
    medians = {p: s.median_rt_ms for p, s in stats.items() if not math.isnan(s.median_rt_ms)}
    if rules.uses_rt and len(responses):
        answered = set(responses["participant"].astype(str))
        lacking = sum(1 for p in pids if p in answered and p not in medians)
        if lacking:
            notes.append(
                f"{lacking} participant(s) answered without any reaction time; "
                "the reaction-time rules do not apply to them"
            )
    if rules.median_rt_below_ms is not None:
        for p, m in medians.items():
            if m < rules.median_rt_below_ms:
                flags[p].append("median_rt_below_ms")
    if rules.median_rt_beyond_sd is not None:
        if len(medians) < MIN_PARTICIPANTS_FOR_SD:
            notes.append(
                f"median_rt_beyond_sd needs at least {MIN_PARTICIPANTS_FOR_SD} "
                f"participants with reaction times, got {len(medians)}: not applied"
            )
        else:
            values = np.array(list(medians.values()))
            mean, sd = float(values.mean()), float(values.std(ddof=1))
            for p, m in medians.items():
                if sd > 0 and abs(m - mean) > rules.median_rt_beyond_sd * sd:
                    flags[p].append("median_rt_beyond_sd")
    if rules.duplicates or rules.duplicates_of:
        seen_ids: set[str] = set()
        seen_sessions: set[str] = set()
        sessions = (
            participants["prolific_session_id"].fillna("").astype(str).tolist()
            if "prolific_session_id" in participants.columns
            else [""] * len(pids)
        )
        for p, sess in zip(pids, sessions):
            key = normalise_id(p)
            dup = False
            if rules.duplicates:
                dup = key in seen_ids or (sess != "" and sess in seen_sessions)
            if previous and key in previous:
                dup = True
            if dup:
                flags[p].append("duplicates")
            seen_ids.add(key)
            if sess:
                seen_sessions.add(sess)
    return ExclusionResult(rules=rules, flags=flags, stats=stats, notes=notes)
