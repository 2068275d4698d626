"""Judging a pyramid (MuJoCo): the counterfactual label and the stability checks.

The label "falls" (answer Yes) comes from taking the red block out of the settled pyramid
(it first stands `settle` seconds with every block) and simulating the full horizon from
there. Every movement is measured from the settled state, so a "No" limit of 0.1 mm
measures what the removal does, not the contacts' first transient (stacked blocks sink
and spring back by up to 0.24 mm in the first 10-20 ms, which generator 2.0.0's checks
every 50 ms saw or missed by chance). A label is kept only when it is clean (Yes: some other block moves more than
`yes_move` or tilts more than `yes_tilt` at some point of the simulation; No: no other
block ever moves more than `no_move` nor tilts more than `no_tilt`, and all are at rest at
the end), a "Yes" still falls under every perturbed-physics check, and the full pyramid
stands (never more than `stable_move` / `stable_tilt`, at rest at the end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cubeworld.stimuli.core.scene import tilt_degrees
from cubeworld.stimuli.core.settings import PhysicsSettings
from cubeworld.stimuli.families.pyramid.sampler import Pyramid
from cubeworld.stimuli.families.pyramid.settings import PyramidSettings


@dataclass
class PyramidJudgement:
    accepted: bool
    reason: str
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


def _others(pyr: Pyramid) -> np.ndarray:
    return np.array([i for i in range(len(pyr.blocks)) if i != pyr.red])


def _moved_past(pyr: Pyramid, move_limit: float, tilt_limit: float):
    """Has another block than the red one moved more than `move_limit` or tilted more than
    `tilt_limit`? (move, tilt per block -> bool)"""
    others = _others(pyr)

    def past(move: np.ndarray, tilt: np.ndarray) -> bool:
        return bool((move[others] > move_limit).any() or (tilt[others] > tilt_limit).any())

    return past


def removal_rule(pyr: Pyramid, cfg: PyramidSettings):
    """The stop rule of the counterfactual: another block past `yes_move` / `yes_tilt`."""
    return _moved_past(pyr, cfg.yes_move, cfg.yes_tilt)


def outcome_rule(pyr: Pyramid, cfg: PyramidSettings):
    """The outcome rule as a batch of copies applies it (`engine.batch.OutcomeRule`): the red
    block removed, stopped once another block has fallen, Yes if one fell at some check
    (what `removal_falls` answers)."""
    from cubeworld.stimuli.engine.batch import OutcomeRule

    fallen = removal_rule(pyr, cfg)
    return OutcomeRule((pyr.red,), fallen, lambda sim: fallen(sim.peak_move, sim.peak_tilt), settle=cfg.settle)


def not_clean_no(pyr: Pyramid, cfg: PyramidSettings):
    """Another block past `no_move` / `no_tilt` (peaks): the removal can only be "Yes" or ambiguous."""
    return _moved_past(pyr, cfg.no_move, cfg.no_tilt)


def _removal_run(world, pyr: Pyramid, physics: PhysicsSettings, cfg: PyramidSettings, rest=None, rest_if=None):
    """The counterfactual simulation: the red block taken out, stopped once a block has fallen
    (past `yes_move` / `yes_tilt`: the answer is Yes whatever happens next), or by `rest`."""
    return world.simulate(
        pyr.blocks,
        physics,
        removed=(pyr.red,),
        stop=removal_rule(pyr, cfg),
        settle=cfg.settle,
        rest=rest,
        rest_if=rest_if,
    )


def _classify(sim, others: np.ndarray, physics: PhysicsSettings, cfg: PyramidSettings) -> str:
    d, t = sim.peak_move[others], sim.peak_tilt[others]
    if (d > cfg.yes_move).any() or (t > cfg.yes_tilt).any():
        return "Yes"
    if (d < cfg.no_move).all() and (t < cfg.no_tilt).all() and sim.at_rest(physics, others):
        return "No"
    return "ambiguous"


def removal_falls(world, pyr: Pyramid, physics: PhysicsSettings, cfg: PyramidSettings, rest=None) -> bool:
    """The outcome rule, once: with the red block removed, does another block move more than
    `yes_move` or tilt more than `yes_tilt` at some point of the simulation? (`rest`: a
    robustness simulation, ended once every block is still.)"""
    sim = _removal_run(world, pyr, physics, cfg, rest)
    return removal_rule(pyr, cfg)(sim.peak_move, sim.peak_tilt)


def judge_pyramid(
    world,
    pyr: Pyramid,
    physics: PhysicsSettings,
    cfg: PyramidSettings,
    checks: Sequence[dict] = (),
    wanted: Sequence[bool] = (False, True),
) -> PyramidJudgement:
    """Label the counterfactual, then check that the full pyramid stands and that the label
    survives each physics change in `checks` (the family's `robustness_checks`).

    The cheap, deciding simulation comes first: the removal labels (or rejects as ambiguous)
    the candidate; a label not in `wanted` stops there ("unwanted"); only a wanted label
    pays for the full-pyramid simulation and the robustness simulations. Every judgement that knows the
    label carries it (`falls`), rejected or not."""
    others = _others(pyr)
    # Once a block has moved past the "No" limit the candidate is "Yes" or rejected as
    # ambiguous; if it then comes to rest nothing will fall, so the simulation ends there (an
    # ambiguous candidate no longer pays for the full horizon; nothing of it is recorded).
    sim = _removal_run(world, pyr, physics, cfg, physics.rest_stop, not_clean_no(pyr, cfg))
    label = _classify(sim, others, physics, cfg)
    fell = [int(i) for i in others if sim.peak_move[i] > cfg.yes_move or sim.peak_tilt[i] > cfg.yes_tilt]
    disp = sim.displacement
    tilt = tilt_degrees(sim.quat)
    outcome: dict[str, Any] = {
        "falls": label == "Yes",
        "fell_blocks": fell,
        "displacement": [round(float(v), 6) if i != pyr.red else None for i, v in enumerate(disp)],
        "tilt_deg": [round(float(v), 4) if i != pyr.red else None for i, v in enumerate(tilt)],
        "simulated_s": round(sim.steps * physics.timestep, 4),
        "max_move_mm": round(float(sim.peak_move[others].max()) * 1000, 4),  # largest of any other block
        "max_tilt_deg": round(float(sim.peak_tilt[others].max()), 4),
    }
    if label == "ambiguous":
        return PyramidJudgement(False, "ambiguous", None, outcome)
    falls = label == "Yes"
    if falls not in wanted:
        return PyramidJudgement(False, "unwanted", falls, outcome)

    def unstable(move: np.ndarray, tilt: np.ndarray) -> bool:
        return bool((move > cfg.stable_move).any() or (tilt > cfg.stable_tilt).any())

    # A standing pyramid is still within a few tenths of a second; once it is (`stand_rest`,
    # too slow to reach the limits within the horizon) the rest of the horizon is not simulated.
    full = world.simulate(pyr.blocks, physics, stop=unstable, settle=cfg.settle, rest=cfg.stand_rest)
    settled = full.settle_move if full.settle_move is not None else np.zeros(len(pyr.blocks))
    outcome["settle_move_mm"] = round(float(settled.max()) * 1000, 4)
    outcome["full_max_move_mm"] = round(float(full.peak_move.max()) * 1000, 4)
    outcome["full_max_tilt_deg"] = round(float(full.peak_tilt.max()), 4)
    if (
        full.stopped_early
        or unstable(full.peak_move, full.peak_tilt)
        or (settled > cfg.stable_move).any()
        or not (full.rested or full.at_rest(physics))
    ):
        return PyramidJudgement(False, "unstable_full", falls, outcome)
    outcome["perturbation_labels"] = []
    # The checks ask the outcome rule (does a block fall?) under each change. A "No" needs no
    # check: with nothing moving 0.1 mm and every block at rest, none of 93 "No" pyramids fell
    # under any of the 8 documented perturbations; "Yes" pyramids whose falling blocks jam
    # under more friction are what the checks catch (17 and 25 of 136 before them).
    for change in checks if falls else ():
        changed = physics.perturbed(change)
        other = removal_falls(world, pyr, changed, cfg, changed.rest_stop)
        outcome["perturbation_labels"].append("Yes" if other else "No")
        if other != falls:
            return PyramidJudgement(False, "perturbation_sensitive", falls, outcome)
    return PyramidJudgement(True, "", falls, outcome)
