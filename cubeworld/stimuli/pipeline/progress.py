"""A generation's progress and its log: what a killed generation replays to continue.

Each accepted stimulus is written as image -> metadata line -> log line; every rejected
or surplus candidate gets a log line too (batched: `GenerationLog`). The log is the generation's progress: a restarted generation
replays it, cuts metadata back to the lines the log confirms, and continues with the next
candidate. The log is removed when the set is complete.

Log lines: {"size", "k", "status": "accepted" | "surplus" | "rejected", ...}; accepted
lines carry "falls", "id", the family's strata columns (pyramids: "red_row") and, in a
cue-controlled set, the stimulus's cue key ("cue": its bins), so the card's size x stratum
x label counts and the cue quotas survive a restart. A candidate's quota stratum value
follows from its index (`SizeQuotas.value_of`), so the quota state replays too.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_text, read_complete_lines, read_jsonl, truncate_torn_tail
from cubeworld.formats.sets import METADATA_FILE
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.quotas import SizeQuotas, key_name

LOG_FILE = ".generation-log.jsonl"


@dataclass
class CellState:
    """Progress of one size: next candidate, accepted counts per label and per quota
    stratum value x cue key x label, rejections."""

    quotas: SizeQuotas
    next_k: int = 0
    counts: Counter = field(default_factory=Counter)  # falls (bool) -> accepted
    rejections: Counter = field(default_factory=Counter)
    surplus: int = 0
    by_stratum: Counter = field(default_factory=Counter)  # (column, value, answer) -> count
    by_value: Counter = field(default_factory=Counter)  # (quota value, cue key, falls) -> accepted

    @property
    def accepted(self) -> int:
        return self.counts[True] + self.counts[False]

    def fits(self, value: Any, falls: bool, key: Any = ()) -> bool:
        """Whether a stimulus of `value` and cue `key` with label `falls` would be kept now."""
        return self.by_value[(value, key, falls)] < self.quotas.cell_target.get((value, key, falls), 0)

    def open_labels(self, value: Any, key: Any = ()) -> tuple[bool, ...]:
        """Labels a candidate of `value` and cue `key` could be kept with now (they only ever close)."""
        return tuple(lbl for lbl in (False, True) if self.fits(value, lbl, key))

    def open_keys(self, value: Any) -> tuple[tuple[Any, tuple[bool, ...]], ...]:
        """(cue key, its open labels) for every key of `value` still taking a label."""
        return tuple((key, labels) for key in self.quotas.keys if (labels := self.open_labels(value, key)))

    def value_open(self, value: Any) -> bool:
        return bool(self.open_keys(value))

    @property
    def complete(self) -> bool:
        return self.accepted >= 2 * self.quotas.per_label

    def open_cells(self) -> list[tuple[Any, Any, str]]:
        return [
            (v, key, answer_for(lbl))
            for v in self.quotas.values
            for key in self.quotas.keys
            for lbl in (True, False)
            if self.fits(v, lbl, key)
        ]

    def count_accepted(self, falls: bool, strata: dict[str, Any], value: Any = None, key: Any = ()) -> None:
        self.counts[falls] += 1
        self.by_value[(value, key, falls)] += 1
        for column, v in strata.items():
            if v is not None:
                self.by_stratum[(column, v, answer_for(falls))] += 1


@dataclass
class GenerationState:
    cells: dict[int, CellState]
    accepted_ids: list[str]

    def summary(self, strata: tuple[str, ...], quota_stratum: str | None = None) -> dict[str, Any]:
        """The card's counts: per size x label, rejections, surplus, and per size x stratum x
        label -- for the quota stratum the full table, with every value even if empty; for a
        cue-controlled set the quotas and counts per size x cue key x label."""
        counts = {str(s): {"Yes": c.counts[True], "No": c.counts[False]} for s, c in self.cells.items()}
        out: dict[str, Any] = {
            "counts": counts,
            "total": sum(c.accepted for c in self.cells.values()),
            "rejections": {str(s): dict(sorted(c.rejections.items())) for s, c in self.cells.items()},
            "rejections_total": sum(sum(c.rejections.values()) for c in self.cells.values()),
            "surplus_discarded": {str(s): c.surplus for s, c in self.cells.items()},
            "candidates_evaluated": {str(s): c.next_k for s, c in self.cells.items()},
            # the cost of the design: candidates drawn per kept stimulus (every set, 3.1.0)
            "candidates_per_stimulus": {
                str(s): round(c.next_k / c.accepted, 2) if c.accepted else None for s, c in self.cells.items()
            },
        }
        if any(c.quotas.values != (None,) for c in self.cells.values()):
            out["stratum_quotas"] = {str(s): c.quotas.to_card() for s, c in self.cells.items()}
        if any(c.quotas.keys != ((),) for c in self.cells.values()):
            out["cue_quotas"] = {str(s): c.quotas.cue_card() for s, c in self.cells.items()}
            out["counts_by_cue"] = {
                str(s): {
                    key_name(key): {
                        answer: sum(c.by_value[(v, key, lbl)] for v in c.quotas.values)
                        for answer, lbl in (("Yes", True), ("No", False))
                    }
                    for key in c.quotas.keys
                }
                for s, c in self.cells.items()
            }
        for column in strata:
            out[f"counts_by_{column}"] = {
                str(s): {
                    str(v): {"Yes": c.by_stratum[(column, v, "Yes")], "No": c.by_stratum[(column, v, "No")]}
                    for v in sorted(
                        {v for col, v, _ in c.by_stratum if col == column}
                        | (set(c.quotas.values) if column == quota_stratum else set())
                    )
                }
                for s, c in self.cells.items()
            }
        return out


def log_entry(size: int, k: int, status: str, **fields: Any) -> dict[str, Any]:
    return {"size": size, "k": k, "status": status, **fields}


class GenerationLog:
    """The generation log, written in order. An accepted stimulus's line is written (with
    every line before it) and fsynced at once; the lines of rejected and surplus candidates
    wait in memory until then, or until `BATCH` of them wait, or the generation stops.

    Why: a cue-controlled set draws tens of candidates per kept stimulus, most rejected
    without simulation in well under a millisecond, while an fsync costs milliseconds. A
    kill loses at most the waiting lines, and a restarted generation simply evaluates
    those candidates again (a candidate's result depends only on its index), so the bytes
    are the same."""

    BATCH = 256

    def __init__(self, path: Path):
        self.path = path
        self._waiting: list[str] = []

    def note(self, entry: dict[str, Any]) -> None:
        """A rejected or surplus candidate's line."""
        self._waiting.append(json.dumps(entry, sort_keys=True))
        if len(self._waiting) >= self.BATCH:
            self.flush()

    def commit(self, entry: dict[str, Any]) -> None:
        """An accepted stimulus's line: on disk, with every line before it, when this returns."""
        self._waiting.append(json.dumps(entry, sort_keys=True))
        self.flush()

    def flush(self) -> None:
        """Write the waiting lines with one write and one fsync (a kill can at worst tear the
        last line, which `read_complete_lines` drops)."""
        if self._waiting:
            with open(self.path, "ab") as f:
                f.write("".join(line + "\n" for line in self._waiting).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            self._waiting = []


def replay(out: Path, args: SetArguments, strata: tuple[str, ...], quotas: dict[int, SizeQuotas]) -> GenerationState:
    """Rebuild progress from the log and cut metadata back to what the log confirms."""
    log, meta = out / LOG_FILE, out / METADATA_FILE
    truncate_torn_tail(log)
    cells = {s: CellState(quotas[s]) for s in args.sizes}
    accepted: list[str] = []
    for entry in read_jsonl(log):
        cell = cells[int(entry["size"])]
        cell.next_k = int(entry["k"]) + 1
        value = cell.quotas.value_of(int(entry["k"]))
        status = entry["status"]
        if status == "accepted":
            key = tuple(entry.get("cue", ()))  # the cue key of a cue-controlled set's stimulus
            cell.count_accepted(bool(entry["falls"]), {c: entry.get(c) for c in strata}, value, key)
            accepted.append(entry["id"])
        elif status == "surplus":
            cell.surplus += 1
        else:
            cell.rejections[entry["reason"]] += 1
    lines = read_complete_lines(meta)
    ids = [json.loads(line)["stimulus_id"] for line in lines]
    if ids[: len(accepted)] != accepted:
        raise StimuliError(
            f"{out}: {METADATA_FILE} does not match the generation log; delete the folder and start again"
        )
    if len(lines) != len(accepted) or (meta.exists() and not meta.read_bytes().endswith(b"\n") and meta.stat().st_size):
        atomic_write_text(meta, "".join(line + "\n" for line in lines[: len(accepted)]))
    return GenerationState(cells=cells, accepted_ids=accepted)
