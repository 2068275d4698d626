"""Human judgments as a long table: one row per (stimulus, participant).

Columns: `stimulus_id`, `participant`, `response` (1 = "Yes", something falls; 0 = "No").
Further columns (rt_ms, trial_index, timestamps, ...) are kept as they are. The web app
exports this table, the Lerer100 import writes it, fine-tuning on human labels and the
kappa analysis read it.

Exclusions (contract D): a table may carry `excluded` (0/1) and `exclusion_rules` (the
";"-joined names of the rules that excluded the participant, empty when kept). Excluded
participants stay in the table, flagged; readers drop them by default (`drop_excluded`)
and can be asked to keep them. A table without these columns has no exclusions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cubeworld.errors import CubeworldError

RESPONSE_COLUMNS = ("stimulus_id", "participant", "response")
EXCLUSION_COLUMNS = ("excluded", "exclusion_rules")

_YES = {"yes", "1", "true", "y"}
_NO = {"no", "0", "false", "n"}


class ResponsesFormatError(CubeworldError):
    """A human-responses table is malformed; the message names the file and the problem."""


def normalise_response(value: object, where: str = "response") -> int:
    """Yes/No/1/0/True/False (any case) -> 1/0; anything else is an error."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _YES:
        return 1
    if text in _NO:
        return 0
    raise ResponsesFormatError(f"{where}: response {value!r} is not Yes/No/1/0")


def validate_responses(df: pd.DataFrame, source: str = "responses") -> pd.DataFrame:
    """Check columns and values; return a copy with `response` as 0/1 ints and ids as str."""
    if df.empty:
        raise ResponsesFormatError(f"{source}: the table is empty")
    missing = [c for c in RESPONSE_COLUMNS if c not in df.columns]
    if missing:
        raise ResponsesFormatError(f"{source}: missing column(s) {missing}; expected {list(RESPONSE_COLUMNS)}")
    out = df.copy()
    out["stimulus_id"] = out["stimulus_id"].astype(str)
    out["participant"] = out["participant"].astype(str)
    bad = []
    values = []
    for i, v in enumerate(out["response"].tolist()):
        try:
            values.append(normalise_response(v))
        except ResponsesFormatError:
            bad.append((i, v))
    if bad:
        shown = ", ".join(f"row {i + 2}: {v!r}" for i, v in bad[:5])
        raise ResponsesFormatError(f"{source}: {len(bad)} response(s) other than Yes/No/1/0 ({shown})")
    out["response"] = values
    exclusion_flags(out, source)  # a malformed flag is an error here, not in a reader
    dup = out.duplicated(["stimulus_id", "participant"], keep=False)
    if dup.any():
        first = out[dup].iloc[0]
        raise ResponsesFormatError(
            f"{source}: {int(dup.sum())} duplicate (stimulus_id, participant) rows, e.g. "
            f"{first['stimulus_id']!r} / {first['participant']!r}"
        )
    return out


def exclusion_flags(df: pd.DataFrame, source: str = "responses") -> pd.Series:
    """Per row: is the participant flagged excluded? 1/0 or true/false; an empty cell (or
    no `excluded` column) is not flagged, so tables with and without flags can be stacked.
    A flag belongs to the participant: one flagged row flags all of their rows."""
    if "excluded" not in df.columns:
        return pd.Series(False, index=df.index)
    raw = df["excluded"]
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip().str.lower()
    text = text.str.replace(r"\.0$", "", regex=True)
    ok = text.isin(["0", "1", "true", "false", ""])
    if not ok.all():
        i = int((~ok).to_numpy().argmax())
        raise ResponsesFormatError(f"{source}: row {i + 2}: excluded must be 0 or 1, got {str(raw.iloc[i])!r}")
    flagged = text.isin(["1", "true"])
    return df["participant"].isin(set(df.loc[flagged, "participant"]))


def drop_excluded(df: pd.DataFrame, include: bool = False, source: str = "responses") -> tuple[pd.DataFrame, dict]:
    """The rows to analyse, and who was left out: `{"participants": n, "by_rule": {rule: n}}`.

    `include=True` keeps everyone (the summary still says who is flagged). A table without
    an `excluded` column has no exclusions.
    """
    flagged = exclusion_flags(df, source)
    people = df.loc[flagged].drop_duplicates("participant")
    by_rule: dict[str, int] = {}
    if "exclusion_rules" in people.columns:
        for rules in people["exclusion_rules"].fillna("").astype(str):
            for rule in filter(None, (r.strip() for r in rules.split(";"))):
                by_rule[rule] = by_rule.get(rule, 0) + 1
    summary = {"participants": int(len(people)), "by_rule": by_rule}
    return (df if include else df.loc[~flagged]), summary


def read_responses(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ResponsesFormatError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, dtype={"stimulus_id": str, "participant": str})
    except pd.errors.EmptyDataError:
        raise ResponsesFormatError(f"{path}: the table is empty") from None
    return validate_responses(df, str(path))
