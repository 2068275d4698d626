"""Geometry of a recorded domino chain (pure Python: rows, cards and the shortcut cues read
it without numpy): the gap of every link, the sideways steps, the size and thickness
ratios, and the critical element's value and margin (the family's difficulty).

A domino is a box: size = (thickness, width, height); its own +x axis points along the
chain, towards the last domino (yaw ~ 0 rightwards, ~ 180 leftwards, plus a small jitter).
The chain runs along the world's x axis, so a domino's world y is its sideways place.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

Record = Mapping[str, Any]


def _along(block: Record, local_x: float, local_z: float) -> float:
    """World x of the point (local_x, 0, local_z) of a block (yaw, then pitch about its y)."""
    yaw, pitch = math.radians(block.get("yaw", 0.0)), math.radians(block.get("pitch", 0.0))
    x = local_x * math.cos(pitch) + local_z * math.sin(pitch)
    return block["pos"][0] + math.cos(yaw) * x


def _lateral(block: Record) -> float:
    """World y of the block's footprint centre as it stood upright: its centre, or for the
    tipped first domino the point half a thickness behind its front bottom edge (the edge
    it pivots on stays where the upright domino's front face met the floor)."""
    yaw, pitch = math.radians(block.get("yaw", 0.0)), math.radians(block.get("pitch", 0.0))
    t, h = block["size"][0], block["size"][2]
    pivot = block["pos"][1] + math.sin(yaw) * (t / 2.0 * math.cos(pitch) - h / 2.0 * math.sin(pitch))
    return pivot - math.sin(yaw) * t / 2.0


def _direction(blocks: Sequence[Record]) -> int:
    return 1 if blocks[-1]["pos"][0] >= blocks[0]["pos"][0] else -1


def link_gaps(blocks: Sequence[Record]) -> list[float]:
    """Gap of each link (m, along the chain): from a domino's front face (the first, tipped
    domino: its front bottom edge) to the next domino's back face."""
    d = _direction(blocks)
    gaps = []
    for a, b in itertools.pairwise(blocks):
        front = _along(a, a["size"][0] / 2.0, -a["size"][2] / 2.0)  # its front bottom edge
        back = _along(b, -b["size"][0] / 2.0, -b["size"][2] / 2.0)
        gaps.append(d * (back - front))
    return gaps


def gap_ratios(blocks: Sequence[Record]) -> list[float]:
    """Per link: gap / height of the falling domino (> 1: out of its reach)."""
    return [g / a["size"][2] for g, a in zip(link_gaps(blocks), blocks)]


def step_ratios(blocks: Sequence[Record]) -> list[float]:
    """Per link: the sideways step between the two dominoes' centres / half the sum of their
    widths (> 1: the falling domino's face misses the next one entirely)."""
    return [
        abs(_lateral(b) - _lateral(a)) / ((a["size"][1] + b["size"][1]) / 2.0) for a, b in itertools.pairwise(blocks)
    ]


def size_ratios(blocks: Sequence[Record]) -> list[float]:
    """Per link: height of the domino hit / height of the one falling on it."""
    return [b["size"][2] / a["size"][2] for a, b in itertools.pairwise(blocks)]


def thickness_ratios(blocks: Sequence[Record]) -> list[float]:
    """Per domino: thickness / height (real dominoes 0.16; a slab is thicker)."""
    return [b["size"][0] / b["size"][2] for b in blocks]


def reach_margin_mm(blocks: Sequence[Record]) -> float:
    """The largest over the links of (gap - height of the falling domino), mm: positive =
    some gap is out of reach (generator 2.0.0's difficulty; now one of the cues)."""
    return round(1000.0 * max(g - a["size"][2] for g, a in zip(link_gaps(blocks), blocks)), 3)


def critical_value(blocks: Sequence[Record], cause: str, critical: int) -> float:
    """The value of a chain's critical element, in its cause's unit (`CauseRange`): the
    critical domino is `critical` (1 .. n-1), hit by the one before it."""
    if cause == "spacing":
        return gap_ratios(blocks)[critical - 1]
    if cause == "offset":
        return step_ratios(blocks)[critical - 1]
    if cause == "size":
        return size_ratios(blocks)[critical - 1]
    if cause == "thickness":
        return thickness_ratios(blocks)[critical]
    raise ValueError(f"unknown domino cause {cause!r}")


def critical_margin(blocks: Sequence[Record], cause: str, critical: int, flip: float) -> float:
    """The family's difficulty: the critical element's value / its flip point - 1, rounded
    (positive = beyond the flip, on the "No" side)."""
    return round(critical_value(blocks, cause, critical) / flip - 1.0, 4)


def largest_gap_ratio(row: Record) -> float:
    return max(gap_ratios(row["scene"]["blocks"]))


def mean_spacing_ratio(row: Record) -> float:
    blocks = row["scene"]["blocks"]
    gaps = link_gaps(blocks)
    return (sum(gaps) / len(gaps)) / (sum(b["size"][2] for b in blocks) / len(blocks))
