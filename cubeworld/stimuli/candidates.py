"""Evaluating one candidate stimulus: the unit of work a worker process does.

Candidate k of cell (domain, size) draws from its own random generator, seeded from
(seed, domain, size, k), so its outcome never depends on which process computed it or
what that process computed before. Each process keeps one `World` per domain.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.stimuli.config import GeneratorConfig
from cubeworld.tasks import PYRAMID, TOWER

DOMAIN_CODE = {TOWER: 0, PYRAMID: 1}
CAPACITY = {TOWER: 7, PYRAMID: 15}


@dataclass(frozen=True)
class Job:
    domain: str
    size: int
    k: int  # candidate index within the cell
    seed: int
    resolution: int
    render_labels: tuple[bool, ...]  # labels (falls values) whose quota was open when submitted


@dataclass
class CandidateResult:
    size: int
    k: int
    accepted: bool
    reason: str  # rejection reason, "" when accepted
    falls: bool | None
    scene: dict[str, Any]
    outcome: dict[str, Any]
    png: bytes | None


def candidate_rng(seed: int, domain: str, size: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), DOMAIN_CODE[domain], int(size), int(k)]))


class Evaluator:
    """Holds the per-process worlds; `__call__(job)` evaluates one candidate."""

    def __init__(self, config: GeneratorConfig):
        self.config = config
        self._worlds: dict[tuple[str, int], Any] = {}

    def world(self, domain: str, resolution: int):
        key = (domain, resolution)
        if key not in self._worlds:
            from cubeworld.stimuli.engine import World

            self._worlds[key] = World(CAPACITY[domain], resolution, self.config.render)
        return self._worlds[key]

    def __call__(self, job: Job) -> CandidateResult:
        from cubeworld.stimuli.engine import encode_png

        cfg = self.config
        rng = candidate_rng(job.seed, job.domain, job.size, job.k)
        world = self.world(job.domain, job.resolution)
        if job.domain == TOWER:
            from cubeworld.stimuli.towers import judge_tower, sample_tower, tower_camera

            blocks = sample_tower(rng, job.size, cfg.tower)
            verdict = judge_tower(world, blocks, cfg.physics, cfg.tower)
            camera = tower_camera(job.size, cfg.cameras[TOWER])
            scene = {"blocks": [b.to_record() for b in blocks], "red_block": None, "camera": camera}
        else:
            from cubeworld.stimuli.pyramids import judge_pyramid, pyramid_camera, sample_pyramid

            pyr = sample_pyramid(rng, job.size, cfg.pyramid)
            blocks = pyr.blocks
            verdict = judge_pyramid(world, pyr, cfg.physics, cfg.pyramid)
            camera = pyramid_camera(job.size, cfg.cameras[PYRAMID])
            scene = {
                "blocks": [b.to_record() for b in blocks],
                "red_block": pyr.red,
                "red_row": pyr.red_row,
                "rows": pyr.rows,
                "row_of": pyr.row_of,
                "row_leans": pyr.leans,
                "camera": camera,
            }
        png = None
        if verdict.accepted and verdict.falls in job.render_labels:
            png = encode_png(world.render(blocks, camera, cfg.physics))
        return CandidateResult(job.size, job.k, verdict.accepted, verdict.reason, verdict.falls, scene, verdict.outcome, png)


_EVALUATOR: Evaluator | None = None


def init_worker(config_dict: dict[str, Any]) -> None:
    """Pool initializer: one evaluator (and so one model + renderer) per process."""
    global _EVALUATOR
    # Several workers share the cores: Mesa's rasteriser should not spawn threads of its own.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    _EVALUATOR = Evaluator(GeneratorConfig.from_dict(config_dict))


def run_job(job: Job) -> CandidateResult:
    assert _EVALUATOR is not None, "init_worker was not called"
    return _EVALUATOR(job)
