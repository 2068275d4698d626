"""The registry of stimulus families, and what is looked up through it by domain name.

    from cubeworld.stimuli.catalog import FAMILIES, get_family
    get_family("tower").prompt

The registry holds "module:attribute" strings, loaded on first use: looking a family up
by name imports that family's package then, and no module here (or in the pipeline, the
audits or the engine below the families) imports a family statically. Reading a family's
`.domain`, `.prompt`, `.question` and `.sizes` loads no numpy or mujoco.

To add a family, write its package under `families/` (see `families/tower/` and
`cubeworld.stimuli.family.StimulusFamily`) and add one line to `FAMILIES` below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cubeworld.registry import Registry
from cubeworld.stimuli.core.settings import SetConfig, shared_defaults
from cubeworld.stimuli.family import StimulusFamily

TOWER = "tower"
PYRAMID = "pyramid"
DOMINO = "domino"

FAMILIES: Registry[StimulusFamily] = Registry(
    "stimulus family",
    {
        TOWER: "cubeworld.stimuli.families.tower:FAMILY",
        PYRAMID: "cubeworld.stimuli.families.pyramid:FAMILY",
        DOMINO: "cubeworld.stimuli.families.domino:FAMILY",
    },
)


def get_family(domain: str) -> StimulusFamily:
    """The family of `domain`, or an UnknownEntryError listing the domains that exist."""
    return FAMILIES.get(domain)


def default_config(domain: str) -> SetConfig:
    """The built-in settings for a set of `domain`: the shared defaults + the family's YAML."""
    family = get_family(domain)
    shared = shared_defaults()
    return SetConfig(domain, shared.physics, shared.render, family.default_settings())


def difficulty_of(row: Mapping[str, Any]) -> float | None:
    """An item's difficulty (contract B: larger = more clearly "No") from its row record:
    the row's `difficulty` column (every row generators 2.0.0 and later write has one), else the
    family's measure computed from the recorded scene and outcome (sets of generator
    1.0.0); None for rows of no registered family or without a scene (photos).

    Why here and not in `cubeworld.formats.sets`: the set format knows no family; the
    stage that owns the families answers for rows that do not carry the column."""
    value = row.get("difficulty")
    if value is not None:
        return float(value)
    domain = row.get("domain")
    if not isinstance(domain, str) or domain not in FAMILIES:
        return None
    try:
        return get_family(domain).difficulty_of(row)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
