"""A model's answers, one row per stimulus: written by every observer, read by the analysis.

Required columns (`PREDICTION_COLUMNS`): the stimulus and its set, who answered (model,
adapter, condition, seed, epoch), P(Yes), the answer and whether it was correct. `domain`,
`n_blocks` and `falls` are copied from the set row so a table can be analysed alone.

Columns every observer writes, empty where they do not apply (`OBSERVER_COLUMNS`):
`kind` (observer kind; missing = "vlm"), `logp_yes` / `logp_no` (natural-log probability
of the answer token over the full vocabulary at the answer position), `p_other`
(1 - P(Yes) - P(No) over the full vocabulary), and provenance: `prompt_sha256`,
`template_sha256` (the chat template), `image_size` (the size actually fed, "HxW"),
`max_pixels`, `dtype`, `batch_size`, `torch_version`, `transformers_version`,
`peft_version`. Optional: `quantize` ("none", "4bit", "8bit"), `free_text` (generated
text: a few tokens beside the probabilities, or a generating mode's whole answer), `mode`
(how a VLM was asked: logprob, free, step) and `extraction` ("ok", or "failed: <why>" when
no Yes or No could be read from the generated text). Tables written before these columns
existed read as they are, with the columns added (kind "vlm", the rest empty).

A row whose `extraction` failed has no answer: `answer` and `p_yes` are empty and
`correct` is false. It is kept, never dropped, so failures are counted; it is the only
row that may leave `answer` empty.

The settings that define a table (`SETTINGS_COLUMNS`) are stored in its rows: resuming
rows of one observer (same model, adapter, condition, seed, epoch) under other settings is
refused, naming the settings that differ (`PredictionWriter.check_settings`).

Tables are CSV or Parquet by suffix. `PredictionWriter` appends CSV rows one complete
line at a time, so a killed scoring run resumes where it stopped; Parquet is written once,
atomically, when the run completes (rows collect in a CSV beside it until then).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cubeworld.errors import CubeworldError
from cubeworld.formats.atomic import (
    append_line,
    atomic_write_bytes,
    atomic_write_text,
    truncate_torn_tail,
)
from cubeworld.formats.modes import LOGPROB_MODE, MODE_SEPARATOR, base_model  # noqa: F401 (the table's vocabulary)

PREDICTION_COLUMNS = (
    "stimulus_id",
    "set",
    "domain",
    "n_blocks",
    "falls",
    "model",
    "adapter",
    "condition",
    "seed",
    "epoch",
    "p_yes",
    "answer",
    "correct",
)
# Written by every observer (empty where they do not apply), in this order after the above.
OBSERVER_COLUMNS = (
    "kind",
    "logp_yes",
    "logp_no",
    "p_other",
    "prompt_sha256",
    "template_sha256",
    "image_size",
    "max_pixels",
    "dtype",
    "batch_size",
    "torch_version",
    "transformers_version",
    "peft_version",
)
OPTIONAL_COLUMNS = ("quantize", "free_text", "mode", "extraction")
FAILED_EXTRACTION = "failed"  # how an `extraction` value without an answer starts
FLOAT_COLUMNS = ("logp_yes", "logp_no", "p_other")
DEFAULT_KIND = "vlm"
# People as observers (`cubeworld fit people`): rows of kind "human", one observer per
# participant, `model` = "human:<participant>", and the group majority, "human:majority".
# The analysis compares such an observer with every participant but itself (leave one out).
HUMAN_KIND = "human"
HUMAN_MODEL_PREFIX = "human:"
MAJORITY_MODEL = HUMAN_MODEL_PREFIX + "majority"


def human_model(participant: str) -> str:
    """The `model` of the observer that is participant `participant`."""
    return f"{HUMAN_MODEL_PREFIX}{participant}"


# The columns that identify one prediction: a table never holds two rows with equal keys.
KEY_COLUMNS = ("stimulus_id", "set", "model", "adapter", "condition", "seed", "epoch")
# The rows of one observer in a table: resuming them must keep the settings below.
GROUP_COLUMNS = ("model", "adapter", "condition", "seed", "epoch")
# The settings that change what a row says; one observer's rows in a table share them.
SETTINGS_COLUMNS = ("kind", "max_pixels", "dtype", "quantize", "template_sha256")


class PredictionsFormatError(CubeworldError):
    """A predictions table is malformed; the message names the file and the problem."""


class PredictionsSettingsError(PredictionsFormatError):
    """Rows asked for would join a table scored under other settings (names them)."""


def read_predictions(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise PredictionsFormatError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            df = pd.read_parquet(path)
        except OSError as e:
            if e.errno is not None:  # permissions, a vanished file: the CLI's own message
                raise
            raise PredictionsFormatError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None
        except ValueError as e:  # pyarrow's ArrowInvalid: bad magic bytes, a torn footer
            raise PredictionsFormatError(f"{path}: not a readable Parquet file ({_first_line(e)})") from None
    else:
        try:
            df = pd.read_csv(
                path,
                dtype={"stimulus_id": str, "set": str, "adapter": str, "condition": str, "model": str, "kind": str},
                keep_default_na=False,
                na_values={"p_yes": [""]},
            )
        except pd.errors.EmptyDataError:
            raise PredictionsFormatError(f"{path}: the table is empty") from None
        except UnicodeDecodeError as e:  # a binary file, or text in another encoding
            raise PredictionsFormatError(f"{path}: not a UTF-8 CSV table ({_first_line(e)})") from None
        except pd.errors.ParserError as e:
            raise PredictionsFormatError(f"{path}: not a readable CSV table ({_first_line(e)})") from None
    return validate_predictions(df, str(path))


def _first_line(error: BaseException) -> str:
    """A reader's message, cut to one line (pyarrow's run over several)."""
    text = " ".join(str(error).split())
    return text if len(text) <= 200 else text[:197] + "..."


def validate_predictions(df: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """Check the required columns and values; add the observer columns a table lacks."""
    if df.empty:
        raise PredictionsFormatError(f"{source}: the table is empty")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsFormatError(f"{source}: missing column(s) {missing}")
    df = df.copy()
    df["stimulus_id"] = df["stimulus_id"].astype(str)
    for col in ("set", "model", "adapter", "condition", "answer"):
        df[col] = df[col].fillna("").astype(str)
    unanswered = unanswered_rows(df)
    bad_answer = ~df["answer"].isin(["Yes", "No"]) & ~unanswered
    if bad_answer.any():
        raise PredictionsFormatError(
            f"{source}: answer must be Yes or No, got {df.loc[bad_answer, 'answer'].iloc[0]!r} "
            "(empty only where extraction failed)"
        )
    df["falls"] = df["falls"].map(_as_bool)
    df["correct"] = df["correct"].map(_as_bool)
    dup = df.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        raise PredictionsFormatError(
            f"{source}: {int(dup.sum())} duplicate rows for the same stimulus and model, "
            f"e.g. stimulus {first['stimulus_id']!r} in set {first['set']!r}"
        )
    kind = df["kind"].fillna("").astype(str) if "kind" in df.columns else pd.Series("", index=df.index)
    df["kind"] = kind.where(kind != "", DEFAULT_KIND)
    for col in FLOAT_COLUMNS:
        if col not in df.columns:
            df[col] = float("nan")
            continue
        values = pd.to_numeric(df[col].replace("", float("nan")), errors="coerce")
        bad = values.isna() & df[col].notna() & (df[col].astype(str) != "")
        if bad.any():
            raise PredictionsFormatError(
                f"{source}: column {col!r} must be a number or empty, got {df.loc[bad, col].iloc[0]!r}"
            )
        df[col] = values
    for col in OBSERVER_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    return df


def unanswered_rows(df: pd.DataFrame) -> pd.Series:
    """Rows without an answer: `answer` empty where `extraction` says it failed."""
    if "extraction" not in df.columns:
        return pd.Series(False, index=df.index)
    failed = df["extraction"].fillna("").astype(str).str.startswith(FAILED_EXTRACTION)
    return failed & (df["answer"].fillna("").astype(str) == "")


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def _text(value: Any) -> str:
    """A value as the CSV stores it (so settings compare alike from CSV, Parquet and memory)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class PredictionWriter:
    """Append prediction rows to `path` so that a killed run resumes without duplicates."""

    def __init__(self, path: str | Path, extra_columns: Iterable[str] = ()):
        self.path = Path(path)
        self.columns = list(PREDICTION_COLUMNS) + [c for c in extra_columns if c not in PREDICTION_COLUMNS]
        self.log = self.path if self.path.suffix == ".csv" else self.path.with_name(self.path.name + ".partial.csv")
        if self.path.suffix not in (".csv", ".parquet"):
            raise PredictionsFormatError(f"{self.path}: predictions must end in .csv or .parquet")
        self._existing: pd.DataFrame | None = None

    def existing(self) -> pd.DataFrame:
        """Rows already written (from a finished Parquet and the append log), all as text."""
        if self._existing is None:
            frames = []
            if self.path.suffix == ".parquet" and self.path.exists():
                frames.append(pd.read_parquet(self.path).map(_text))
            if self.log.exists():
                truncate_torn_tail(self.log)
                if self.log.stat().st_size > 0:
                    frames.append(pd.read_csv(self.log, dtype=str, keep_default_na=False))
            frames = [f for f in frames if not f.empty]
            self._existing = (
                pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame(columns=list(KEY_COLUMNS))
            )
        return self._existing

    def done_keys(self) -> set[tuple[str, ...]]:
        """Keys of rows already written."""
        df = self.existing()
        missing = [c for c in KEY_COLUMNS if c not in df.columns]
        if missing:
            raise PredictionsFormatError(f"{self.path}: missing column(s) {missing}")
        return {tuple(rec) for rec in df[list(KEY_COLUMNS)].astype(str).itertuples(index=False)}

    def check_settings(self, group: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        """Refuse to add rows of `group` (model, adapter, condition, seed, epoch) when the
        table's rows of that group were written under other `settings` (a column -> value
        mapping, e.g. max_pixels, dtype). Columns the old rows lack, or leave empty, are not
        compared (they were written before the setting was recorded)."""
        df = self.existing()
        if df.empty:
            return
        mask = pd.Series(True, index=df.index)
        for col in GROUP_COLUMNS:
            mask &= df[col].astype(str) == _text(group[col])
        rows = df[mask]
        if rows.empty:
            return
        had: dict[str, str] = {}
        for col, value in settings.items():
            if col not in rows.columns:
                continue
            stored = set(rows[col].astype(str))
            if col == "kind":
                stored = {v or DEFAULT_KIND for v in stored}
            old = sorted(stored - {""})  # empty: not recorded (an older row), not compared
            if old and old != [_text(value)]:
                had[col] = "/".join(repr(v) for v in old)
        if had:
            now = ", ".join(f"{c}={_text(settings[c])!r}" for c in had)
            was = ", ".join(f"{c}={v}" for c, v in had.items())
            raise PredictionsSettingsError(
                f"{self.path}: its {len(rows)} row(s) of this model were written with {was}; "
                f"this request has {now}. Differing setting(s): {', '.join(had)}. Write to "
                "another table, or remove this one to score again"
            )

    @staticmethod
    def key_of(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[c]) for c in KEY_COLUMNS)

    def _align_header(self) -> None:
        """Make the log's header hold every column to write (an older table gains the new
        columns, its rows empty there), rewritten atomically; later rows follow it."""
        if not self.log.exists() or self.log.stat().st_size == 0:
            return
        with open(self.log, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        wanted = header + [c for c in self.columns if c not in header]
        if wanted != header:
            old = pd.read_csv(self.log, dtype=str, keep_default_na=False)
            lines = [_csv_line(wanted)] + [
                _csv_line([rec.get(c, "") for c in wanted]) for rec in old.to_dict("records")
            ]
            atomic_write_text(self.log, "\n".join(lines) + "\n")
        self.columns = wanted

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        if self.path.suffix == ".parquet" and self.path.exists():
            raise PredictionsFormatError(f"{self.path}: already complete; remove it to add rows")
        truncate_torn_tail(self.log)
        self._align_header()
        self._existing = None
        new_file = not self.log.exists() or self.log.stat().st_size == 0
        for row in rows:
            if new_file:
                append_line(self.log, _csv_line(self.columns))
                new_file = False
            append_line(self.log, _csv_line([row.get(c, "") for c in self.columns]))

    def finish(self) -> Path:
        """Complete the table: for Parquet, convert the append log atomically."""
        if self.path.suffix == ".parquet" and self.log.exists():
            df = pd.read_csv(self.log, dtype={"stimulus_id": str}, keep_default_na=False)
            if self.path.exists():
                df = pd.concat([pd.read_parquet(self.path), df], ignore_index=True)
            buf = io.BytesIO()
            df.to_parquet(buf, index=False)
            atomic_write_bytes(self.path, buf.getvalue())
            os.unlink(self.log)
        self._existing = None
        return self.path


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    line = buf.getvalue()
    if "\n" in line or "\r" in line:  # free text with newlines: keep one physical line per row
        line = line.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return line
