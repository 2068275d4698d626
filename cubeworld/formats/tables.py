"""Scoring sets into prediction tables: the one loop every observer kind runs.

Why one loop: a VLM, the physics observer and a CNN differ only in how they answer an
item. Everything around that is the same and easy to get subtly wrong when written three
times, so it is written here once and each kind fills hooks (`Scorer`):

- several sets may share one table (the command line writes one), each table is finished
  (`PredictionWriter.finish`) exactly once;
- a set the observer cannot answer is skipped with a one-line warning, never an error;
- rows already in a table are kept, so a killed scoring resumes where it stopped; a table
  that has all its rows never opens the observer (no model is loaded);
- the settings that define an observer's rows (`SETTINGS_COLUMNS`: kind, image budget,
  dtype, ...) are compared with the rows already there before any work; a difference is
  refused, naming it;
- every row gets the same identity columns (model, adapter, condition, seed, epoch, kind),
  the answer and whether it is correct, and the observer's provenance columns.

Used by `cubeworld.observers` (every kind), `cubeworld.models.evaluate` and the trainers'
per-epoch evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cubeworld.errors import CubeworldError
from cubeworld.formats.answers import NO, YES
from cubeworld.formats.predictions import OBSERVER_COLUMNS, SETTINGS_COLUMNS, PredictionWriter
from cubeworld.formats.sets import StimulusRow, StimulusSet

# The libraries whose versions a prediction row may record (`<name>_version` columns).
VERSIONED_LIBRARIES = ("torch", "transformers", "peft")


def versions(used: Iterable[str] = VERSIONED_LIBRARIES) -> dict[str, str]:
    """`<library>_version` for every versioned library: its installed version when the
    observer `used` it, else "" (a CNN records torch, not transformers)."""
    from importlib import metadata

    used = set(used)
    out = {}
    for library in VERSIONED_LIBRARIES:
        try:
            out[f"{library}_version"] = metadata.version(library) if library in used else ""
        except metadata.PackageNotFoundError:
            out[f"{library}_version"] = ""
    return out


@dataclass(frozen=True)
class Answer:
    """One item's answer: P(Yes) and the row's own columns (log-probabilities, the image
    size fed, ...), already in the form the table stores. `p_yes` None: the observer gave
    no answer (a generated text from which no Yes or No could be read); the row is written
    with P(Yes) and the answer empty, and its columns say why."""

    p_yes: float | None
    columns: Mapping[str, Any] = field(default_factory=dict)


Item = tuple[StimulusSet, StimulusRow]
Emit = Callable[[Sequence[tuple[StimulusSet, StimulusRow, Answer]]], None]


class Scorer(Protocol):
    """An observer ready to answer (a loaded model, a trained network, a simulator).

    `settings`: the values of the table's settings columns (`SETTINGS_COLUMNS` other than
    kind) its rows are written under; `columns`: further columns every row shares
    (provenance: batch size, library versions, ...). `score(items, emit)` answers the items,
    in order, calling `emit` with each finished batch (rows are written as they come)."""

    settings: Mapping[str, Any]
    columns: Mapping[str, Any]

    def score(self, items: Sequence[Item], emit: Emit) -> None: ...


class TableError(CubeworldError):
    """Sets and tables that cannot be scored together (two sets of one name in a table)."""


def group_tables(tables: Sequence[tuple[StimulusSet, Path]]) -> dict[Path, list[StimulusSet]]:
    """Table -> the sets written into it, in order; two sets of one name in one table are
    refused (the `set` column would not tell them apart)."""
    grouped: dict[Path, list[StimulusSet]] = {}
    for stim_set, table in tables:
        sets = grouped.setdefault(Path(table), [])
        if any(s.name == stim_set.name for s in sets):
            raise TableError(f"two sets share the name {stim_set.name!r}; the set column would be ambiguous")
        sets.append(stim_set)
    return grouped


def row_of(stim_set: StimulusSet, row: StimulusRow, answer: Answer) -> dict[str, Any]:
    """The item's columns of a prediction row: the stimulus, P(Yes), the answer (Yes when
    P(Yes) >= 0.5; empty when there is none) and whether it is the ground truth's."""
    if answer.p_yes is None:
        said, p_yes = "", ""
    else:
        said, p_yes = (YES if answer.p_yes >= 0.5 else NO), f"{answer.p_yes:.8g}"
    return {
        "stimulus_id": row.stimulus_id,
        "set": stim_set.name,
        "domain": row.domain,
        "n_blocks": row.n_blocks,
        "falls": row.falls,
        "p_yes": p_yes,
        "answer": said,
        "correct": said == row.answer,
        **answer.columns,
    }


def fill_tables(
    tables: Sequence[tuple[StimulusSet, Path]],
    who: Mapping[str, Any],
    *,
    kind: str,
    open_scorer: Callable[[], Scorer],
    extra_columns: Sequence[str] = OBSERVER_COLUMNS,
    expected_settings: Callable[[], Mapping[str, Any]] | None = None,
    skip_reason: Callable[[StimulusSet], str | None] | None = None,
    progress: bool = True,
    desc: str = "scoring",
) -> list[Path]:
    """Write one row per stimulus of each (set, table) pair that the table lacks; return
    the tables finished (a table whose every set was skipped is not created).

    who: the observer's identity columns (model, adapter, condition, seed, epoch).
    extra_columns: the table's columns beyond the prediction columns (default: the
        observer columns every observer writes, `OBSERVER_COLUMNS`).
    open_scorer: called at most once, when the first missing row is met.
    expected_settings: the settings the scorer will have, known without opening it (a VLM
        reads them from its config and processor): a table already holding rows of this
        observer under other settings is refused before anything is loaded.
    skip_reason: why the observer cannot answer a set (warned once, the set left out).
    """
    from tqdm.auto import tqdm

    who = {**who, "seed": "" if who.get("seed") is None else who["seed"]}
    grouped = group_tables(tables)
    scorer: Scorer | None = None
    expected: Mapping[str, Any] | None = None
    finished = []
    for table, sets in grouped.items():
        writer = PredictionWriter(table, extra_columns=extra_columns)
        if expected_settings is not None and not writer.existing().empty:
            if expected is None:
                expected = {"kind": kind, **expected_settings()}
            writer.check_settings(who, expected)
        done = writer.done_keys()
        todo: list[Item] = []
        for stim_set in sets:
            reason = skip_reason(stim_set) if skip_reason is not None else None
            if reason:
                warnings.warn(f"{stim_set.name}: skipped by the {kind} observer: {reason}", stacklevel=2)
                continue
            todo += [
                (stim_set, row)
                for row in stim_set.rows
                if PredictionWriter.key_of({**who, "stimulus_id": row.stimulus_id, "set": stim_set.name}) not in done
            ]
        if todo:
            if scorer is None:
                scorer = open_scorer()
            settings = {"kind": kind, **scorer.settings}
            writer.check_settings(who, {k: v for k, v in settings.items() if k in SETTINGS_COLUMNS})
            shared = {**who, **settings, **scorer.columns}
            bar = tqdm(total=len(todo), desc=desc, unit="item", disable=not progress)

            def emit(answers, writer=writer, shared=shared, bar=bar) -> None:
                writer.append([{**shared, **row_of(s, r, a)} for s, r, a in answers])
                bar.update(len(answers))

            try:
                scorer.score(todo, emit)
            finally:
                bar.close()
        if writer.log.exists() or writer.path.exists():
            finished.append(writer.finish())
    return finished
