"""The stimulus families: one registry entry per domain.

    from cubeworld.stimuli.families import FAMILIES, get_family
    get_family("tower").prompt

Importing this package, or reading a family's `.domain`, `.prompt`, `.question` and
`.sizes`, loads no numpy or mujoco. To add a family, write one module beside these (see
`tower.py` and `base.StimulusFamily`), its defaults YAML and its tests, and add one line
below. Nothing else in the toolkit names a domain.
"""

from __future__ import annotations

from cubeworld.registry import Registry
from cubeworld.stimuli.families.base import DifficultyMeasure, ShortcutCue, StimulusFamily

TOWER = "tower"
PYRAMID = "pyramid"

FAMILIES: Registry[StimulusFamily] = Registry(
    "stimulus family",
    {
        TOWER: "cubeworld.stimuli.families.tower:FAMILY",
        PYRAMID: "cubeworld.stimuli.families.pyramid:FAMILY",
        "domino": "cubeworld.stimuli.families.domino:FAMILY",
    },
)


def get_family(domain: str) -> StimulusFamily:
    """The family of `domain`, or an UnknownEntryError listing the domains that exist."""
    return FAMILIES.get(domain)


__all__ = ["FAMILIES", "PYRAMID", "TOWER", "DifficultyMeasure", "ShortcutCue", "StimulusFamily", "get_family"]
