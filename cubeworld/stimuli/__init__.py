"""Stimuli stage: stimulus sets of every registered family (towers, pyramids, dominoes).

MuJoCo simulates and renders (headless, EGL); sets are folders in the format of
`cubeworld.formats.sets`, regenerable from their card. Public API (loaded lazily):

- `generate_set(domain, sizes, per_size, seed, out, *, resolution=DEFAULT_RESOLUTION, workers=None, progress=True)`
- `generate_preset(name, out, *, workers=None, progress=True)`, `list_presets()`
- `draw_subset(set_dir, out, per_cell, seed)`
- `regenerate(card_path, out, *, workers=None, progress=True)`
- `make_sheet(set_dir, out, ...)` (contact sheet)
- `identity_for(domain, sizes, per_size, seed, *, resolution=DEFAULT_RESOLUTION, name=None)`,
  `identity_diff(card, ident)`, `preset_identity(name)`, `GENERATOR_VERSION`: the card
  entries a set made now would hold, and how a card differs
- the stimulus families: `FAMILIES`, `get_family(domain)` (light), `default_config(domain)`,
  `difficulty_of(row)` (a row's difficulty, also for rows of sets made before the column)
- a set's generator arguments: `SetRequest` (declared once: defaults, help, bounds),
  `DEFAULT_RESOLUTION`, `make_arguments(domain, sizes, per_size, seed, resolution)` (the
  check every generated set passes; a study's set entry can call it before any work)

The stage is built in floors, each importing only the ones below it (import-linter
contracts in pyproject.toml keep it so): `core` (scenes, settings) < `engine` (MuJoCo
world, renderer, frame check, palette) < `family` (the protocol) < `catalog` (the
registry, lazy) < `audit` < `pipeline` | `families` (one package per family, independent
of each other and of the pipeline) < `demo` < `cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cubeworld.lazy import lazy_exports

# MuJoCo picks its GL backend when first imported: this sets MUJOCO_GL=egl before any mujoco import.
from cubeworld.stimuli.engine.gl import MUJOCO_IMPORTED_WITHOUT_GL
from cubeworld.stimuli.errors import StimuliError

# The entry points load lazily, so `cubeworld --help` does not import numpy or mujoco.
_LAZY = {
    "generate_set": "cubeworld.stimuli.pipeline.generate",
    "regenerate": "cubeworld.stimuli.pipeline.regenerate",
    "identity_for": "cubeworld.stimuli.pipeline.identity",
    "identity_diff": "cubeworld.stimuli.pipeline.identity",
    "GENERATOR_VERSION": "cubeworld.stimuli.pipeline.identity",
    "generate_preset": "cubeworld.stimuli.pipeline.presets",
    "list_presets": "cubeworld.stimuli.pipeline.presets",
    "preset_identity": "cubeworld.stimuli.pipeline.presets",
    "make_sheet": "cubeworld.stimuli.audit.sheet",
    "draw_subset": "cubeworld.stimuli.pipeline.subset",
    "run_stimuli_demo": "cubeworld.stimuli.demo",
    "FAMILIES": "cubeworld.stimuli.catalog",
    "get_family": "cubeworld.stimuli.catalog",
    "default_config": "cubeworld.stimuli.catalog",
    "difficulty_of": "cubeworld.stimuli.catalog",
    "DEFAULT_RESOLUTION": "cubeworld.stimuli.pipeline.arguments",
    "SetRequest": "cubeworld.stimuli.pipeline.arguments",
    "make_arguments": "cubeworld.stimuli.pipeline.arguments",
}

if TYPE_CHECKING:  # pragma: no cover
    from cubeworld.stimuli.audit.sheet import make_sheet
    from cubeworld.stimuli.catalog import FAMILIES, default_config, difficulty_of, get_family
    from cubeworld.stimuli.demo import run_stimuli_demo
    from cubeworld.stimuli.pipeline.arguments import DEFAULT_RESOLUTION, SetRequest, make_arguments
    from cubeworld.stimuli.pipeline.generate import generate_set
    from cubeworld.stimuli.pipeline.identity import GENERATOR_VERSION, identity_diff, identity_for
    from cubeworld.stimuli.pipeline.presets import generate_preset, list_presets, preset_identity
    from cubeworld.stimuli.pipeline.regenerate import regenerate
    from cubeworld.stimuli.pipeline.subset import draw_subset


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = ["MUJOCO_IMPORTED_WITHOUT_GL", "StimuliError", *sorted(_LAZY)]
