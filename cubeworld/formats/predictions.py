"""A model's answers, one row per stimulus: written by scoring, read by the analysis.

Columns (`PREDICTION_COLUMNS`): the stimulus and its set, who answered (model, adapter,
condition, seed, epoch), P(Yes), the answer and whether it was correct. `domain`,
`n_blocks` and `falls` are copied from the set row so a table can be analysed alone.
Optional: `free_text` (a few generated tokens, to compare with the probabilities).

Tables are CSV or Parquet by suffix. `PredictionWriter` appends CSV rows one complete
line at a time, so a killed scoring run resumes where it stopped; Parquet is written once,
atomically, when the run completes (rows collect in a CSV beside it until then).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from cubeworld.errors import CubeworldError
from cubeworld.formats.atomic import append_line, atomic_write_bytes, truncate_torn_tail

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
OPTIONAL_COLUMNS = ("free_text",)

# The columns that identify one prediction: a table never holds two rows with equal keys.
KEY_COLUMNS = ("stimulus_id", "set", "model", "adapter", "condition", "seed", "epoch")


class PredictionsFormatError(CubeworldError):
    """A predictions table is malformed; the message names the file and the problem."""


def read_predictions(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise PredictionsFormatError(f"{path}: no such file")
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        try:
            df = pd.read_csv(path, dtype={"stimulus_id": str, "set": str, "adapter": str,
                                          "condition": str, "model": str},
                             keep_default_na=False, na_values={"p_yes": [""]})
        except pd.errors.EmptyDataError:
            raise PredictionsFormatError(f"{path}: the table is empty") from None
    return validate_predictions(df, str(path))


def validate_predictions(df: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    if df.empty:
        raise PredictionsFormatError(f"{source}: the table is empty")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise PredictionsFormatError(f"{source}: missing column(s) {missing}")
    df = df.copy()
    df["stimulus_id"] = df["stimulus_id"].astype(str)
    for col in ("set", "model", "adapter", "condition", "answer"):
        df[col] = df[col].fillna("").astype(str)
    bad_answer = ~df["answer"].isin(["Yes", "No"])
    if bad_answer.any():
        raise PredictionsFormatError(
            f"{source}: answer must be Yes or No, got {df.loc[bad_answer, 'answer'].iloc[0]!r}"
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
    return df


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


class PredictionWriter:
    """Append prediction rows to `path` so that a killed run resumes without duplicates."""

    def __init__(self, path: str | Path, extra_columns: Iterable[str] = ()):
        self.path = Path(path)
        self.columns = list(PREDICTION_COLUMNS) + [
            c for c in extra_columns if c not in PREDICTION_COLUMNS
        ]
        self.log = self.path if self.path.suffix == ".csv" else self.path.with_name(
            self.path.name + ".partial.csv"
        )
        if self.path.suffix not in (".csv", ".parquet"):
            raise PredictionsFormatError(f"{self.path}: predictions must end in .csv or .parquet")

    def done_keys(self) -> set[tuple]:
        """Keys of rows already written (from a finished Parquet or the append log)."""
        frames = []
        if self.path.suffix == ".parquet" and self.path.exists():
            frames.append(pd.read_parquet(self.path))
        if self.log.exists():
            truncate_torn_tail(self.log)
            if self.log.stat().st_size > 0:
                frames.append(pd.read_csv(self.log, dtype=str, keep_default_na=False))
        keys: set[tuple] = set()
        for df in frames:
            for rec in df[list(KEY_COLUMNS)].astype(str).itertuples(index=False):
                keys.add(tuple(rec))
        return keys

    @staticmethod
    def key_of(row: dict[str, Any]) -> tuple:
        return tuple(str(row[c]) for c in KEY_COLUMNS)

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        if self.path.suffix == ".parquet" and self.path.exists():
            raise PredictionsFormatError(f"{self.path}: already complete; remove it to add rows")
        truncate_torn_tail(self.log)
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
        return self.path


def _csv_line(values: list[Any]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    line = buf.getvalue()
    if "\n" in line:  # free text with newlines: keep one physical line per row
        line = line.replace("\n", " ")
    return line
