"""The README's first look: a small set of every stimulus family, each with a contact sheet."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_SEED = 0
DEMO_PER_SIZE = 4  # every size of every family, half Yes and half No


def run_stimuli_demo(out: str | os.PathLike, *, workers: int | None = None, progress: bool = True) -> dict[str, Path]:
    """Generate `out/<command>` (e.g. `out/towers`) for every family and a contact sheet of
    each (`out/<command>-sheet.png`); returns the paths under "<command>" and "<command>_sheet"."""
    from cubeworld.stimuli.audit.sheet import make_sheet
    from cubeworld.stimuli.catalog import FAMILIES
    from cubeworld.stimuli.pipeline.generate import generate_set

    out = Path(out)
    paths: dict[str, Path] = {}
    for domain, family in FAMILIES.items():
        folder = generate_set(
            domain, family.sizes, DEMO_PER_SIZE, DEMO_SEED, out / family.command, workers=workers, progress=progress
        )
        paths[family.command] = folder
        paths[f"{family.command}_sheet"] = make_sheet(folder, out / f"{family.command}-sheet.png")
    return paths
