"""Geometry of a recorded domino chain (pure Python: rows, cards and the shortcut cues read
it without numpy): the gap of every link, each link's reach margin, the family's difficulty.

A domino is a box: size = (thickness, width, height); its own +x axis points along the
chain, towards the last domino (yaw ~ 0 rightwards, ~ 180 leftwards, plus a small jitter).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any


def _along(block: Mapping[str, Any], local_x: float, local_z: float) -> float:
    """World x of the point (local_x, 0, local_z) of a block (yaw, then pitch about its y)."""
    yaw, pitch = math.radians(block.get("yaw", 0.0)), math.radians(block.get("pitch", 0.0))
    x = local_x * math.cos(pitch) + local_z * math.sin(pitch)
    return block["pos"][0] + math.cos(yaw) * x


def _direction(blocks: Sequence[Mapping[str, Any]]) -> int:
    return 1 if blocks[-1]["pos"][0] >= blocks[0]["pos"][0] else -1


def link_gaps(blocks: Sequence[Mapping[str, Any]]) -> list[float]:
    """Gap of each link (m, along the chain): from a domino's front face (the first, tipped
    domino: its front bottom edge) to the next domino's back face."""
    d = _direction(blocks)
    gaps = []
    for a, b in itertools.pairwise(blocks):
        front = _along(a, a["size"][0] / 2.0, -a["size"][2] / 2.0)  # its front bottom edge
        back = _along(b, -b["size"][0] / 2.0, -b["size"][2] / 2.0)
        gaps.append(d * (back - front))
    return gaps


def link_margins_m(blocks: Sequence[Mapping[str, Any]]) -> list[float]:
    """Per link: gap - height of the falling domino (m); positive = out of its reach."""
    return [g - a["size"][2] for g, a in zip(link_gaps(blocks), blocks)]


def reach_margin_mm(blocks: Sequence[Mapping[str, Any]]) -> float:
    """The family's difficulty (see `DominoFamily.difficulty`), mm."""
    return round(1000.0 * max(link_margins_m(blocks)), 3)


def largest_gap_ratio(row: Mapping[str, Any]) -> float:
    blocks = row["scene"]["blocks"]
    return max(g / a["size"][2] for g, a in zip(link_gaps(blocks), blocks))


def mean_spacing_ratio(row: Mapping[str, Any]) -> float:
    blocks = row["scene"]["blocks"]
    gaps = link_gaps(blocks)
    return (sum(gaps) / len(gaps)) / (sum(b["size"][2] for b in blocks) / len(blocks))
