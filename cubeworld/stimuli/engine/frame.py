"""Is every block inside the picture? Block corners projected through the free camera.

Generator 1.0.0 clipped the top block of 6 of 200 seven-block towers at the image's top
edge; nobody saw it until an audit looked. So generation now checks it geometrically
for every candidate, before any simulation: the eight corners of every block are
projected with the same camera MuJoCo renders with (a free camera: `lookat`,
`distance`, `azimuth`, `elevation`, vertical field of view `fovy`, square image), and a
candidate with a corner closer than `frame_margin` (a fraction of the image) to an edge
is rejected as "out_of_frame". `tests/stimuli/test_stimuli_frame.py` checks the
projection against MuJoCo's own segmentation render.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cubeworld.stimuli.core.scene import Block


def camera_axes(camera: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eye position, forward, up, right) of MuJoCo's free camera (mjv_updateCamera)."""
    az, el = math.radians(float(camera["azimuth"])), math.radians(float(camera["elevation"]))
    forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    up = np.array([-math.sin(el) * math.cos(az), -math.sin(el) * math.sin(az), math.cos(el)])
    right = np.cross(forward, up)
    eye = np.asarray(camera["lookat"], dtype=float) - float(camera["distance"]) * forward
    return eye, forward, up, right


def block_corners(block: Block) -> np.ndarray:
    """(8, 3) corners of a box with its yaw (and pitch, for a block that starts tipped)."""
    w, x, y, z = block.quat
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    half = np.asarray(block.size, dtype=float) / 2.0
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    return (signs * half) @ rot.T + np.asarray(block.pos, dtype=float)


def project(points: np.ndarray, camera: Mapping[str, Any], fovy: float) -> np.ndarray:
    """(n, 2) normalised image coordinates in [-1, 1] (x right, y up) of world `points`;
    points behind the camera get inf."""
    eye, forward, up, right = camera_axes(camera)
    rel = np.asarray(points, dtype=float) - eye
    depth = rel @ forward
    scale = math.tan(math.radians(fovy) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([rel @ right, rel @ up], axis=1) / (depth[:, None] * scale)
    uv[depth <= 0] = np.inf
    return uv


def frame_extent(blocks: Sequence[Block], camera: Mapping[str, Any], fovy: float) -> float:
    """The largest |coordinate| of any block corner in normalised image coordinates: 1.0
    is exactly on the image's edge, larger is cut off."""
    if not blocks:
        return 0.0
    corners = np.concatenate([block_corners(b) for b in blocks])
    return float(np.abs(project(corners, camera, fovy)).max())


def inside_frame(blocks: Sequence[Block], camera: Mapping[str, Any], fovy: float, margin: float) -> bool:
    """Whether every corner lies at least `margin` (a fraction of the image's side) inside
    each edge of the picture."""
    return frame_extent(blocks, camera, fovy) <= 1.0 - 2.0 * margin


def pixel_box(
    blocks: Sequence[Block], camera: Mapping[str, Any], fovy: float, resolution: int
) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in pixels of the projected corners: what a render shows."""
    corners = np.concatenate([block_corners(b) for b in blocks])
    uv = project(corners, camera, fovy)
    px = (uv[:, 0] + 1.0) / 2.0 * resolution
    py = (1.0 - uv[:, 1]) / 2.0 * resolution
    return float(px.min()), float(py.min()), float(px.max()), float(py.max())
