"""The physics observer kind: a noisy-Newton intuitive physics engine, no training.

Each stimulus's recorded scene is re-simulated `n_simulations` times with perceptual
noise (`cubeworld.observers.noisy_newton`, after Battaglia, Hamrick & Tenenbaum 2013);
P(Yes) is the share of simulations answering Yes under the family's own rule, the answer
Yes when P(Yes) >= 0.5. Photos (sets without a recorded scene, such as Lerer100) are
skipped with a one-line reason. Its settings (`scoring:`) are `PhysicsScoring`'s fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cubeworld.formats.predictions import OBSERVER_COLUMNS
from cubeworld.formats.tables import Answer, Emit, Item
from cubeworld.observers.base import EvaluationJob, ObserverError, ObserverKind, ObserverSettingError, Settings
from cubeworld.observers.noisy_newton import PhysicsScoring, simulate_items

SOURCE = "mujoco"
EXTRA_COLUMNS = ("n_simulations",)
# Scoring settings added after studies had been run with this observer (see `effective`).
ADDED_LATER = ("push_noise",)


class PhysicsScorer:
    """The simulator as the table loop uses it: one Yes count per item, written as it comes."""

    def __init__(self, settings: PhysicsScoring):
        self.scoring = settings
        self.settings: dict[str, Any] = {}
        self.columns = {"p_other": 0.0, "n_simulations": settings.n_simulations}

    def score(self, items: Sequence[Item], emit: Emit) -> None:
        n = self.scoring.n_simulations

        def done(i: int, yes: int) -> None:
            s, row = items[i]
            emit([(s, row, Answer(yes / n))])

        simulate_items(
            [(row.domain, row.stimulus_id, row.extra["scene"]) for _, row in items],
            self.scoring,
            on_result=done,
            error=ObserverError,
        )


class PhysicsObserver(ObserverKind):
    name = "physics"
    description = (
        "noisy-Newton simulation (Battaglia et al. 2013): P(Yes) = share of noisy "
        "re-simulations of the recorded scene answering Yes"
    )
    trains = False
    zero_shot = True
    scoring_type = PhysicsScoring
    default_source = SOURCE
    reads_images = False

    def check_source(self, source: str) -> None:
        if source != SOURCE:
            raise ObserverSettingError(f"a physics observer simulates with {SOURCE!r}; leave source out")

    def effective(self, training: Settings, scoring: Settings) -> dict[str, Any]:
        """The scoring settings a run records (and a study compares); a setting added after
        studies were run is left out while at its default, so finished runs stay finished."""
        defaults = PhysicsScoring()
        plain = scoring.plain() or dataclasses.asdict(defaults)
        return {"scoring": {k: v for k, v in plain.items() if not (k in ADDED_LATER and v == getattr(defaults, k))}}

    def skip_reason(self, stim_set: Any) -> str | None:
        from cubeworld.stimuli.families import FAMILIES

        for r in stim_set.rows:
            scene = r.extra.get("scene")
            if not isinstance(scene, Mapping) or not scene.get("blocks"):
                return "photos without a recorded scene; the physics observer re-simulates scenes"
            if r.domain not in FAMILIES:
                return f"domain {r.domain!r} has no stimulus family to simulate it"
        return None

    def scoring_of(self, job: EvaluationJob) -> PhysicsScoring:
        """The job's settings; the command line's --seed seeds the noise unless the
        settings name a seed of their own."""
        values: PhysicsScoring = job.scoring.values or PhysicsScoring()
        if job.seed is not None and "seed" not in job.scoring.given:
            values = dataclasses.replace(values, seed=int(job.seed))
        return values

    def open_scorer(self, job: EvaluationJob) -> PhysicsScorer:
        return PhysicsScorer(self.scoring_of(job))

    def extra_columns(self, job: EvaluationJob):
        return (*OBSERVER_COLUMNS, *EXTRA_COLUMNS)


PHYSICS = PhysicsObserver()
