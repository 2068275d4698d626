"""The README's main job on built-in defaults (for now): a small tower set and a small
pyramid set, each with a contact sheet. The study runner will grow this into a quick study."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_SEED = 0
DEMO_TOWERS = {"sizes": "2-7", "per_size": 4}
DEMO_PYRAMIDS = {"sizes": "3,6,10,15", "per_size": 4}


def run_stimuli_demo(out: str | os.PathLike, *, workers: int | None = None, progress: bool = True) -> dict[str, Path]:
    """Generate `out/towers`, `out/pyramids` and a contact sheet of each; returns the paths."""
    from cubeworld.stimuli.generate import generate_set
    from cubeworld.stimuli.sheet import make_sheet

    out = Path(out)
    towers = generate_set("tower", DEMO_TOWERS["sizes"], DEMO_TOWERS["per_size"], DEMO_SEED, out / "towers", workers=workers, progress=progress)
    pyramids = generate_set("pyramid", DEMO_PYRAMIDS["sizes"], DEMO_PYRAMIDS["per_size"], DEMO_SEED, out / "pyramids", workers=workers, progress=progress)
    return {
        "towers": towers,
        "pyramids": pyramids,
        "towers_sheet": make_sheet(towers, out / "towers-sheet.png"),
        "pyramids_sheet": make_sheet(pyramids, out / "pyramids-sheet.png"),
    }
