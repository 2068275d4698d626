"""What a tower shows at a glance, read from a recorded row (pure Python: cards, the audit
and the cue quotas read it without numpy).

These are the shortcut cues of the tower family: simple visual readings a model could
use instead of judging the balance at every interface. All lengths in mm, horizontal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _blocks(row: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return row["scene"]["blocks"]


def top_offset_mm(row: Mapping[str, Any]) -> float:
    """Horizontal distance of the top block's centre from the bottom block's centre."""
    blocks = _blocks(row)
    (x0, y0, _), (x1, y1, _) = blocks[0]["pos"], blocks[-1]["pos"]
    return 1000.0 * math.hypot(x1 - x0, y1 - y0)


def image_offset_mm(row: Mapping[str, Any]) -> float:
    """The top block's offset from the bottom block across the image (along the camera's
    right axis): the part of `top_offset_mm` a flat picture shows directly."""
    blocks = _blocks(row)
    azimuth = math.radians(float(row["scene"].get("camera", {}).get("azimuth", 90.0)))
    (x0, y0, _), (x1, y1, _) = blocks[0]["pos"], blocks[-1]["pos"]
    return 1000.0 * abs((x1 - x0) * math.sin(azimuth) - (y1 - y0) * math.cos(azimuth))


def com_lean_mm(row: Mapping[str, Any]) -> float:
    """Horizontal distance of the whole tower's centre of mass from the bottom block's centre."""
    blocks = _blocks(row)
    masses = [math.prod(b["size"]) for b in blocks]
    total = sum(masses)
    cx = sum(m * b["pos"][0] for m, b in zip(masses, blocks)) / total
    cy = sum(m * b["pos"][1] for m, b in zip(masses, blocks)) / total
    x0, y0, _ = blocks[0]["pos"]
    return 1000.0 * math.hypot(cx - x0, cy - y0)


def _steps(row: Mapping[str, Any]) -> list[tuple[float, float]]:
    """Per interface: (horizontal offset of a block from the one below in m, the smaller side)."""
    blocks = _blocks(row)
    return [
        (
            math.hypot(b["pos"][0] - a["pos"][0], b["pos"][1] - a["pos"][1]),
            min(a["size"][0], a["size"][1], b["size"][0], b["size"][1]),
        )
        for a, b in zip(blocks, blocks[1:])
    ]


def largest_step_mm(row: Mapping[str, Any]) -> float:
    """The largest horizontal offset between a block and the one below it."""
    return 1000.0 * max((step for step, _ in _steps(row)), default=0.0)


def largest_step_ratio(row: Mapping[str, Any]) -> float:
    """The largest offset between neighbours relative to the smaller of the two sides."""
    return max((step / side for step, side in _steps(row)), default=0.0)
