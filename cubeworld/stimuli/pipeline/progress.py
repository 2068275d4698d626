"""A generation's progress and its log: what a killed generation replays to continue.

Each accepted stimulus is written as image -> metadata line -> log line; every rejected
or surplus candidate gets a log line too. The log is the generation's progress: a restarted generation
replays it, cuts metadata back to the lines the log confirms, and continues with the next
candidate. The log is removed when the set is complete.

Log lines: {"size", "k", "status": "accepted" | "surplus" | "rejected", ...}; accepted
lines carry "falls", "id" and the family's strata columns (pyramids: "red_row"), so the
card's size x stratum x label counts survive a restart. A candidate's quota stratum value
follows from its index (`SizeQuotas.value_of`), so the quota state replays too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_text, read_complete_lines, read_jsonl, truncate_torn_tail
from cubeworld.formats.sets import METADATA_FILE
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.quotas import SizeQuotas

LOG_FILE = ".generation-log.jsonl"


@dataclass
class CellState:
    """Progress of one size: next candidate, accepted counts per label and per quota
    stratum value x label, rejections."""

    quotas: SizeQuotas
    next_k: int = 0
    counts: Counter = field(default_factory=Counter)  # falls (bool) -> accepted
    rejections: Counter = field(default_factory=Counter)
    surplus: int = 0
    by_stratum: Counter = field(default_factory=Counter)  # (column, value, answer) -> count
    by_value: Counter = field(default_factory=Counter)  # (quota value, falls) -> accepted

    @property
    def accepted(self) -> int:
        return self.counts[True] + self.counts[False]

    def fits(self, value: Any, falls: bool) -> bool:
        """Whether a stimulus of `value` with label `falls` would be kept now."""
        return self.by_value[(value, falls)] < self.quotas.cell_target[(value, falls)]

    def open_labels(self, value: Any) -> tuple[bool, ...]:
        """Labels a candidate of `value` could be kept with now (they only ever close)."""
        return tuple(lbl for lbl in (False, True) if self.fits(value, lbl))

    def value_open(self, value: Any) -> bool:
        return bool(self.open_labels(value))

    @property
    def complete(self) -> bool:
        return self.accepted >= 2 * self.quotas.per_label

    def open_cells(self) -> list[tuple[Any, str]]:
        return [(v, answer_for(lbl)) for v in self.quotas.values for lbl in (True, False) if self.fits(v, lbl)]

    def count_accepted(self, falls: bool, strata: dict[str, Any], value: Any = None) -> None:
        self.counts[falls] += 1
        self.by_value[(value, falls)] += 1
        for column, v in strata.items():
            if v is not None:
                self.by_stratum[(column, v, answer_for(falls))] += 1


@dataclass
class GenerationState:
    cells: dict[int, CellState]
    accepted_ids: list[str]

    def summary(self, strata: tuple[str, ...], quota_stratum: str | None = None) -> dict[str, Any]:
        """The card's counts: per size x label, rejections, surplus, and per size x stratum x
        label -- for the quota stratum the full table, with every value even if empty."""
        counts = {str(s): {"Yes": c.counts[True], "No": c.counts[False]} for s, c in self.cells.items()}
        out: dict[str, Any] = {
            "counts": counts,
            "total": sum(c.accepted for c in self.cells.values()),
            "rejections": {str(s): dict(sorted(c.rejections.items())) for s, c in self.cells.items()},
            "rejections_total": sum(sum(c.rejections.values()) for c in self.cells.values()),
            "surplus_discarded": {str(s): c.surplus for s, c in self.cells.items()},
            "candidates_evaluated": {str(s): c.next_k for s, c in self.cells.items()},
        }
        if any(c.quotas.values != (None,) for c in self.cells.values()):
            out["stratum_quotas"] = {str(s): c.quotas.to_card() for s, c in self.cells.items()}
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
            cell.count_accepted(bool(entry["falls"]), {c: entry.get(c) for c in strata}, value)
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
