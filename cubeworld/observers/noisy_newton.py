"""Noisy-Newton simulation: perceive a recorded scene with noise, re-simulate it, count "Yes".

Battaglia, Hamrick & Tenenbaum (2013, PNAS) modelled people's judgements of block towers
as probabilistic simulation: perceive the scene with noise, run a physics engine forward a
few times, answer with the share of simulations that fall. This module does that with the
toolkit's own MuJoCo physics and each family's own outcome rule (the physics observer kind,
`cubeworld.observers.physics`, scores tables with it):

- for each stimulus, draw `n_simulations` noisy copies of its recorded `scene`: every
  block's horizontal position moves by Gaussian noise of sd `position_noise` times its
  smaller horizontal edge (and, if `size_noise` > 0, its horizontal edges scale by
  1 + N(0, size_noise)); a copy whose blocks interpenetrate is drawn again, so every
  simulated scene is physically possible (heights are kept: blocks still rest on blocks);
- if `push_noise` > 0, every block of a copy starts with a horizontal velocity of
  N(0, push_noise) m/s on x and y: the "small force" of Battaglia et al., as an impulse;
- simulate each copy with contract A's `get_family(domain).answer_by_simulation`
  (towers: does it fall; pyramids: with the red block removed, does another block fall);
- the share of copies answering Yes is what the simulations say; the answer's P(Yes) is
  `decide(share)`: the share itself (probability matching, the default), or, with a
  decision `threshold`, 1 if the share reaches it else 0; a `lapse` rate mixes in a coin
  flip: P(Yes) = lapse/2 + (1 - lapse) x that. A fit to people (`cubeworld.fitting`)
  estimates these settings by maximum likelihood.

The copies of one scene run as one batched MuJoCo call (`StimulusFamily.answer_copies`:
the same answers as one at a time); `stop_at_rest` also ends a copy whose blocks have come
to rest (an approximation, measured in benchmarks/bench_observers.py, off by default).

The noise of stimulus `i`, copy `k` comes from a generator seeded by (`seed`, the
stimulus id, k): the same seed gives the same numbers, in any order, with any number of
worker processes. Contract A's simulation takes physics settings by name (timestep,
duration, friction, ...; `physics` here); a push is a block's recorded `velocity` (0 in
every stimulus set).
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.pools import run_calls
from cubeworld.typed import setting

TOUCH_MM = 1.0  # blocks whose vertical extents overlap by more than this are "side by side"


@dataclass(frozen=True, kw_only=True)
class PhysicsScoring:
    """The physics observer's settings (a study's `scoring:` block), declared once."""

    n_simulations: int = setting(
        20, help="Noisy re-simulations per stimulus; P(Yes) = the share answering Yes.", minimum=1, maximum=100_000
    )
    position_noise: float = setting(
        0.1,
        help="sd of each block's horizontal position noise, as a fraction of its smaller horizontal edge "
        "(0.1 of a 10 cm block = 1 cm), on x and y.",
        above=0,
        maximum=10,
    )
    size_noise: float = setting(
        0.0, help="sd of multiplicative noise on each block's horizontal edges (0: off).", minimum=0, maximum=1
    )
    push_noise: float = setting(
        0.0,
        help="sd in m/s of a horizontal start velocity of each block: the small force of Battaglia et al. as an "
        "impulse (0: off; 0.05 = a nudge).",
        minimum=0,
        maximum=100,
    )
    threshold: float | None = setting(
        None,
        help="Decision threshold: answer Yes when the share of copies answering Yes is at least this (P(Yes) then "
        "0 or 1 before the lapse); null: P(Yes) is the share itself.",
        minimum=0,
        maximum=1,
    )
    lapse: float = setting(
        0.0,
        help="Lapse rate: with this probability the answer is a coin flip (P(Yes) = lapse/2 + ...).",
        minimum=0,
        below=1,
    )
    stop_at_rest: bool = setting(
        False, help="End a copy once its blocks have come to rest (faster; an approximation, off by default)."
    )
    seed: int = setting(0, help="The noise seed: the same seed gives the same numbers.", minimum=0, maximum=2**32 - 1)
    workers: int | None = setting(
        None, help="Processes simulating in parallel (null: every core; 1: this one).", minimum=1, maximum=256
    )
    max_redraws: int = setting(
        50,
        help="A noisy scene whose blocks interpenetrate is drawn again (at most this often).",
        minimum=1,
        maximum=10_000,
    )
    physics: Mapping[str, Any] = setting(
        factory=dict, help="Physics settings of the stimulus families overridden by name (timestep, duration, ...)."
    )


# -- noise -----------------------------------------------------------------------------


def _corners(pos, size, yaw_deg):
    """The four horizontal corners of a block's footprint."""
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    hx, hy = size[0] / 2, size[1] / 2
    return [
        (pos[0] + c * dx - s * dy, pos[1] + s * dx + c * dy) for dx, dy in ((hx, hy), (-hx, hy), (-hx, -hy), (hx, -hy))
    ]


def _footprints_overlap(a, b) -> bool:
    """Separating-axis test of two rotated rectangles (lists of 4 corners)."""
    for poly in (a, b):
        for i in range(4):
            x1, y1 = poly[i]
            x2, y2 = poly[(i + 1) % 4]
            nx, ny = y2 - y1, x1 - x2
            pa = [nx * x + ny * y for x, y in a]
            pb = [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) + 1e-9 or max(pb) <= min(pa) + 1e-9:
                return False
    return True


def overlapping_pairs(blocks: list[dict]) -> set[tuple[int, int]]:
    """Pairs of blocks side by side (heights overlapping) whose footprints overlap."""
    feet = [_corners(b["pos"], b["size"], b.get("yaw", 0.0)) for b in blocks]
    pairs = set()
    for i in range(len(blocks)):
        zi, hi = blocks[i]["pos"][2], blocks[i]["size"][2] / 2
        for j in range(i + 1, len(blocks)):
            zj, hj = blocks[j]["pos"][2], blocks[j]["size"][2] / 2
            overlap = min(zi + hi, zj + hj) - max(zi - hi, zj - hj)
            if overlap > TOUCH_MM / 1000 and _footprints_overlap(feet[i], feet[j]):
                pairs.add((i, j))
    return pairs


def interpenetrates(
    blocks: list[dict], allowed: frozenset[tuple[int, int]] | set[tuple[int, int]] = frozenset()
) -> bool:
    """Whether two blocks side by side overlap horizontally (pairs in `allowed` excepted:
    blocks that already touch that way in the recorded scene, e.g. a tipped domino
    leaning on the next, where this upright-box test is too coarse)."""
    return bool(overlapping_pairs(blocks) - set(allowed))


MAX_HALVINGS = 8


def noisy_scene(
    scene: Mapping[str, Any], rng, position_noise: float, size_noise: float, max_redraws: int, push_noise: float = 0.0
) -> dict[str, Any]:
    """One perceived copy of `scene`: positions (and sizes) with noise, no interpenetration
    that the recorded scene does not have; with `push_noise`, each block pushed at random.

    After `max_redraws` failed draws the noise of that copy is halved and drawing goes on
    (at most MAX_HALVINGS times; then the recorded scene itself is the copy), so a crowded
    scene still gets its copies. This is rare at the default noise."""
    allowed = overlapping_pairs(list(scene["blocks"]))
    scale = 1.0
    for _ in range(MAX_HALVINGS + 1):
        for _ in range(max_redraws):
            blocks = []
            for b in scene["blocks"]:
                size = list(b["size"])
                if size_noise > 0:
                    size[0] *= max(0.5, 1 + rng.normal(0, size_noise * scale))
                    size[1] *= max(0.5, 1 + rng.normal(0, size_noise * scale))
                sd = position_noise * scale * min(b["size"][0], b["size"][1])
                pos = [b["pos"][0] + rng.normal(0, sd), b["pos"][1] + rng.normal(0, sd), b["pos"][2]]
                blocks.append({**b, "size": size, "pos": pos})
            if not interpenetrates(blocks, allowed):
                return {**scene, "blocks": _pushed(blocks, rng, push_noise)}
        scale /= 2
    return {**scene, "blocks": _pushed(list(scene["blocks"]), rng, push_noise)}


def _pushed(blocks: list[dict], rng, push_noise: float) -> list[dict]:
    """`blocks`, each with a horizontal start velocity of sd `push_noise` m/s (0: as given).
    Drawn after the positions, so a copy's positions do not depend on the push."""
    if push_noise <= 0:
        return blocks
    return [{**b, "velocity": [rng.normal(0, push_noise), rng.normal(0, push_noise), 0.0]} for b in blocks]


def _rng(seed: int, stimulus_id: str, k: int):
    import numpy as np

    return np.random.default_rng([int(seed), zlib.crc32(stimulus_id.encode("utf-8")), int(k)])


def decide(share: Any, threshold: float | None, lapse: float) -> Any:
    """P(Yes) of an answer from the share of copies answering Yes (a number or an array):
    the share (threshold None) or 1/0 at the threshold, mixed with a coin flip at rate `lapse`."""
    import numpy as np

    base = np.asarray(share, dtype=float) if threshold is None else (np.asarray(share) >= threshold - 1e-12) * 1.0
    p = lapse / 2 + (1 - lapse) * base
    return float(p) if np.ndim(p) == 0 else p


def noisy_copies(scene: Mapping[str, Any], stimulus_id: str, settings: PhysicsScoring) -> list[dict[str, Any]]:
    """The `n_simulations` perceived copies of `scene`; copy k's noise is drawn from the same
    standard normals whatever the noise scales (common random numbers across settings)."""
    return [
        noisy_scene(
            scene,
            _rng(settings.seed, stimulus_id, k),
            settings.position_noise,
            settings.size_noise,
            settings.max_redraws,
            settings.push_noise,
        )
        for k in range(settings.n_simulations)
    ]


def simulate_item(domain: str, stimulus_id: str, scene: Mapping[str, Any], settings: PhysicsScoring) -> int:
    """The number of noisy copies of `scene` answering Yes, simulated as one batch. Runs in a
    worker process."""
    from cubeworld.stimuli.engine.batch import RestRule
    from cubeworld.stimuli.families import get_family

    family = get_family(domain)
    physics = dict(settings.physics)
    copies = noisy_copies(scene, stimulus_id, settings)
    rest = RestRule() if settings.stop_at_rest else None
    return sum(family.answer_copies(copies, physics=physics or None, rest=rest))


def _worker_init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def simulate_items(
    items: list[tuple[str, str, dict]],
    settings: PhysicsScoring,
    *,
    on_result: Callable[[int, int], None] | None = None,
    error: type[CubeworldError] = CubeworldError,
) -> list[int]:
    """The Yes count of every (domain, stimulus id, scene), in `settings.workers` processes;
    `on_result(index, yes)` as each arrives.

    A worker that dies loses its items: they are tried once more in a fresh pool; a second
    death is `error` naming a few of the items left (`cubeworld.pools.run_calls`)."""
    return run_calls(
        simulate_item,
        [(d, sid, scene, settings) for d, sid, scene in items],
        workers=settings.workers or os.cpu_count() or 1,
        initializer=_worker_init,
        on_result=on_result,
        name_of=lambda i: items[i][1],
        what="physics observer",
        error=error,
    )
