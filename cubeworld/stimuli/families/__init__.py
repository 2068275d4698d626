"""The stimulus families: one package each (`tower/`, `pyramid/`, `domino/`).

Each package holds everything its family is -- the family class (what it asks, its
sizes, card entries and shortcut cues), its settings dataclass and defaults YAML, its
sampler and camera, its judge -- and imports only the floors below it (the family
protocol, the engine, the scene and settings types), never another family.

The registry itself lives a floor below, in `cubeworld.stimuli.catalog`, as lazy
"module:attribute" strings; this package re-exports it so the long-standing
`from cubeworld.stimuli.families import FAMILIES, get_family` keeps working.
"""

from __future__ import annotations

from cubeworld.stimuli.catalog import DOMINO, FAMILIES, PYRAMID, TOWER, get_family
from cubeworld.stimuli.family import DifficultyMeasure, ShortcutCue, StimulusFamily

__all__ = [
    "DOMINO",
    "FAMILIES",
    "PYRAMID",
    "TOWER",
    "DifficultyMeasure",
    "ShortcutCue",
    "StimulusFamily",
    "get_family",
]
