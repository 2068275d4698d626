"""The pyramid family's own settings (defaults: `defaults.yaml` beside this module).

Kept apart from the family class so the sampler and the judge can import them without
importing the family (which imports them back inside its methods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cubeworld.stimuli.core.settings import RestRule, check_perturbations
from cubeworld.stimuli.family import ControlledCue

TIERS_FOR_SIZE = {3: 2, 6: 3, 10: 4, 15: 5}  # tiers (horizontal layers) of a pyramid of n blocks


@dataclass(frozen=True)
class PyramidCamera:
    """A free camera in front of the pyramid; it backs off and looks higher per tier."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_row * tiers (the names predate "tier")
    distance_per_row: float
    lookat_height_per_row: float


@dataclass(frozen=True)
class PyramidSettings:
    """The pyramid sampler and judge (`sampler.py`, `judge.py`); lengths marked
    "in sides" are fractions of the nominal block side `side`."""

    camera: PyramidCamera
    side: float  # m: the nominal block side
    width_jitter: float  # every block's width (x) = side x U(1 - j, 1 + j)
    depth_jitter: float  # every block's depth (y) likewise
    height_jitter: float  # every tier's height likewise, shared by the tier's blocks
    depth_offset: float  # every block's y offset ~ U(-a, a), in sides
    base_gap: tuple[float, float]  # bottom-tier gaps ~ U(lo, hi), in sides
    overlap_min: float  # a leaning block overlaps its weak supporter by U(min, max'), in sides
    overlap_max: float
    inside_min: float  # a leaning block's centre at least this far inside its main supporter, in sides
    bridge_share: float  # chance that an upper block bridges its supporters instead of leaning
    bridge_inside: float  # a bridging block's centre at least this far from either supporter, in sides
    min_neighbour_gap: float
    max_top_offset: float
    settle: float  # s: the full pyramid settles this long before the red block is taken out (and before
    # the stability check); every movement below is measured from the settled state
    stable_move: float
    stable_tilt: float
    no_move: float
    no_tilt: float
    yes_move: float
    yes_tilt: float
    perturbations: tuple[dict[str, Any], ...] = ()
    # The full pyramid's stability simulation ends once every block is this still (slow enough never
    # to reach stable_move / stable_tilt within the horizon); None (cards of 3.0.0): full horizon.
    stand_rest: RestRule | None = None
    control: tuple[ControlledCue, ...] = ()  # the cues a cue-controlled set balances, with their bins per size

    def __post_init__(self) -> None:
        check_perturbations(self.perturbations)
