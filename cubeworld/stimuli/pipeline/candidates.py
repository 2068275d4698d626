"""Evaluating one candidate stimulus: the unit of work a worker process does.

Candidate k of a size draws from its own random generator, seeded from (seed, the
family's stream code, size, k), so its outcome never depends on which process computed
it or what that process computed before. Each process keeps one physics `World` per scene
size (a world holds exactly the scene's blocks: idle parked boxes cost a quarter of the
simulation time of small scenes) and one render `World` per resolution with room for the
family's largest scene (a renderer costs about 0.4 s to make; unused boxes are invisible).
The family does the domain's work (sample, judge, camera); this module checks the frame
and runs it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.pools import exit_with_parent
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.family import StimulusFamily


@dataclass(frozen=True)
class Job:
    size: int
    k: int  # candidate index within the size
    seed: int
    resolution: int
    # (cue key, labels that key could still keep) when submitted: the labels judged for and rendered.
    # Without cue control one key, (): ((), labels).
    open_cells: tuple[tuple[Any, tuple[bool, ...]], ...]
    stratum: Any = None  # the quota stratum value the candidate is drawn in (None: no quota stratum)
    skip: bool = False  # its stratum value was full when submitted: it will be surplus, do nothing
    controlled: bool = False  # a cue-controlled set: read the candidate's cue key before judging it


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
    skipped: bool = False  # not judged: its stratum value (`Job.skip`) or its cue key had no open label
    cue: Any = ()  # its cue key (a bin per controlled cue); None before it is known (out of frame, out of range)


def candidate_rng(seed: int, stream_code: int, size: int, k: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream_code), int(size), int(k)]))


class Evaluator:
    """Evaluates candidates of one family with one set's settings; holds the worlds."""

    def __init__(self, family: StimulusFamily, config: SetConfig):
        self.family = family
        self.config = config
        self._worlds: dict[tuple[Any, ...], Any] = {}
        self._keys: Any = None  # control.CueKeys, made for the first cue-controlled job

    def world(self, size: int):
        """The physics world for scenes of `size` blocks (it never renders)."""
        if ("physics", size) not in self._worlds:
            from cubeworld.stimuli.engine.world import World
            from cubeworld.stimuli.engine.worlds import SIMULATION_RESOLUTION

            self._worlds[("physics", size)] = World(size, SIMULATION_RESOLUTION, self.config.render)
        return self._worlds[("physics", size)]

    def render_world(self, resolution: int, size: int):
        """The world that renders at `resolution`: one for every size."""
        capacity = max(self.family.capacity, size)
        if ("render", resolution, capacity) not in self._worlds:
            from cubeworld.stimuli.engine.world import World

            self._worlds[("render", resolution, capacity)] = World(capacity, resolution, self.config.render)
        return self._worlds[("render", resolution, capacity)]

    def __call__(self, job: Job) -> CandidateResult:
        from cubeworld.stimuli.engine.frame import inside_frame
        from cubeworld.stimuli.engine.world import encode_png

        family, cfg = self.family, self.config
        if job.skip:
            return CandidateResult(job.size, job.k, False, "", None, {}, {}, None, skipped=True)
        rng = candidate_rng(job.seed, family.stream_code, job.size, job.k)
        if job.stratum is None:
            scene = family.sample(rng, job.size, cfg.family)
        elif job.controlled:
            scene = family.sample_in_stratum(rng, job.size, cfg.family, job.stratum, controlled=True)
        else:
            scene = family.sample_in_stratum(rng, job.size, cfg.family, job.stratum)
        scene = scene.as_recorded()  # judged, perturbed and rendered exactly as the row records it
        camera = family.camera(job.size, cfg.family)
        record = scene.record(camera)
        if not inside_frame(scene.blocks, camera, cfg.render.fovy, cfg.render.frame_margin):
            return CandidateResult(job.size, job.k, False, "out_of_frame", None, record, {}, None, cue=None)
        key: Any = ()
        if job.controlled:
            if self._keys is None:
                from cubeworld.stimuli.pipeline.control import CueKeys

                self._keys = CueKeys(family, cfg.family)
            key = self._keys.key(job.size, record)
            if key is None:
                return CandidateResult(job.size, job.k, False, "cue_out_of_range", None, record, {}, None, cue=None)
        wanted = dict(job.open_cells).get(key, ())
        if not wanted:  # its cue key takes no label any more: surplus, never simulated
            return CandidateResult(job.size, job.k, False, "", None, record, {}, None, skipped=True, cue=key)
        world = self.world(len(scene.blocks))
        verdict = family.judge_wanted(world, scene, cfg.physics, cfg.family, wanted)
        png = None
        if verdict.accepted and verdict.falls in wanted:
            image = self.render_world(job.resolution, len(scene.blocks)).render(scene.blocks, camera, cfg.physics)
            png = encode_png(image)
        return CandidateResult(
            job.size, job.k, verdict.accepted, verdict.reason, verdict.falls, record, verdict.outcome, png, cue=key
        )


_EVALUATOR: Evaluator | None = None


def init_worker(family: StimulusFamily, config: SetConfig) -> None:
    """Pool initializer: one evaluator (and so one model + renderer) per process."""
    global _EVALUATOR
    # Several workers share the cores: Mesa's rasteriser should not spawn threads of its own.
    # 0 rasterises in the worker's own thread (448 px, one process, idle: 39.5 ms CPU per
    # image; 1 thread: 54.6 ms; Mesa's default of one per core: 61 ms), with the same pixels.
    os.environ.setdefault("LP_NUM_THREADS", "0")
    exit_with_parent()
    _EVALUATOR = Evaluator(family, config)


def run_job(job: Job) -> CandidateResult:
    assert _EVALUATOR is not None, "init_worker was not called"
    return _EVALUATOR(job)
