"""The physics observer kind: a noisy-Newton intuitive physics engine, no training.

Each stimulus's recorded scene is re-simulated `n_simulations` times with perceptual
noise (`cubeworld.observers.noisy_newton`, after Battaglia, Hamrick & Tenenbaum 2013);
P(Yes) is the share of simulations answering Yes under the family's own rule (or a
decision at `threshold`, mixed with a `lapse`: `noisy_newton.decide`), the answer Yes when
P(Yes) >= 0.5. Every setting is recorded in each row (`PROVENANCE`), and on the command line
a non-default set of settings names the observer (`physics[position_noise=0.15]`), so two
parameter sets are two observers in one table and in the report. Photos (sets without a recorded scene, such as Lerer100) are
skipped with a one-line reason. Its settings (`scoring:`) are `PhysicsScoring`'s fields.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cubeworld.formats.predictions import OBSERVER_COLUMNS
from cubeworld.formats.tables import Answer, Emit, Item
from cubeworld.observers.base import EvaluationJob, ObserverError, ObserverKind, ObserverSettingError, Settings
from cubeworld.observers.noisy_newton import PhysicsScoring, decide, simulate_items

SOURCE = "mujoco"
# The settings each row records (its provenance): what the answer depends on.
PROVENANCE = (
    "n_simulations",
    "position_noise",
    "size_noise",
    "push_noise",
    "threshold",
    "lapse",
    "stop_at_rest",
    "physics_overrides",
)
EXTRA_COLUMNS = PROVENANCE
# Scoring settings added after studies had been run with this observer (see `effective`).
ADDED_LATER = ("push_noise", "threshold", "lapse", "stop_at_rest")
# Settings that do not change what the observer answers (left out of its name).
NOT_IN_NAME = ("seed", "workers", "max_redraws")


def provenance(settings: PhysicsScoring) -> dict[str, Any]:
    """The row columns recording `settings` (empty threshold = probability matching)."""
    import json

    cols: dict[str, Any] = {k: getattr(settings, k) for k in PROVENANCE[:-1]}
    cols["threshold"] = "" if settings.threshold is None else settings.threshold
    cols["physics_overrides"] = json.dumps(dict(settings.physics), sort_keys=True) if settings.physics else ""
    return cols


def observer_name(base: str, given: Mapping[str, Any]) -> str:
    """`physics` with the given settings that change its answers: `physics[lapse=0.05,position_noise=0.15]`."""
    shown = {k: v for k, v in sorted(given.items()) if k not in NOT_IN_NAME and v is not None}
    if not shown:
        return base
    return base + "[" + ",".join(f"{k}={v}" for k, v in shown.items()) + "]"


class PhysicsScorer:
    """The simulator as the table loop uses it: one Yes count per item, written as it comes."""

    def __init__(self, settings: PhysicsScoring):
        self.scoring = settings
        self.settings: dict[str, Any] = {}
        self.columns = {"p_other": 0.0, **provenance(settings)}

    def score(self, items: Sequence[Item], emit: Emit) -> None:
        n = self.scoring.n_simulations

        def done(i: int, yes: int) -> None:
            s, row = items[i]
            emit([(s, row, Answer(decide(yes / n, self.scoring.threshold, self.scoring.lapse)))])

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

    def label(self, model: str, scoring: Mapping[str, Any]) -> str:
        return observer_name(model, scoring)

    def open_scorer(self, job: EvaluationJob) -> PhysicsScorer:
        return PhysicsScorer(self.scoring_of(job))

    def extra_columns(self, job: EvaluationJob):
        return (*OBSERVER_COLUMNS, *EXTRA_COLUMNS)


PHYSICS = PhysicsObserver()
