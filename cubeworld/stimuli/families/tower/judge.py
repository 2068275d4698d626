"""Judging a tower (numpy, MuJoCo): the analytic margin and the simulated label.

A tower within `tip_margin` of the analytic tipping point is rejected before simulation.
It "falls" if any block moves more than `move_threshold` of its side or tilts more than
`tilt_threshold` degrees at some check of the simulation. A tower whose simulated label
contradicts the analytic check is rejected too, so every accepted label is agreed on by
both methods, and the label is known before any simulation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cubeworld.formats.answers import answer_for
from cubeworld.stimuli.core.scene import Block, tilt_degrees
from cubeworld.stimuli.core.settings import PhysicsSettings
from cubeworld.stimuli.families.tower.balance import Balance, tower_balance
from cubeworld.stimuli.families.tower.settings import TowerSettings


@dataclass
class TowerJudgement:
    accepted: bool
    reason: str  # "" when accepted, else the rejection reason
    falls: bool | None
    balance: Balance
    outcome: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TowerSimulation:
    """One simulated tower: per block displacement, tilt and whether it fell."""

    sim: Any  # engine.SimResult
    displacement: np.ndarray  # final, m
    tilt: np.ndarray  # final, degrees
    fell: np.ndarray  # bool per block: past a fall threshold at some check of the simulation

    @property
    def falls(self) -> bool:
        return bool(self.fell.any())


def fall_limits(blocks: list[Block], cfg: TowerSettings) -> np.ndarray:
    """Per block, the displacement (m) past which it has fallen: `move_threshold` x its side."""
    return cfg.move_threshold * np.array([b.size[2] for b in blocks])


def fall_rule(blocks: list[Block], cfg: TowerSettings):
    """The stop rule of the outcome rule: has some block moved more than `move_threshold` of
    its side or tilted more than `tilt_threshold` degrees? (move, tilt per block -> bool)"""
    limits = fall_limits(blocks, cfg)

    def fallen(move: np.ndarray, tilt: np.ndarray) -> bool:
        return bool(((move > limits) | (tilt > cfg.tilt_threshold)).any())

    return fallen


def outcome_rule(blocks: list[Block], cfg: TowerSettings):
    """The outcome rule as a batch of copies applies it (`engine.batch.OutcomeRule`): nothing
    removed, stopped at a fall, Yes if a block fell at some check."""
    from cubeworld.stimuli.engine.batch import OutcomeRule

    fallen = fall_rule(blocks, cfg)
    return OutcomeRule((), fallen, lambda sim: fallen(sim.peak_move, sim.peak_tilt))


def simulate_tower(
    world, blocks: list[Block], physics: PhysicsSettings, cfg: TowerSettings, rest=None
) -> TowerSimulation:
    """The outcome rule: a block fell if, at any check of a `physics.duration` s simulation, it had
    moved more than `move_threshold` of its side or tilted more than `tilt_threshold`
    degrees. The simulation stops at the first such check (a fall cannot be undone) or, given
    `rest`, once every block is still by that rule (after which nothing falls: `sim.rested`);
    otherwise it covers the full duration."""
    limits = fall_limits(blocks, cfg)
    sim = world.simulate(blocks, physics, stop=fall_rule(blocks, cfg), rest=rest)
    fell = (sim.peak_move > limits) | (sim.peak_tilt > cfg.tilt_threshold)
    return TowerSimulation(sim, sim.displacement, tilt_degrees(sim.quat), fell)


def judge_tower(
    world,
    blocks: list[Block],
    physics: PhysicsSettings,
    cfg: TowerSettings,
    checks: tuple = (),
    wanted: tuple[bool, ...] = (False, True),
) -> TowerJudgement:
    """Label a tower, rejecting near-tipping, perturbation-sensitive, disputed and restless
    towers, cheapest test first.

    The label is the analytic balance check's (falls = the centre of mass above some
    interface is outside its contact), and the simulation must agree with it, so it is known
    before any simulation: a label not in `wanted` stops there ("unwanted", no simulation),
    and every judgement carries it in `falls`. A standing tower meets its robustness checks
    first: under them a sensitive tower falls, and the simulation stops at the fall (7-block
    towers: 37 of 68 standing ones fall under softer contacts with the elliptic cone), so
    it never pays for its simulation under the set's physics. A standing tower's simulations
    all end once it is still (`physics.rest_stop`; generator 3.2.0): "does it fall?" is then
    the only open question, and a still tower passes the rest test; one still moving goes on to
    the horizon and meets the rest test over its last second. A falling tower's simulation ends
    at the fall."""
    bal = tower_balance(blocks)
    if abs(bal.margin) < cfg.tip_margin or 0 < bal.margin < cfg.standing_margin[len(blocks)]:
        return TowerJudgement(False, "near_tipping", None, bal)
    label = not bal.stable
    outcome: dict[str, Any] = {
        "falls": label,
        "analytic_margin_mm": round(bal.margin * 1000.0, 3),
        "interface_margins_mm": [round(m * 1000.0, 3) for m in bal.interface_margins],
    }
    if label not in wanted:
        return TowerJudgement(False, "unwanted", label, bal, outcome)
    answers: list[str] = []  # answers under the robustness checks, in their order

    def checked() -> bool:
        """Whether the tower keeps its label under every check (stops at the first change)."""
        for change in checks:
            changed = physics.perturbed(change)
            other = simulate_tower(world, blocks, changed, cfg, changed.rest_stop).falls
            answers.append(answer_for(other))
            if other != label:
                return False
        return True

    if not label and not checked():
        return TowerJudgement(False, "perturbation_sensitive", label, bal, {**outcome, "perturbation_labels": answers})
    simulated = simulate_tower(world, blocks, physics, cfg, None if label else physics.rest_stop)
    sim, disp, tilt, fell = simulated.sim, simulated.displacement, simulated.tilt, simulated.fell
    falls = simulated.falls
    outcome.update(
        {
            "falls": falls,
            "displacement": [round(float(v), 6) for v in disp],
            "tilt_deg": [round(float(v), 4) for v in tilt],
            "fell_blocks": [int(i) for i in np.flatnonzero(fell)],
            "final_pos": [[round(float(v), 6) for v in p] for p in sim.pos],
            "final_quat": [[round(float(v), 6) for v in q] for q in sim.quat],
            "simulated_s": round(sim.steps * physics.timestep, 4),
            # the rest test's measures (a standing tower's last second); None when it fell or
            # ended still (`rested`: every block under physics.rest_stop's floors, 3.2.0)
            "rest_move_mm": None if falls or sim.rested else round(float(sim.window_move.max()) * 1000.0, 4),
            "rest_tilt_deg": None if falls or sim.rested else round(float(sim.window_tilt.max()), 4),
            "rested": sim.rested,
            "perturbation_labels": answers,
        }
    )
    if falls != label:
        return TowerJudgement(False, "simulation_disagrees", label, bal, outcome)
    if not falls and not (sim.rested or sim.at_rest(physics)):
        return TowerJudgement(False, "not_at_rest", label, bal, outcome)
    if label and not checked():
        return TowerJudgement(False, "perturbation_sensitive", label, bal, outcome)
    return TowerJudgement(True, "", label, bal, outcome)
