"""Geometry of a recorded pyramid (pure Python: rows, cards and the shortcut audit read it
without numpy): which block rests on which, the support margin (the family's difficulty)
and the shortcut cues' values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REST_TOLERANCE = 0.001  # m: a block rests on another if its bottom is this close to the other's top


def _x_interval(block: Mapping[str, Any]) -> tuple[float, float]:
    x, half = block["pos"][0], block["size"][0] / 2.0
    return x - half, x + half


def rests_on(upper: Mapping[str, Any], lower: Mapping[str, Any]) -> bool:
    """Whether `upper`'s bottom face touches `lower`'s top face (pyramid blocks have no yaw)."""
    bottom = upper["pos"][2] - upper["size"][2] / 2.0
    top = lower["pos"][2] + lower["size"][2] / 2.0
    (a0, a1), (b0, b1) = _x_interval(upper), _x_interval(lower)
    return abs(bottom - top) <= REST_TOLERANCE and min(a1, b1) - max(a0, b0) > 0.0


def support_margin_mm(blocks: list[Mapping[str, Any]], red: int) -> float | None:
    """The pyramid difficulty (see `PyramidFamily.difficulty`); None if nothing rests on red."""
    margins = []
    for i, block in enumerate(blocks):
        if i == red or not rests_on(block, blocks[red]):
            continue
        x = block["pos"][0]
        lo, hi = _x_interval(block)
        left = [_x_interval(s) for j, s in enumerate(blocks) if j not in (i, red) and rests_on(block, s)]
        if not left:  # nothing left to stand on
            margins.append(-(hi - lo) / 2.0)
            continue
        support = (max(lo, min(s[0] for s in left)), min(hi, max(s[1] for s in left)))
        inside = min(x - support[0], support[1] - x)
        outside = max(support[0] - x, x - support[1], 0.0)
        margins.append(inside if inside >= 0 else -outside)
    return round(1000.0 * min(margins), 3) if margins else None


def centre_over_red(row: Mapping[str, Any]) -> float:
    scene = row["scene"]
    blocks, red = scene["blocks"], int(scene["red_block"])
    lo, hi = _x_interval(blocks[red])
    above = [b for b in blocks if rests_on(b, blocks[red])]
    return float(any(lo <= b["pos"][0] <= hi for b in above))


def resting_on_red(row: Mapping[str, Any]) -> float:
    scene = row["scene"]
    blocks, red = scene["blocks"], int(scene["red_block"])
    return float(sum(rests_on(b, blocks[red]) for i, b in enumerate(blocks) if i != red))


def one_step(row: Mapping[str, Any]) -> float:
    """1 if a block resting on the red block has its centre off its other support (the
    one-step reading: "then that block falls, so Yes"), else 0. It ignores loads, jams and
    knock-on falls; the support margin's sign is the same reading as a number."""
    scene = row["scene"]
    margin = support_margin_mm(scene["blocks"], int(scene["red_block"]))
    return float(margin is not None and margin < 0)


def _tier_members(scene: Mapping[str, Any]) -> list[int]:
    """The blocks of the red block's tier, left to right."""
    tier_of, red = scene["row_of"], int(scene["red_block"])
    members = [i for i, t in enumerate(tier_of) if t == tier_of[red]]
    return sorted(members, key=lambda i: scene["blocks"][i]["pos"][0])


def red_position(row: Mapping[str, Any]) -> float:
    """The red block's place in its tier, counted from the left end (0)."""
    scene = row["scene"]
    return float(_tier_members(scene).index(int(scene["red_block"])))


def red_interior(row: Mapping[str, Any]) -> float:
    """1 if the red block is inside its tier (neighbours on both sides), 0 at either end."""
    scene = row["scene"]
    members = _tier_members(scene)
    return float(0 < members.index(int(scene["red_block"])) < len(members) - 1)
