"""Block pyramids (causal reasoning): sampling, stability check, counterfactual label.

Scheme (see shared/docs/sampler-notes.md): equal cubes, no yaw; the bottom row is centred
with a fixed gap; every upper row leans left or right as a whole, each cube resting
mostly on one "main" supporter and overlapping its "weak" supporter by a random amount.
This is what makes both answers occur: whether removing the red cube drops anything
depends on which cubes rest mostly on it.

The label "falls" (answer Yes) comes from removing the red cube and simulating. A label is
kept only when it is clean (Yes: something moves > `yes_move` or tilts > `yes_tilt`;
No: nothing moves > `no_move` nor tilts > `no_tilt`) and every perturbed-physics run
gives the same clean label; the full pyramid must not move at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cubeworld.stimuli.config import PhysicsSettings
from cubeworld.stimuli.families.pyramid import PyramidCamera, PyramidSettings
from cubeworld.stimuli.palette import PALETTE, RED
from cubeworld.stimuli.scene import Block, tilt_degrees

ROWS_FOR_SIZE = {3: 2, 6: 3, 10: 4, 15: 5}
MAX_REDRAWS = 1000


@dataclass(frozen=True)
class Pyramid:
    blocks: list[Block]
    rows: int
    row_of: list[int]  # row of each block (0 = bottom)
    red: int  # index of the red block
    leans: list[str]  # per upper row: "left" or "right" (which supporter carries it)

    @property
    def red_row(self) -> int:
        return self.row_of[self.red]


def _row_positions(rng: np.random.Generator, below: list[float], lean_left: bool, s: float, cfg: PyramidSettings) -> list[float] | None:
    xs = []
    for j in range(len(below) - 1):
        x_l, x_r = below[j], below[j + 1]
        gap = x_r - x_l - s
        ov_min = cfg.overlap_min * s
        ov_max = min(cfg.overlap_max * s, (0.5 - cfg.inside_min) * s - gap)
        if ov_max <= ov_min:
            return None
        ov = float(rng.uniform(ov_min, ov_max))
        xs.append(x_r - s + ov if lean_left else x_l + s - ov)
    if any(b - a - s < cfg.min_neighbour_gap * s for a, b in zip(xs, xs[1:])):
        return None
    return xs


def sample_pyramid(rng: np.random.Generator, n: int, cfg: PyramidSettings) -> Pyramid:
    """Draw an n-cube pyramid (n in 3, 6, 10, 15) with one red cube below the top."""
    rows = ROWS_FOR_SIZE[n]
    s = cfg.side
    for _ in range(MAX_REDRAWS):
        pitch = s * (1.0 + cfg.base_gap)
        layout = [[(j - (rows - 1) / 2.0) * pitch for j in range(rows)]]
        leans: list[str] = []
        for _r in range(1, rows):
            for _try in range(100):
                lean_left = bool(rng.random() < 0.5)
                xs = _row_positions(rng, layout[-1], lean_left, s, cfg)
                if xs is not None:
                    break
            else:
                break
            layout.append(xs)
            leans.append("left" if lean_left else "right")
        if len(layout) < rows or abs(layout[-1][0]) > cfg.max_top_offset * s:
            continue
        row_of = [r for r, xs in enumerate(layout) for _ in xs]
        red_row = int(rng.integers(rows - 1))
        red = sum(len(layout[r]) for r in range(red_row)) + int(rng.integers(len(layout[red_row])))
        colours = _colour(rng, layout, red)
        blocks = []
        i = 0
        for r, xs in enumerate(layout):
            for x in xs:
                name, rgb = colours[i]
                blocks.append(Block(size=(s, s, s), pos=(float(x), 0.0, s / 2.0 + r * s), yaw=0.0, colour=name, rgb=rgb))
                i += 1
        return Pyramid(blocks=blocks, rows=rows, row_of=row_of, red=red, leans=leans)
    raise RuntimeError(f"could not draw a {n}-cube pyramid")


def _colour(rng: np.random.Generator, layout: list[list[float]], red: int) -> list[tuple[str, tuple]]:
    """Red for the red cube; for the others a palette colour unlike the cubes they touch
    (row neighbours and both supporters), so no two neighbouring cubes share a colour."""
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
    rows = ROWS_FOR_SIZE[n]
    return {
        "lookat": [0.0, 0.0, round(cam.lookat_height_per_row * rows, 6)],
        "distance": round(cam.distance_base + cam.distance_per_row * rows, 6),
        "azimuth": cam.azimuth,
        "elevation": cam.elevation,
    }


@dataclass
class PyramidJudgement:
    accepted: bool
    reason: str
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


def _movement(world, blocks, physics, removed=()) -> tuple[np.ndarray, np.ndarray]:
    sim = world.simulate(blocks, physics, removed=removed)
    start = np.array([b.pos for b in blocks])
    disp = np.linalg.norm(sim.pos - start, axis=1)
    tilt = tilt_degrees(sim.quat)
    return disp, tilt


def _classify(disp: np.ndarray, tilt: np.ndarray, others: np.ndarray, cfg: PyramidSettings) -> str:
    d, t = disp[others], tilt[others]
    if (d > cfg.yes_move).any() or (t > cfg.yes_tilt).any():
        return "Yes"
    if (d < cfg.no_move).all() and (t < cfg.no_tilt).all():
        return "No"
    return "ambiguous"


def removal_falls(world, pyr: Pyramid, physics: PhysicsSettings, cfg: PyramidSettings) -> bool:
    """The outcome rule, once: with the red cube removed, does another cube move more than
    `yes_move` or tilt more than `yes_tilt`?"""
    others = np.array([i for i in range(len(pyr.blocks)) if i != pyr.red])
    disp, tilt = _movement(world, pyr.blocks, physics, removed=(pyr.red,))
    return bool((disp[others] > cfg.yes_move).any() or (tilt[others] > cfg.yes_tilt).any())


def judge_pyramid(world, pyr: Pyramid, physics: PhysicsSettings, cfg: PyramidSettings) -> PyramidJudgement:
    """Check the full pyramid stands, then label the counterfactual and test its robustness."""
    disp0, tilt0 = _movement(world, pyr.blocks, physics)
    settle = {"full_max_move_mm": round(float(disp0.max()) * 1000, 4), "full_max_tilt_deg": round(float(tilt0.max()), 4)}
    if (disp0 > cfg.stable_move).any() or (tilt0 > cfg.stable_tilt).any():
        return PyramidJudgement(False, "unstable_full", None, settle)
    others = np.array([i for i in range(len(pyr.blocks)) if i != pyr.red])
    disp, tilt = _movement(world, pyr.blocks, physics, removed=(pyr.red,))
    label = _classify(disp, tilt, others, cfg)
    fell = [int(i) for i in others if disp[i] > cfg.yes_move or tilt[i] > cfg.yes_tilt]
    outcome = {
        **settle,
        "falls": label == "Yes",
        "fell_blocks": fell,
        "displacement": [round(float(v), 6) if i != pyr.red else None for i, v in enumerate(disp)],
        "tilt_deg": [round(float(v), 4) if i != pyr.red else None for i, v in enumerate(tilt)],
        "perturbation_labels": [],
    }
    if label == "ambiguous":
        return PyramidJudgement(False, "ambiguous", None, outcome)
    for change in cfg.perturbations:
        d, t = _movement(world, pyr.blocks, physics.perturbed(change), removed=(pyr.red,))
        other = _classify(d, t, others, cfg)
        outcome["perturbation_labels"].append(other)
        if other != label:
            return PyramidJudgement(False, "perturbation_sensitive", None, outcome)
    return PyramidJudgement(True, "", label == "Yes", outcome)
