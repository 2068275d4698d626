"""The tower family's own settings (defaults: `defaults.yaml` beside this module).

Kept apart from the family class so the sampler and the judge can import them without
importing the family (which imports them back inside its methods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cubeworld.stimuli.core.settings import check_perturbations
from cubeworld.stimuli.family import ControlledCue


@dataclass(frozen=True)
class TowerCamera:
    """A free camera in front of the tower; it backs off and looks higher as towers grow."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_block * n_blocks
    distance_per_block: float
    lookat_height_per_block: float


@dataclass(frozen=True)
class TowerSettings:
    camera: TowerCamera
    base_side: float
    side_jitter: float
    max_yaw: float
    offset_range: dict[int, float]  # per tower size
    min_contact_fraction: float
    tip_margin: float  # m: towers closer than this to the analytic tipping point are rejected
    standing_margin: dict[int, float]  # m, per size: standing towers closer than this to tipping are rejected
    move_threshold: float
    tilt_threshold: float
    perturbations: tuple[dict[str, Any], ...] = ()  # every kept tower keeps its label under each of these
    control: tuple[ControlledCue, ...] = ()  # the cues a cue-controlled set balances, with their bins per size

    def __post_init__(self) -> None:
        check_perturbations(self.perturbations)
