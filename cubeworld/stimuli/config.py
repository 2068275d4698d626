"""Typed generator settings (physics, rendering, cameras, samplers), loaded from YAML.

`defaults.yaml` beside this module is the single source of the built-in values; a set's
card stores `GeneratorConfig.to_dict()` so `regenerate` can rebuild it with exactly the
settings it was made with, even after the defaults change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from cubeworld.stimuli.errors import StimuliError

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


@dataclass(frozen=True)
class PhysicsSettings:
    timestep: float
    duration: float
    friction: float
    solref: tuple[float, float]
    cone: str
    density: float
    sleep: bool

    def perturbed(self, change: dict[str, Any]) -> "PhysicsSettings":
        return dataclasses.replace(self, **change)


@dataclass(frozen=True)
class RenderSettings:
    shadow_size: int
    multisamples: int
    fovy: float


@dataclass(frozen=True)
class CameraSettings:
    azimuth: float
    elevation: float
    distance_base: float
    distance_per_block: float = 0.0
    lookat_height_per_block: float = 0.0
    distance_per_row: float = 0.0
    lookat_height_per_row: float = 0.0


@dataclass(frozen=True)
class TowerSettings:
    base_side: float
    side_jitter: float
    max_yaw: float
    offset_range: dict[int, float]
    min_contact_fraction: float
    tip_margin: float
    move_threshold: float
    tilt_threshold: float


@dataclass(frozen=True)
class PyramidSettings:
    side: float
    base_gap: float
    overlap_min: float
    overlap_max: float
    inside_min: float
    min_neighbour_gap: float
    max_top_offset: float
    stable_move: float
    stable_tilt: float
    no_move: float
    no_tilt: float
    yes_move: float
    yes_tilt: float
    perturbations: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything besides domain, sizes, counts and seed that decides a set's bytes."""

    physics: PhysicsSettings
    render: RenderSettings
    cameras: dict[str, CameraSettings]
    tower: TowerSettings
    pyramid: PyramidSettings

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["physics"]["solref"] = list(self.physics.solref)
        d["tower"]["offset_range"] = {str(k): v for k, v in self.tower.offset_range.items()}
        d["pyramid"]["perturbations"] = [dict(p) for p in self.pyramid.perturbations]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GeneratorConfig":
        try:
            phys = dict(d["physics"])
            phys["solref"] = tuple(float(x) for x in phys["solref"])
            tower = dict(d["tower"])
            tower["offset_range"] = {int(k): float(v) for k, v in tower["offset_range"].items()}
            pyr = dict(d["pyramid"])
            pyr["perturbations"] = tuple(dict(p) for p in pyr.get("perturbations", ()))
            for p in pyr["perturbations"]:
                unknown = set(p) - {f.name for f in dataclasses.fields(PhysicsSettings)}
                if unknown:
                    raise StimuliError(f"unknown physics setting(s) in a perturbation: {sorted(unknown)}")
            return cls(
                physics=PhysicsSettings(**phys),
                render=RenderSettings(**d["render"]),
                cameras={k: CameraSettings(**v) for k, v in d["cameras"].items()},
                tower=TowerSettings(**tower),
                pyramid=PyramidSettings(**pyr),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, StimuliError):
                raise
            raise StimuliError(f"invalid generator settings: {type(e).__name__}: {e}") from None


@lru_cache(maxsize=1)
def _default_dict() -> str:
    return DEFAULTS_FILE.read_text(encoding="utf-8")


def default_config() -> GeneratorConfig:
    """The built-in settings from `defaults.yaml`."""
    return GeneratorConfig.from_dict(yaml.safe_load(_default_dict()))
