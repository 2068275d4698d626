"""Judging a domino chain (MuJoCo): the simulated label, where a "No" chain stops, and
the robustness checks every kept label must survive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.core.scene import tilt_degrees
from cubeworld.stimuli.families.domino.geometry import critical_margin, reach_margin_mm
from cubeworld.stimuli.families.domino.settings import DominoSettings


@dataclass
class DominoJudgement:
    accepted: bool
    reason: str  # "" when accepted
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


def simulate_chain(world, blocks, physics, fall_tilt: float):
    """Tilt of every domino (degrees from upright) at the end of one simulation: the full
    horizon, or the first check at which the last domino has fallen (it stays fallen, so
    the answer cannot change any more; every "No" runs the full horizon)."""
    result = world.simulate(blocks, physics, stop=lambda move, tilt: bool(tilt[-1] > fall_tilt))
    return tilt_degrees(result.quat)


def classify(tilt, cfg: DominoSettings) -> str:
    """'Yes' (the last domino fell), 'No' (it stands), else 'ambiguous'. The first domino is
    the push: it starts past its tipping angle with nothing within its reach, so it always
    falls, onto the next domino or the floor."""
    if tilt[-1] > cfg.fall_tilt:
        return "Yes"
    return "No" if tilt[-1] < cfg.stand_tilt else "ambiguous"


def stop_index(tilt, cfg: DominoSettings) -> int:
    """Where a "No" chain stopped: the first domino after the pushed one that is left
    standing (tilted less than stand_tilt); the one before it may lean on it."""
    return next(i for i, v in enumerate(tilt) if i > 0 and v < cfg.stand_tilt)


def judge_chain(
    world,
    scene,
    physics,
    cfg: DominoSettings,
    checks: Sequence[Mapping[str, Any]],
    wanted: tuple[bool, ...] = (False, True),
) -> DominoJudgement:
    """Label by simulation; a "No" must stop at the critical domino (its cause is then the
    reason it stopped); keep a label only if every perturbed simulation gives it too. A label
    not `wanted` stops the judging once known (`StimulusFamily.judge_wanted`)."""
    records = [b.to_record() for b in scene.blocks]
    cause, critical = scene.keys["cause"], int(scene.keys["critical"])
    flip = cfg.cause_range(cause).flip
    outcome: dict[str, Any] = {
        "cause": cause,
        "critical": critical,
        "critical_margin": critical_margin(records, cause, critical, flip),
        "reach_margin_mm": reach_margin_mm(records),
    }
    tilt = simulate_chain(world, scene.blocks, physics, cfg.fall_tilt)
    label = classify(tilt, cfg)
    outcome.update(
        {
            "falls": label == "Yes",
            "tilt_deg": [round(float(v), 4) for v in tilt],
            "fell_blocks": [i for i, v in enumerate(tilt) if v > cfg.fall_tilt],  # at the end (a Yes: the stop)
            "perturbation_labels": [],
        }
    )
    if label not in ("Yes", "No"):
        return DominoJudgement(False, label, None, outcome)
    falls = label == "Yes"
    if label == "No":
        outcome["stopped_at"] = stop_index(tilt, cfg)
        if outcome["stopped_at"] != critical:  # it stopped for another reason than its cause
            return DominoJudgement(False, "stopped_elsewhere", falls, outcome)
    if falls not in wanted:
        return DominoJudgement(False, "unwanted", falls, outcome)
    for change in checks:
        other = classify(simulate_chain(world, scene.blocks, physics.perturbed(change), cfg.fall_tilt), cfg)
        outcome["perturbation_labels"].append(other)
        if other != label:
            return DominoJudgement(False, "perturbation_sensitive", falls, outcome)
    return DominoJudgement(True, "", falls, outcome)
