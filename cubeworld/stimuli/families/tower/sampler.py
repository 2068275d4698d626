"""Drawing a tower (numpy): sizes, yaws, colours and offsets relative to the block below.

Offsets narrow with tower size (`offset_range`) so each size lands near 50/50 before the
quotas; a tower with a contact too small to read is drawn again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cubeworld.stimuli.core.scene import Block
from cubeworld.stimuli.engine.palette import PALETTE
from cubeworld.stimuli.families.tower.balance import tower_balance
from cubeworld.stimuli.families.tower.settings import TowerCamera, TowerSettings

MAX_REDRAWS = 1000


def sample_tower(rng: np.random.Generator, n: int, cfg: TowerSettings) -> list[Block]:
    """Draw an n-block tower, redrawing while any contact is too small to read."""
    a = cfg.offset_range[n]
    for _ in range(MAX_REDRAWS):
        sides = cfg.base_side * rng.uniform(1.0 - cfg.side_jitter, 1.0 + cfg.side_jitter, n)
        yaws = rng.uniform(0.0, cfg.max_yaw, n)
        offsets = rng.uniform(-a, a, (n, 2))
        colours = [int(rng.integers(len(PALETTE)))]
        for _i in range(1, n):
            choice = int(rng.integers(len(PALETTE) - 1))
            colours.append(choice if choice < colours[-1] else choice + 1)  # differs from below
        xy = np.zeros((n, 2))
        for i in range(1, n):
            xy[i] = xy[i - 1] + offsets[i] * min(sides[i], sides[i - 1])
        xy -= xy.mean(axis=0)  # keep the tower centred in view
        z = np.cumsum(sides) - sides / 2.0
        blocks = [
            Block(
                size=(float(s), float(s), float(s)),
                pos=(float(xy[i, 0]), float(xy[i, 1]), float(z[i])),
                yaw=float(yaws[i]),
                colour=PALETTE[colours[i]][0],
                rgb=PALETTE[colours[i]][1],
            )
            for i, s in enumerate(sides)
        ]
        bal = tower_balance(blocks)
        if min(bal.contact_fractions, default=1.0) >= cfg.min_contact_fraction:
            return blocks
    raise RuntimeError(f"could not draw a {n}-block tower with readable contacts")


def tower_camera(n: int, cam: TowerCamera) -> dict[str, Any]:
    return {
        "lookat": [0.0, 0.0, round(cam.lookat_height_per_block * n, 6)],
        "distance": round(cam.distance_base + cam.distance_per_block * n, 6),
        "azimuth": cam.azimuth,
        "elevation": cam.elevation,
    }
