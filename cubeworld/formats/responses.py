"""Human judgments as a long table: one row per (stimulus, participant).

Columns: `stimulus_id`, `participant`, `response` (1 = "Yes", something falls; 0 = "No").
Further columns (rt_ms, trial_index, timestamps, ...) are kept as they are. The web app
exports this table, the Lerer100 import writes it, fine-tuning on human labels and the
kappa analysis read it.

One representation of a response, end to end: the integer code `response` (1 = the "Yes"
button, 0 = the "No" button). The web page sends it (the buttons are `RESPONSE_CHOICES`,
handed to the page by the server), the study database stores it, the export writes it and
every reader gets it. The answer words are only what a person reads on a button
(`response_label`); an observer's prediction row carries the same answer as
`answer = response_label(response)` with `p_yes = response`.

Exclusions (contract D): a table may carry `excluded` (0/1) and `exclusion_rules` (the
";"-joined names of the rules that excluded the participant, empty when kept). Excluded
participants stay in the table, flagged; readers drop them by default (`drop_excluded`)
and can be asked to keep them. A table without these columns has no exclusions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cubeworld.errors import CubeworldError
from cubeworld.formats.answers import NO, YES

RESPONSE_COLUMNS = ("stimulus_id", "participant", "response")
EXCLUSION_COLUMNS = ("excluded", "exclusion_rules")

# The buttons a participant answers with, in the order shown: (label, response code).
RESPONSE_CHOICES: tuple[tuple[str, int], ...] = ((YES, 1), (NO, 0))
RESPONSE_CODES = {label: code for label, code in RESPONSE_CHOICES}

_YES = {"yes", "1", "true", "y"}
_NO = {"no", "0", "false", "n"}


class ResponsesFormatError(CubeworldError):
    """A human-responses table is malformed; the message names the file and the problem."""


def response_code(answer: str) -> int:
    """The response code of an answer word: "Yes" -> 1, "No" -> 0 (a KeyError otherwise)."""
    return RESPONSE_CODES[answer]


def response_label(code: int) -> str:
    """The answer word of a response code: 1 -> "Yes", 0 -> "No"."""
    return YES if code == 1 else NO


def is_response(value: object) -> bool:
    """True for the response codes 1 and 0 (ints, not bools, floats or words)."""
    return type(value) is int and value in (0, 1)


def normalise_response(value: object, where: str = "response") -> int:
    """Yes/No/1/0/True/False (any case) -> 1/0; anything else is an error.

    Lenient on purpose: tables from elsewhere (Lerer100, a spreadsheet) write the answer in
    many ways; what comes out is always the response code."""
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
    for column in ("stimulus_id", "participant"):
        out[column] = _ids(out[column], column, source)
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


def _ids(values: pd.Series, column: str, source: str) -> pd.Series:
    """Ids as text; an empty or missing id is an error naming its row (a response nobody
    gave, or to no stimulus, cannot be joined or counted)."""
    empty = values.isna() | values.astype(str).str.strip().eq("")
    if empty.any():
        rows = [str(i + 2) for i in np.flatnonzero(empty.to_numpy())[:5]]
        more = f" and {int(empty.sum()) - len(rows)} more" if int(empty.sum()) > len(rows) else ""
        raise ResponsesFormatError(f"{source}: empty {column} in row(s) {', '.join(rows)}{more}")
    return values.astype(str)


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


def drop_excluded(
    df: pd.DataFrame, include: bool = False, source: str = "responses"
) -> tuple[pd.DataFrame, dict[str, Any]]:
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
