"""The analytic (static) balance check of a block tower.

A tower stands if, at every interface, the centre of mass of the sub-stack above lies
inside the contact area between the two blocks. The signed distance of that centre of
mass to the contact polygon's boundary (positive inside) is the interface's margin; the
tower's margin is the smallest one. Towers whose margin is within a few millimetres of
zero are where a simulator and the static check disagree, so the sampler rejects them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cubeworld.stimuli.core.scene import Block


def footprint(block: Block) -> np.ndarray:
    """Corners (4, 2) of the block's horizontal face, counter-clockwise."""
    hx, hy = block.size[0] / 2.0, block.size[1] / 2.0
    c, s = math.cos(math.radians(block.yaw)), math.sin(math.radians(block.yaw))
    local = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    rot = np.array([[c, -s], [s, c]])
    return local @ rot.T + np.asarray(block.pos[:2])


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Intersection of two convex counter-clockwise polygons (Sutherland-Hodgman)."""
    out = [p for p in subject]
    for i in range(len(clip)):
        a, b = clip[i], clip[(i + 1) % len(clip)]
        inp, out = out, []
        if not inp:
            break
        prev = inp[-1]
        for cur in inp:
            cin, pin = _cross(a, b, cur) >= 0, _cross(a, b, prev) >= 0
            if cin:
                if not pin:
                    out.append(_intersect(prev, cur, a, b))
                out.append(cur)
            elif pin:
                out.append(_intersect(prev, cur, a, b))
            prev = cur
    return np.array(out).reshape(-1, 2)


def _intersect(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d1, d2 = _cross(a, b, p), _cross(a, b, q)
    t = d1 / (d1 - d2)
    return p + t * (q - p)


def polygon_area(poly: np.ndarray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def signed_distance(point: np.ndarray, poly: np.ndarray) -> float:
    """Distance from `point` to the boundary of a convex CCW polygon; negative outside."""
    if len(poly) < 3:
        return -math.inf
    best = math.inf
    inside = True
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        if _cross(a, b, point) < 0:
            inside = False
        ab = b - a
        t = float(np.clip(np.dot(point - a, ab) / max(np.dot(ab, ab), 1e-18), 0.0, 1.0))
        best = min(best, float(np.linalg.norm(point - (a + t * ab))))
    return best if inside else -best


@dataclass(frozen=True)
class Balance:
    margin: float  # metres; the smallest interface margin, > 0 means the tower stands
    interface_margins: tuple[float, ...]  # per interface, bottom to top
    contact_fractions: tuple[float, ...]  # contact area / smaller face, per interface

    @property
    def stable(self) -> bool:
        return self.margin > 0


def tower_balance(blocks: Sequence[Block]) -> Balance:
    """Static balance of blocks stacked bottom (index 0) to top."""
    masses = np.array([float(np.prod(b.size)) for b in blocks])  # uniform density
    xy = np.array([b.pos[:2] for b in blocks], dtype=float)
    margins, fractions = [], []
    for k in range(1, len(blocks)):
        below, above = footprint(blocks[k - 1]), footprint(blocks[k])
        contact = clip_convex(above, below)
        smaller = min(blocks[k - 1].size[0] * blocks[k - 1].size[1], blocks[k].size[0] * blocks[k].size[1])
        fractions.append(polygon_area(contact) / smaller)
        com = (masses[k:, None] * xy[k:]).sum(axis=0) / masses[k:].sum()
        margins.append(signed_distance(com, contact))
    margin = min(margins) if margins else math.inf
    return Balance(margin=margin, interface_margins=tuple(margins), contact_fractions=tuple(fractions))
