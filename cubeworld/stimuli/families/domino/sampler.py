"""Drawing a domino chain (numpy): heights, gaps, offsets, the tipped first domino, and the
one critical element of the chain's cause.

Every chain has one **cause** (the family's quota stratum) and one **critical domino**
`c` (1 .. n-1, uniform), the one the cause is about; everything else is an ordinary
chain whose links stay well within reach. The critical element's value is drawn across
the point where the answer flips, so each cause gives both answers:

- `spacing`: the gap before domino c, as a share of the height of the domino falling
  across it (a falling domino reaches about as far as it is tall);
- `offset`: the row steps sideways at domino c (c and every domino after it move by the
  step), as a share of half the two widths' sum (beyond 1 the falling face misses);
- `size`: domino c is the one before it scaled up (same shape): heavier and hit lower;
- `thickness`: domino c is a slab, thickness / height well above a domino's 0.16.

The scene is rounded to what its row records before it is returned, so the blocks that
are judged, perturbed and rendered are exactly the recorded ones.
"""

from __future__ import annotations

import math

from cubeworld.stimuli.core.scene import Block, Scene, block_from_record
from cubeworld.stimuli.engine.palette import PALETTE
from cubeworld.stimuli.families.domino.settings import CAUSES, DominoSettings


def tipping_angle(thickness: float, height: float) -> float:
    """Degrees a domino must lean before its centre of mass passes over its front edge."""
    return math.degrees(math.atan2(thickness, height))


def sample_chain(rng, n: int, cfg: DominoSettings, cause: str, controlled: bool = False) -> Scene:
    """Draw a chain of n dominoes whose critical element is of `cause`, the first domino
    tipped towards the others. `controlled` (a cue-controlled set): the critical value is
    drawn in the cause's control window (`ControlWindow`) instead of its range, with the
    same draws otherwise."""
    if cause not in CAUSES:
        raise ValueError(f"unknown domino cause {cause!r}")
    heights = cfg.height * rng.uniform(1.0 - cfg.height_jitter, 1.0 + cfg.height_jitter, n)
    ratios = rng.uniform(cfg.gap_min, cfg.gap_max, n - 1)
    ratios[0] = rng.uniform(cfg.first_gap_min, cfg.gap_max)
    critical = int(rng.integers(1, n))
    drawn = cfg.control_windows[cause] if controlled else cfg.cause_range(cause)
    value = float(rng.uniform(drawn.low, drawn.high))
    side = 1.0 if rng.random() < 0.5 else -1.0
    lateral = rng.uniform(-cfg.lateral_jitter, cfg.lateral_jitter, n)
    yaws = rng.uniform(-cfg.max_yaw, cfg.max_yaw, n)
    tip = float(rng.uniform(cfg.tip_min, cfg.tip_max))
    direction = 1 if rng.random() < 0.5 else -1
    colours = [int(rng.integers(len(PALETTE)))]
    for _i in range(1, n):
        choice = int(rng.integers(len(PALETTE) - 1))
        colours.append(choice if choice < colours[-1] else choice + 1)  # differs from its neighbour

    # gaps are shares of the ordinary heights, drawn before the critical domino is changed: a
    # big domino's own link is then no wider in millimetres than any other (a wide gap after it
    # would give its answer away), and well within its longer reach
    gaps = ratios * heights[:-1]
    thick = cfg.thickness_ratio * heights
    if cause == "spacing":
        gaps[critical - 1] = value * heights[critical - 1]
    elif cause == "size":
        heights[critical] = heights[critical - 1] * value
        thick[critical] = cfg.thickness_ratio * heights[critical]
    elif cause == "thickness":
        thick[critical] = value * heights[critical]
    widths = cfg.width_ratio * heights
    ys = lateral * widths
    if cause == "offset":  # the row steps sideways by exactly `value` half-widths at the critical domino
        step = side * value * (widths[critical - 1] + widths[critical]) / 2.0
        ys[critical:] += step - (ys[critical] - ys[critical - 1])
    pitch = tipping_angle(float(thick[0]), float(heights[0])) + tip
    # centres along the chain's axis (upright), front face of one to back face of the next
    along = [float(thick[0]) / 2.0]
    for i in range(1, n):
        along.append(along[-1] + float(thick[i - 1]) / 2.0 + float(gaps[i - 1]) + float(thick[i]) / 2.0)
    middle = (along[-1] + float(thick[-1]) / 2.0) / 2.0
    blocks = []
    for i in range(n):
        x = direction * (along[i] - middle)
        yaw = float(yaws[i]) + (0.0 if direction == 1 else 180.0)
        name, rgb = PALETTE[colours[i]]
        size = (float(thick[i]), float(widths[i]), float(heights[i]))
        if i == 0:
            blocks.append(_tipped(size, x, float(ys[i]), yaw, pitch, name, rgb))
        else:
            blocks.append(Block(size=size, pos=(x, float(ys[i]), size[2] / 2.0), yaw=yaw, colour=name, rgb=rgb))
    # judged = recorded: the blocks as their row will record them (rounded to 1 um, 1e-4 deg)
    recorded = [block_from_record(b.to_record()) for b in blocks]
    return Scene(recorded, {"direction": direction, "cause": cause, "critical": critical})


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
