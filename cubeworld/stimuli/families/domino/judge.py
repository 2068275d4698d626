"""Judging a domino chain (MuJoCo): reach-margin rejection, the simulated label, and the
robustness checks every kept label must survive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cubeworld.stimuli.core.scene import tilt_degrees
from cubeworld.stimuli.families.domino.geometry import link_margins_m, reach_margin_mm
from cubeworld.stimuli.families.domino.settings import DominoSettings


@dataclass
class DominoJudgement:
    accepted: bool
    reason: str  # "" when accepted
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


def simulate_chain(world, blocks, physics):
    """Final tilt of every domino (degrees from upright) after one simulation."""
    return tilt_degrees(world.simulate(blocks, physics).quat)


def _classify(tilt, cfg: DominoSettings) -> str:
    """'Yes' (first and last fell), 'No' (first fell, last stands), else 'ambiguous'."""
    if tilt[0] <= cfg.fall_tilt:
        return "first_stands"
    if tilt[-1] > cfg.fall_tilt:
        return "Yes"
    return "No" if tilt[-1] < cfg.stand_tilt else "ambiguous"


def judge_chain(world, scene, physics, cfg: DominoSettings, checks: Sequence[Mapping[str, Any]]) -> DominoJudgement:
    """Reject chains near the reach limit, label by simulation, keep a label only if every
    perturbed simulation gives it too."""
    records = [b.to_record() for b in scene.blocks]
    links = link_margins_m(records)
    margin = reach_margin_mm(records)
    outcome: dict[str, Any] = {"reach_margin_mm": margin, "link_margins_mm": [round(1000.0 * m, 3) for m in links]}
    if abs(margin) < 1000.0 * cfg.reach_margin:
        return DominoJudgement(False, "near_reach", None, outcome)
    tilt = simulate_chain(world, scene.blocks, physics)
    label = _classify(tilt, cfg)
    outcome.update(
        {
            "falls": label == "Yes",
            "tilt_deg": [round(float(v), 4) for v in tilt],
            "fell_blocks": [i for i, v in enumerate(tilt) if v > cfg.fall_tilt],
            "perturbation_labels": [],
        }
    )
    if label not in ("Yes", "No"):
        return DominoJudgement(False, label, None, outcome)
    for change in checks:
        other = _classify(simulate_chain(world, scene.blocks, physics.perturbed(change)), cfg)
        outcome["perturbation_labels"].append(other)
        if other != label:
            return DominoJudgement(False, "perturbation_sensitive", None, outcome)
    return DominoJudgement(True, "", label == "Yes", outcome)
