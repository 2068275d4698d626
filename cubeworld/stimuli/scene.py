"""The scene spec: blocks as plain data, shared by samplers, physics, renderer and rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
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

    @property
    def half(self) -> np.ndarray:
        return np.asarray(self.size, dtype=float) / 2.0

    @property
    def quat(self) -> tuple[float, float, float, float]:
        """Orientation as MuJoCo's (w, x, y, z) quaternion."""
        h = math.radians(self.yaw) / 2.0
        return (math.cos(h), 0.0, 0.0, math.sin(h))

    def to_record(self) -> dict[str, Any]:
        return {
            "size": [round(v, 6) for v in self.size],
            "pos": [round(v, 6) for v in self.pos],
            "yaw": round(self.yaw, 4),
            "colour": self.colour,
            "rgb": list(self.rgb),
        }


def tilt_degrees(quat: np.ndarray) -> np.ndarray:
    """Angle between each body's z axis and the world's vertical, in degrees.

    `quat` is (n, 4) in (w, x, y, z); the body z axis' world z component is
    1 - 2 (x^2 + y^2).
    """
    q = np.asarray(quat, dtype=float).reshape(-1, 4)
    cz = 1.0 - 2.0 * (q[:, 1] ** 2 + q[:, 2] ** 2)
    return np.degrees(np.arccos(np.clip(cz, -1.0, 1.0)))
