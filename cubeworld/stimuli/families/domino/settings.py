"""The domino family's own settings (defaults: `defaults.yaml` beside this module).

Kept apart from the family class so the sampler and the judge can import them without
importing the family (which imports them back inside its methods).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.core.settings import check_perturbations


@dataclass(frozen=True)
class DominoCamera:
    """A free camera in front of the chain, a little to one side and above; it backs off as
    chains grow (chains are centred on the origin)."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_domino * n
    distance_per_domino: float
    lookat_height: float
    lookat_shift_per_domino: float  # lookat x = shift * n (perspective: the near end looms larger)


@dataclass(frozen=True)
class DominoSettings:
    camera: DominoCamera
    height: float  # m; each domino's height = height * U(1 - height_jitter, 1 + height_jitter)
    height_jitter: float
    width_ratio: float  # width = ratio * height (real dominoes: 0.5)
    thickness_ratio: float  # thickness = ratio * height (real dominoes: 0.16)
    gap_min: float  # gap to the next domino / height of this one ~ U(gap_min, short_max) ...
    first_gap_min: float  # ... the tipped domino's link: U(first_gap_min, short_max) ...
    short_max: float
    break_chance: float  # ... except, in this share of chains, one link drawn at random:
    long_min: float  # U(long_min, long_max)
    long_max: float
    lateral_jitter: float  # sideways offset of each domino ~ U(-a, a) * its width
    max_yaw: float  # degrees; each domino turned by U(-max_yaw, max_yaw) about the vertical
    tip_min: float  # degrees past the tipping angle at which the first domino starts
    tip_max: float
    reach_margin: float  # m; chains whose reach margin is within this of zero are rejected
    fall_tilt: float  # degrees; the last domino fell if it ends tilted more than this ...
    stand_tilt: float  # ... and stands if less than this; in between: ambiguous, rejected
    perturbations: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        check_perturbations(self.perturbations)
