"""Drawing a domino chain (numpy): heights, gaps, offsets, the tipped first domino."""

from __future__ import annotations

import math

from cubeworld.stimuli.core.scene import Block, Scene
from cubeworld.stimuli.engine.palette import PALETTE
from cubeworld.stimuli.families.domino.settings import DominoSettings


def tipping_angle(thickness: float, height: float) -> float:
    """Degrees a domino must lean before its centre of mass passes over its front edge."""
    return math.degrees(math.atan2(thickness, height))


def sample_chain(rng, n: int, cfg: DominoSettings) -> Scene:
    """Draw a chain of n dominoes, the first one tipped towards the others."""
    heights = cfg.height * rng.uniform(1.0 - cfg.height_jitter, 1.0 + cfg.height_jitter, n)
    ratios = rng.uniform(cfg.gap_min, cfg.short_max, n - 1)
    ratios[0] = rng.uniform(cfg.first_gap_min, cfg.short_max)
    if rng.random() < cfg.break_chance:
        ratios[int(rng.integers(n - 1))] = rng.uniform(cfg.long_min, cfg.long_max)
    lateral = rng.uniform(-cfg.lateral_jitter, cfg.lateral_jitter, n)
    yaws = rng.uniform(-cfg.max_yaw, cfg.max_yaw, n)
    tip = rng.uniform(cfg.tip_min, cfg.tip_max)
    direction = 1 if rng.random() < 0.5 else -1
    colours = [int(rng.integers(len(PALETTE)))]
    for _i in range(1, n):
        choice = int(rng.integers(len(PALETTE) - 1))
        colours.append(choice if choice < colours[-1] else choice + 1)  # differs from its neighbour
    t = cfg.thickness_ratio * heights
    w = cfg.width_ratio * heights
    gaps = ratios * heights[:-1]
    pitch = tipping_angle(float(t[0]), float(heights[0])) + float(tip)
    # centres along the chain's axis (upright), front face of one to back face of the next
    along = [float(t[0]) / 2.0]
    for i in range(1, n):
        along.append(along[-1] + float(t[i - 1]) / 2.0 + float(gaps[i - 1]) + float(t[i]) / 2.0)
    middle = (along[-1] + float(t[-1]) / 2.0) / 2.0
    blocks = []
    for i in range(n):
        x = direction * (along[i] - middle)
        yaw = float(yaws[i]) + (0.0 if direction == 1 else 180.0)
        name, rgb = PALETTE[colours[i]]
        size = (float(t[i]), float(w[i]), float(heights[i]))
        y = float(lateral[i] * w[i])
        if i == 0:
            blocks.append(_tipped(size, x, y, yaw, pitch, name, rgb))
        else:
            blocks.append(Block(size=size, pos=(x, y, size[2] / 2.0), yaw=yaw, colour=name, rgb=rgb))
    return Scene(blocks, {"direction": direction})


def _tipped(size, x, y, yaw, pitch, name, rgb):
    """The first domino tipped by `pitch` about its front bottom edge, which stays where the
    upright domino's front face met the floor (its centre was at x, y)."""
    t, _, h = size
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    p = math.radians(pitch)
    pivot = (x + cy * t / 2.0, y + sy * t / 2.0)
    # the pivot in the tipped block's own frame is (t/2, 0, -h/2) rotated by the pitch
    ex, ez = t / 2.0 * math.cos(p) - h / 2.0 * math.sin(p), -t / 2.0 * math.sin(p) - h / 2.0 * math.cos(p)
    pos = (pivot[0] - cy * ex, pivot[1] - sy * ex, -ez)
    return Block(size=size, pos=pos, yaw=yaw, colour=name, rgb=rgb, pitch=pitch)
