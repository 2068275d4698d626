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
from cubeworld.observers.noisy_newton import PhysicsScoring, simulate_items

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
    return dataclasses.replace(
        base,
        **{k: float(v) for k, v in point.items()},
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
    """(points x items) share of copies answering Yes."""
    from tqdm import tqdm

    calls: list[tuple[str, str, Any]] = list(zip(items.domains, items.ids, items.scenes))
    out = np.zeros((len(points), len(calls)))
    for j, point in enumerate(tqdm(points, desc="simulating parameter points", disable=not progress)):
        settings = scoring_at(base, point, config)
        out[j] = np.array(simulate_items(calls, settings)) / settings.n_simulations
    return out
