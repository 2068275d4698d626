"""Drawing a pyramid (numpy): tiers of blocks with sampled sizes and offsets, one red block.

Scheme (generator 2.0.0; the study: "the offset and sizes are sampled within ranges that
still allow for a stable pyramid"): every block has its own width and depth, every tier
its own height (shared by the tier's blocks, so tiers stay flat: different heights within
a tier tilt whatever rests on them); the bottom tier's gaps are sampled; every upper block
rests on two supporters, either *leaning* (its centre over one of them, the "main"
supporter, overlapping the other, "weak" one by a sampled amount; a tier leans one way as a
whole) or *bridging* (its centre over the gap between them). Small depth offsets move
blocks front and back. Whether removing the red block drops anything depends on which
blocks rest mainly on it, and bridging blocks fall whichever supporter goes.

A pyramid's horizontal layers are its **tiers** (a "row" is a line of a set's metadata);
the recorded scene keeps generator 2.0.0's key names (`rows`, `row_of`, `row_leans`,
`red_row`), so a set's bytes never change with the words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cubeworld.stimuli.core.scene import Block
from cubeworld.stimuli.engine.palette import PALETTE, RED
from cubeworld.stimuli.families.pyramid.settings import TIERS_FOR_SIZE, PyramidCamera, PyramidSettings

MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Pyramid:
    blocks: list[Block]
    tiers: int
    tier_of: list[int]  # tier of each block (0 = bottom)
    red: int  # index of the red block
    leans: list[str]  # per upper tier: "left", "right" (which supporter carries its leaning blocks) or "per_block"
    bridges: list[int] = field(default_factory=list)  # indices of bridging blocks

    @property
    def red_tier(self) -> int:
        return self.tier_of[self.red]


@dataclass(frozen=True)
class _Slot:
    x: float  # centre
    w: float  # width (x extent)

    @property
    def left(self) -> float:
        return self.x - self.w / 2.0

    @property
    def right(self) -> float:
        return self.x + self.w / 2.0


def _place(rng: np.random.Generator, lo: _Slot, hi: _Slot, w: float, mode: str, cfg: PyramidSettings) -> float | None:
    """The centre of a block of width `w` on supporters `lo` (left) and `hi` (right), or
    None if `mode` ("left", "right": the main supporter; "bridge") cannot be placed."""
    s = cfg.side
    edge_l, edge_r = lo.right, hi.left  # the gap between the supporters
    gap = edge_r - edge_l
    ov_min, inside = cfg.overlap_min * s, cfg.inside_min * s
    if mode == "bridge":
        a = max(edge_l + cfg.bridge_inside * s, edge_r - w / 2.0 + ov_min)
        b = min(edge_r - cfg.bridge_inside * s, edge_l + w / 2.0 - ov_min)
        return float(rng.uniform(a, b)) if b > a else None
    ov_max = min(cfg.overlap_max * s, w / 2.0 - gap - inside)
    if ov_max <= ov_min:
        return None
    ov = float(rng.uniform(ov_min, ov_max))
    if mode == "right":  # rests mainly on `hi`, overlaps `lo` by ov
        x = edge_l - ov + w / 2.0
        return x if x <= hi.right - inside else None
    x = edge_r + ov - w / 2.0
    return x if x >= lo.left + inside else None


def _tier(
    rng: np.random.Generator,
    below: list[_Slot],
    widths: np.ndarray,
    cfg: PyramidSettings,
    per_block: bool = False,
    forced: dict[int, str] | None = None,
) -> tuple[list[_Slot], str, list[int]] | None:
    """One tier on the tier `below`: its blocks lean the tier's way (drawn once), or with
    `per_block` each its own way (cue-controlled sets: blocks above an inner red block can
    then both lean away from it, so an inner red block can answer No); `forced` fixes the
    mode of some blocks (their place -> "left" or "right")."""
    lean = "left" if rng.random() < 0.5 else "right"
    slots, bridges = [], []
    for j in range(len(below) - 1):
        if per_block:
            lean = "left" if rng.random() < 0.5 else "right"
        mode = "bridge" if rng.random() < cfg.bridge_share else lean
        if forced and j in forced:
            mode = forced[j]
            x = _place(rng, below[j], below[j + 1], float(widths[j]), mode, cfg)
            if x is None:
                return None
            slots.append(_Slot(x, float(widths[j])))
            continue
        x = _place(rng, below[j], below[j + 1], float(widths[j]), mode, cfg)
        if x is None:  # a gap too wide to lean over can be bridged, one too narrow to bridge leant on
            mode = lean if mode == "bridge" else "bridge"
            x = _place(rng, below[j], below[j + 1], float(widths[j]), mode, cfg)
        if x is None:
            return None
        if mode == "bridge":
            bridges.append(j)
        slots.append(_Slot(x, float(widths[j])))
    if any(b.left - a.right < cfg.min_neighbour_gap * cfg.side for a, b in zip(slots, slots[1:])):
        return None
    return slots, "per_block" if per_block else lean, bridges


def sample_pyramid(
    rng: np.random.Generator,
    n: int,
    cfg: PyramidSettings,
    red_tier: int | None = None,
    steer: bool = False,
) -> Pyramid:
    """Draw an n-block pyramid (n in 3, 6, 10, 15) with one red block below the top: in
    tier `red_tier` if given (the generator's quota), else in a uniformly drawn tier, at a
    uniformly drawn place in it.

    `steer` (cue-controlled sets): every upper block leans its own way, and in half the
    pyramids (drawn) the blocks resting on the red block both lean away from it. With
    tier-wide leans an inner red block almost always carries a block leaning on it
    (generator 2.0.0: "Yes" 45 times in 47), so the red block's place told the answer."""
    tiers = TIERS_FOR_SIZE[n]
    if red_tier is not None and not 0 <= red_tier < tiers - 1:
        raise ValueError(f"a {n}-block pyramid has red tiers 0..{tiers - 2}, not {red_tier}")
    s = cfg.side
    for _ in range(MAX_REDRAWS):
        place: tuple[int, int] | None = None
        away: dict[int, str] = {}
        if steer:  # the red block's place first: the tier above it leans around it
            tier = int(rng.integers(tiers - 1)) if red_tier is None else red_tier
            place = (tier, int(rng.integers(tiers - tier)))
            if rng.random() < 0.5:
                away = {place[1] - 1: "left", place[1]: "right"}
        widths = [s * rng.uniform(1.0 - cfg.width_jitter, 1.0 + cfg.width_jitter, tiers - r) for r in range(tiers)]
        depths = [s * rng.uniform(1.0 - cfg.depth_jitter, 1.0 + cfg.depth_jitter, tiers - r) for r in range(tiers)]
        heights = s * rng.uniform(1.0 - cfg.height_jitter, 1.0 + cfg.height_jitter, tiers)
        ys = [s * rng.uniform(-cfg.depth_offset, cfg.depth_offset, tiers - r) for r in range(tiers)]
        gaps = s * rng.uniform(cfg.base_gap[0], cfg.base_gap[1], tiers - 1)
        xs = np.concatenate([[0.0], np.cumsum(widths[0][:-1] / 2 + gaps + widths[0][1:] / 2)])
        layout = [[_Slot(float(x), float(w)) for x, w in zip(xs - (xs[0] + xs[-1]) / 2.0, widths[0])]]
        leans: list[str] = []
        bridges: list[tuple[int, int]] = []
        for r in range(1, tiers):
            for _try in range(100):
                forced = away if place is not None and r == place[0] + 1 else None
                placed = _tier(rng, layout[-1], widths[r], cfg, per_block=steer, forced=forced)
                if placed is not None:
                    break
            else:
                break
            layout.append(placed[0])
            leans.append(placed[1])
            bridges.extend((r, j) for j in placed[2])
        if len(layout) < tiers or abs(layout[-1][0].x) > cfg.max_top_offset * s:
            continue
        tier_of = [r for r, tier in enumerate(layout) for _ in tier]
        if place is None:
            chosen = int(rng.integers(tiers - 1)) if red_tier is None else red_tier
            red = sum(len(layout[r]) for r in range(chosen)) + int(rng.integers(len(layout[chosen])))
        else:
            red = sum(len(layout[r]) for r in range(place[0])) + place[1]
        colours = _colour(rng, [[slot.x for slot in tier] for tier in layout], red)
        blocks: list[Any] = []
        index: dict[tuple[int, int], int] = {}
        z = 0.0
        for r, row_slots in enumerate(layout):
            for j, slot in enumerate(row_slots):
                index[(r, j)] = len(blocks)
                name, rgb = colours[len(blocks)]
                blocks.append(
                    Block(
                        size=(slot.w, float(depths[r][j]), float(heights[r])),
                        pos=(slot.x, float(ys[r][j]), z + float(heights[r]) / 2.0),
                        yaw=0.0,
                        colour=name,
                        rgb=rgb,
                    )
                )
            z += float(heights[r])
        return Pyramid(
            blocks=blocks, tiers=tiers, tier_of=tier_of, red=red, leans=leans, bridges=[index[rj] for rj in bridges]
        )
    raise RuntimeError(f"could not draw a {n}-block pyramid")


def _colour(rng: np.random.Generator, layout: list[list[float]], red: int) -> list[tuple[str, tuple]]:
    """Red for the red cube; for the others a palette colour unlike the cubes they touch
    (tier neighbours and both supporters), so no two neighbouring cubes share a colour."""
    index = {}
    i = 0
    for r, xs in enumerate(layout):
        for j in range(len(xs)):
            index[(r, j)] = i
            i += 1
    colours: list[tuple[str, tuple]] = [None] * i  # type: ignore[list-item]
    for (r, j), k in index.items():
        if k == red:
            colours[k] = RED
            continue
        near = [(r, j - 1), (r - 1, j), (r - 1, j + 1)]
        taken = {colours[index[p]][0] for p in near if p in index and colours[index[p]] is not None}
        allowed = [c for c in PALETTE if c[0] not in taken]
        colours[k] = allowed[int(rng.integers(len(allowed)))]
    return colours


def pyramid_camera(n: int, cam: PyramidCamera) -> dict[str, Any]:
    tiers = TIERS_FOR_SIZE[n]
    return {
        "lookat": [0.0, 0.0, round(cam.lookat_height_per_row * tiers, 6)],
        "distance": round(cam.distance_base + cam.distance_per_row * tiers, 6),
        "azimuth": cam.azimuth,
        "elevation": cam.elevation,
    }
