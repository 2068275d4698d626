"""The scene spec: blocks as plain data, shared by samplers, physics, renderer and rows.

A family's sampler returns a `Scene`: its blocks and the family's own entries of the row's
`scene` record (the red block of a pyramid, ...). `Scene.record` is what a row stores and
`Scene.from_record` reads it back, so a recorded scene can be simulated again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Block:
    """One box: edge lengths, centre position, rotation about the vertical axis, colour."""

    size: tuple[float, float, float]  # full edge lengths (x, y, z) in metres
    pos: tuple[float, float, float]  # centre in metres
    yaw: float  # degrees about +z
    colour: str
    rgb: tuple[float, float, float]
    pitch: float = 0.0  # degrees about the block's own y axis, after the yaw (a tipped domino)
    # m/s of the centre at the start of a simulation: a push (an impulse). Recorded scenes
    # are at rest; the physics observer pushes its noisy copies with a small random force.
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def half(self) -> np.ndarray:
        return np.asarray(self.size, dtype=float) / 2.0

    @property
    def quat(self) -> tuple[float, float, float, float]:
        """Orientation as MuJoCo's (w, x, y, z) quaternion: yaw about z, then pitch about y."""
        h = math.radians(self.yaw) / 2.0
        if not self.pitch:  # upright: exactly the quaternion every upright block always had
            return (math.cos(h), 0.0, 0.0, math.sin(h))
        p = math.radians(self.pitch) / 2.0
        w, z, c, s = math.cos(h), math.sin(h), math.cos(p), math.sin(p)
        return (w * c, -z * s, w * s, z * c)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "size": [round(v, 6) for v in self.size],
            "pos": [round(v, 6) for v in self.pos],
            "yaw": round(self.yaw, 4),
            "colour": self.colour,
            "rgb": list(self.rgb),
        }
        if self.pitch:  # only tipped blocks record it, so upright scenes keep their bytes
            record["pitch"] = round(self.pitch, 4)
        if any(self.velocity):  # likewise: only pushed blocks
            record["velocity"] = [round(v, 6) for v in self.velocity]
        return record


def block_from_record(record: Mapping[str, Any]) -> Block:
    """A block from its row record (`Block.to_record`), checking each entry's shape."""
    try:
        size = tuple(float(v) for v in record["size"])
        pos = tuple(float(v) for v in record["pos"])
        rgb = tuple(float(v) for v in record.get("rgb", (0.5, 0.5, 0.5)))
        velocity = tuple(float(v) for v in record.get("velocity", (0.0, 0.0, 0.0)))
        if len(size) != 3 or len(pos) != 3 or len(rgb) != 3 or len(velocity) != 3 or min(size) <= 0:
            raise ValueError("size, pos, rgb and velocity take three numbers, sizes positive")
        if not all(math.isfinite(v) for v in (*size, *pos, *velocity)):
            raise ValueError("size, pos and velocity must be finite numbers")
        return Block(
            size=size,
            pos=pos,
            yaw=float(record.get("yaw", 0.0)),
            colour=str(record.get("colour", "")),
            rgb=rgb,
            pitch=float(record.get("pitch", 0.0)),
            velocity=velocity,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        from cubeworld.stimuli.errors import StimuliError

        raise StimuliError(f"not a block record ({type(e).__name__}: {e}): {record!r}") from None


@dataclass(frozen=True)
class Scene:
    """What a family's sampler draws: the blocks (bottom first) and the family's own
    JSON-ready entries of the row's `scene` record (e.g. {"red_block": 4, "red_row": 1})."""

    blocks: list[Block]
    keys: dict[str, Any] = field(default_factory=dict)

    def record(self, camera: Mapping[str, Any]) -> dict[str, Any]:
        """The row's `scene`: {"blocks": [...], **keys, "camera": camera}."""
        return {"blocks": [b.to_record() for b in self.blocks], **self.keys, "camera": dict(camera)}

    def as_recorded(self) -> Scene:
        """This scene exactly as its row records it: sizes and positions rounded to 1 um,
        angles to 1e-4 degrees (`Block.to_record`).

        Generation judges, perturbs and renders this scene, never the sampler's unrounded
        one, so a recorded scene re-simulated (`StimulusFamily.answer_by_simulation`) is the
        very computation that labelled it (generator 2.0.0 judged the unrounded blocks: a
        1 um difference turned a pyramid's answer under friction 0.8). Rounding is
        idempotent, so the record of the result is the record of the original."""
        return Scene([block_from_record(b.to_record()) for b in self.blocks], dict(self.keys))

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Scene:
        """A recorded `scene` read back (the camera is not part of the physics)."""
        from cubeworld.stimuli.errors import StimuliError

        if not isinstance(record, Mapping) or not isinstance(record.get("blocks"), list) or not record["blocks"]:
            raise StimuliError("a scene is a mapping with a non-empty list of 'blocks'")
        blocks = [block_from_record(b) for b in record["blocks"]]
        return cls(blocks, {k: v for k, v in record.items() if k not in ("blocks", "camera")})


def tilt_degrees(quat: np.ndarray) -> np.ndarray:
    """Angle between each body's z axis and the world's vertical, in degrees.

    `quat` is (n, 4) in (w, x, y, z); the body z axis' world z component is
    1 - 2 (x^2 + y^2).
    """
    q = np.asarray(quat, dtype=float).reshape(-1, 4)
    cz = 1.0 - 2.0 * (q[:, 1] ** 2 + q[:, 2] ** 2)
    return np.degrees(np.arccos(np.clip(cz, -1.0, 1.0)))
