"""Stimuli stage: stimulus sets of every registered family (towers, pyramids, ...).

MuJoCo simulates and renders (headless, EGL); sets are folders in the format of
`cubeworld.formats.sets`, regenerable from their card. Public API:

- `generate_set(domain, sizes, per_size, seed, out, *, resolution=448, workers=None, progress=True)`
- `generate_preset(name, out, *, workers=None, progress=True)`, `list_presets()`
- `draw_subset(set_dir, out, per_cell, seed)`
- `regenerate(card_path, out, *, workers=None, progress=True)`
- `make_sheet(set_dir, out, ...)` (contact sheet)
- `identity_for(domain, sizes, per_size, seed, *, resolution=448, name=None)`, `identity_diff(card, ident)`,
  `preset_identity(name)`: the card entries a set made now would hold, and how a card differs
- the stimulus families: `cubeworld.stimuli.families` (`FAMILIES`, `get_family`)
"""

from __future__ import annotations

import os
import sys

# MuJoCo picks its GL backend when first imported: headless EGL unless the user chose.
# If mujoco came in earlier without MUJOCO_GL, it took its default (GLFW, needs a display);
# remember that so a failure can say so instead of blaming EGL.
MUJOCO_IMPORTED_WITHOUT_GL = "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ
os.environ.setdefault("MUJOCO_GL", "egl")

from typing import TYPE_CHECKING  # noqa: E402 - after MUJOCO_GL is chosen

from cubeworld.lazy import lazy_exports  # noqa: E402
from cubeworld.stimuli.errors import StimuliError  # noqa: E402

# The entry points load lazily, so `cubeworld --help` does not import numpy or mujoco.
_LAZY = {
    "generate_set": "cubeworld.stimuli.generate",
    "regenerate": "cubeworld.stimuli.regenerate",
    "identity_for": "cubeworld.stimuli.identity",
    "identity_diff": "cubeworld.stimuli.identity",
    "generate_preset": "cubeworld.stimuli.presets",
    "list_presets": "cubeworld.stimuli.presets",
    "preset_identity": "cubeworld.stimuli.presets",
    "make_sheet": "cubeworld.stimuli.sheet",
    "draw_subset": "cubeworld.stimuli.subset",
    "run_stimuli_demo": "cubeworld.stimuli.demo",
}

if TYPE_CHECKING:  # pragma: no cover
    from cubeworld.stimuli.demo import run_stimuli_demo
    from cubeworld.stimuli.generate import generate_set
    from cubeworld.stimuli.identity import identity_diff, identity_for
    from cubeworld.stimuli.presets import generate_preset, list_presets, preset_identity
    from cubeworld.stimuli.regenerate import regenerate
    from cubeworld.stimuli.sheet import make_sheet
    from cubeworld.stimuli.subset import draw_subset


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = ["StimuliError", *sorted(_LAZY)]
