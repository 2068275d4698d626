"""The share of noisy copies answering Yes, per (parameter point, item): the fit's one
expensive table.

Why once: the likelihood of every candidate, fold and bootstrap resample reads this table,
so each (point, item) is simulated once. Copy k of an item draws the same standard
normals at every point (`noisy_newton`'s generator is seeded by seed, item and k only), so
two neighbouring points differ only by the noise scale: common random numbers, and a
likelihood that changes smoothly with the parameters instead of by fresh sampling noise.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cubeworld.fitting.config import FitConfig
from cubeworld.fitting.items import FitItems
from cubeworld.observers.noisy_newton import PhysicsScoring

SIMULATED = ("position_noise", "size_noise", "push_noise")  # what needs new simulations


def coarse_points(config: FitConfig, base: PhysicsScoring) -> list[dict[str, float]]:
    """Every combination of the fitted simulated parameters' grids (others at `base`'s values)."""
    axes = []
    for name in SIMULATED:
        grid = getattr(config, f"{name}_grid") if name in config.params else (getattr(base, name),)
        axes.append([(name, float(v)) for v in grid])
    return [dict(combo) for combo in itertools.product(*axes)]


def refined_points(config: FitConfig, points: Sequence[Mapping[str, float]], best: Mapping[str, float]) -> list[dict]:
    """The midpoints between the best point and its neighbours on each fitted axis, in every
    combination (the best value kept as one choice): the grid's one refinement."""
    axes = []
    for name in SIMULATED:
        values = sorted({p[name] for p in points})
        v = best[name]
        if name not in config.params or len(values) < 2:
            axes.append([v])
            continue
        k = values.index(v)
        near = [v]
        if k > 0:
            near.append((values[k - 1] + v) / 2)
        if k + 1 < len(values):
            near.append((values[k + 1] + v) / 2)
        axes.append(near)
    seen = {tuple(sorted(p.items())) for p in points}
    out = [dict(zip(SIMULATED, combo)) for combo in itertools.product(*axes)]
    return [p for p in out if tuple(sorted(p.items())) not in seen]


def scoring_at(base: PhysicsScoring, point: Mapping[str, float], config: FitConfig) -> PhysicsScoring:
    values: dict[str, Any] = {k: float(v) for k, v in point.items()}
    return dataclasses.replace(
        base,
        **values,
        n_simulations=config.n_simulations,
        seed=config.seed,
        workers=config.workers,
        stop_at_rest=config.stop_at_rest,
        threshold=None,
        lapse=0.0,
    )


def share_table(
    items: FitItems,
    points: Sequence[Mapping[str, float]],
    base: PhysicsScoring,
    config: FitConfig,
    progress: bool = True,
) -> np.ndarray:
    """(points x items) share of copies answering Yes, every (point, item) one call of one
    pool of worker processes (started once, not once per point)."""
    import os

    from tqdm import tqdm

    from cubeworld.fitting.config import FitError
    from cubeworld.observers.noisy_newton import _worker_init, simulate_item
    from cubeworld.pools import run_calls

    settings = [scoring_at(base, point, config) for point in points]
    calls: list[tuple[str, str, Any, PhysicsScoring]] = [
        (d, sid, scene, st) for st in settings for d, sid, scene in zip(items.domains, items.ids, items.scenes)
    ]
    with tqdm(total=len(calls), desc="simulating items x parameter points", disable=not progress) as bar:
        yes = run_calls(
            simulate_item,
            calls,
            workers=config.workers or os.cpu_count() or 1,
            initializer=_worker_init,
            on_result=lambda i, _: bar.update(1),
            name_of=lambda i: f"{calls[i][1]} at {points[i // len(items.ids)]}",
            what="fit simulations",
            error=FitError,
        )
    return np.array(yes, dtype=float).reshape(len(points), len(items.ids)) / config.n_simulations
