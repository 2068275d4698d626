"""Evaluating one candidate stimulus: the unit of work a worker process does.

Candidate k of a size draws from its own random generator, seeded from (seed, the
family's stream code, size, k), so its outcome never depends on which process computed
it or what that process computed before. Each process keeps one `World` per resolution.
The family does the domain's work (sample, judge, camera); this module only runs it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.stimuli.config import SetConfig
from cubeworld.stimuli.families.base import StimulusFamily


@dataclass(frozen=True)
class Job:
    size: int
    k: int  # candidate index within the size
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
    scene: dict[str, Any]  # the row's `scene` record
    outcome: dict[str, Any]
    png: bytes | None


def candidate_rng(seed: int, stream_code: int, size: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream_code), int(size), int(k)]))


class Evaluator:
    """Evaluates candidates of one family with one set's settings; holds the worlds."""

    def __init__(self, family: StimulusFamily, config: SetConfig):
        self.family = family
        self.config = config
        self._worlds: dict[int, Any] = {}

    def world(self, resolution: int):
        if resolution not in self._worlds:
            from cubeworld.stimuli.engine import World

            self._worlds[resolution] = World(self.family.capacity, resolution, self.config.render)
        return self._worlds[resolution]

    def __call__(self, job: Job) -> CandidateResult:
        from cubeworld.stimuli.engine import encode_png

        family, cfg = self.family, self.config
        rng = candidate_rng(job.seed, family.stream_code, job.size, job.k)
        world = self.world(job.resolution)
        scene = family.sample(rng, job.size, cfg.family)
        verdict = family.judge(world, scene, cfg.physics, cfg.family)
        camera = family.camera(job.size, cfg.family)
        png = None
        if verdict.accepted and verdict.falls in job.render_labels:
            png = encode_png(world.render(scene.blocks, camera, cfg.physics))
        return CandidateResult(job.size, job.k, verdict.accepted, verdict.reason, verdict.falls,
                               scene.record(camera), verdict.outcome, png)


_EVALUATOR: Evaluator | None = None


def init_worker(family: StimulusFamily, config: SetConfig) -> None:
    """Pool initializer: one evaluator (and so one model + renderer) per process."""
    global _EVALUATOR
    # Several workers share the cores: Mesa's rasteriser should not spawn threads of its own.
    os.environ.setdefault("LP_NUM_THREADS", "1")
    _exit_with_parent()
    _EVALUATOR = Evaluator(family, config)


def _exit_with_parent() -> None:
    """End this worker when the generating process dies (SIGKILL, OOM killer): an orphaned
    worker would otherwise wait for work forever, holding its MuJoCo world."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_job(job: Job) -> CandidateResult:
    assert _EVALUATOR is not None, "init_worker was not called"
    return _EVALUATOR(job)
