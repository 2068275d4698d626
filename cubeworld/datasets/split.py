"""Cut a set into two disjoint parts by a seed: train on one, evaluate on the other.

Why: a condition that trains on a set's own human labels (Lerer100's 107 participants)
and is then scored on the same photos measures memory, not judgement. `split_set` draws,
within every cell of block count x label (so both parts keep the parent's balance), a
`fraction` of the stimuli into part "train" and leaves the rest to part "test"; the two
parts of one (parent, fraction, seed) never share a stimulus. Ids stay the parent's, and
the parent's `human_responses.csv` travels with each part, filtered to its stimuli, so
human labels and the report's human rows work on a part exactly as on the parent.

The draw depends only on the parent's stimulus ids, labels and sizes, the fraction and
the seed: the same arguments give the same parts on any machine.
"""

from __future__ import annotations

import io
import os
import random
import shutil
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.atomic import atomic_write_bytes, atomic_write_json, write_jsonl
from cubeworld.formats.sets import CARD_FILE, COMPLETE, IN_PROGRESS, METADATA_FILE, load_set, seal_set

PARTS = ("train", "test")
HUMAN_TABLE = "human_responses.csv"
GENERATOR = "cubeworld.datasets.split"
VERSION = 1  # rows and images of a part are what they were; the card only gained kind, total, status, integrity


class SplitError(CubeworldError):
    """A split cannot be made (bad part or fraction, a parent too small); names the value."""


def split_ids(rows, fraction: float, seed: int) -> set[str]:
    """The stimulus ids of part "train": `fraction * n` per (n_blocks, falls) cell, rounded
    up or down by a seeded coin weighted by the remainder (so cells of one stimulus still
    split `fraction` : 1 - `fraction` on average), at least one and at most n - 1 when a
    cell has two or more stimuli."""
    cells: dict[tuple[int, bool], list[str]] = {}
    for r in rows:
        cells.setdefault((r.n_blocks, r.falls), []).append(r.stimulus_id)
    train: set[str] = set()
    for (n_blocks, falls), ids in sorted(cells.items()):
        ids = sorted(ids)
        rng = random.Random(f"split-{seed}-{n_blocks}-{int(falls)}")
        rng.shuffle(ids)
        exact = fraction * len(ids)
        k = int(exact) + (rng.random() < exact - int(exact))
        if len(ids) >= 2:
            k = min(max(k, 1), len(ids) - 1)
        train.update(ids[:k])
    return train


def split_arguments(parent_name: str, part: str, fraction: float, seed: int) -> dict[str, Any]:
    return {"parent": parent_name, "part": part, "fraction": float(fraction), "seed": int(seed)}


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def split_set(
    parent: str | Path, out: str | Path, *, part: str, fraction: float, seed: int, name: str | None = None
) -> Path:
    """Write part `part` ("train" or "test") of `parent` to `out`; return `out`."""
    if part not in PARTS:
        raise SplitError(f"part must be one of {list(PARTS)}, got {part!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise SplitError(f"fraction must be a number between 0 and 1 (exclusive), got {fraction!r}")
    src = load_set(parent)
    if len(src) < 2:
        raise SplitError(f"{src.root}: a set of {len(src)} stimulus cannot be split")
    train = split_ids(src.rows, fraction, seed)
    rows = [r for r in src.rows if (r.stimulus_id in train) == (part == "train")]
    if not rows:
        raise SplitError(
            f"{src.root}: part {part!r} of a split with fraction {fraction:g} and "
            f"seed {seed} would be empty ({len(src)} stimuli); use a larger set"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = name or f"{src.name}-{part}"
    # Until the sealed card replaces this one, `load_set` refuses the folder as unfinished.
    atomic_write_json(out / CARD_FILE, {"name": name, "kind": src.kind, "status": IN_PROGRESS})
    for r in rows:
        _link_or_copy(src.root / r.file_name, out / r.file_name)
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        cell = counts.setdefault(str(r.n_blocks), {"Yes": 0, "No": 0})
        cell[r.answer] += 1
    humans = src.root / HUMAN_TABLE
    n_participants = None
    if humans.is_file():
        import pandas as pd

        from cubeworld.formats.responses import read_responses

        table = read_responses(humans)
        keep = {r.stimulus_id for r in rows}
        table = table[table["stimulus_id"].isin(keep)]
        n_participants = int(table["participant"].nunique())
        buf = io.StringIO()
        pd.DataFrame(table).to_csv(buf, index=False)
        atomic_write_bytes(out / HUMAN_TABLE, buf.getvalue().encode("utf-8"))
    write_jsonl(out / METADATA_FILE, (r.to_record() for r in rows))
    card = {
        "name": name,
        "kind": src.kind,
        "domain": src.card.get("domain", rows[0].domain),
        "generator": GENERATOR,
        "generator_version": VERSION,
        "seed": int(seed),
        "arguments": split_arguments(src.name, part, fraction, seed),
        "parent_card": {
            k: src.card.get(k) for k in ("name", "generator", "generator_version", "seed", "arguments") if k in src.card
        },
        "counts": counts,
        "total": len(rows),
        "status": COMPLETE,
        "description": (
            f"Part {part!r} of {src.name!r} ({len(rows)} of {len(src)} stimuli; "
            f"{fraction:g} of each block count x label cell drawn into 'train' "
            f"with seed {seed}); disjoint from the other part."
        ),
    }
    if n_participants is not None:
        card["n_participants"] = n_participants
    for key in ("licence", "citation"):
        if key in src.card:
            card[key] = src.card[key]
    seal_set(out, card, (r.to_record() for r in rows))  # the card last: the part is done once it is there
    return out
