"""The tower family (intuitive physics): "Will the tower fall?"

One package holds everything a tower is: the family (this module: what it asks, its
sizes, card entries and shortcut cues; light, no numpy), its settings (`settings.py`)
and their defaults (`defaults.yaml`), the sampler and camera (`sampler.py`), the
analytic balance check (`balance.py`) and the judge (`judge.py`). The heavy modules are
imported inside the methods that use them, so reading `.prompt` or `.sizes` loads no
numpy or MuJoCo.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.stimuli.families.tower.cues import (
    com_lean_mm,
    image_offset_mm,
    largest_step_mm,
    largest_step_ratio,
    top_offset_mm,
)
from cubeworld.stimuli.families.tower.settings import TowerCamera, TowerSettings
from cubeworld.stimuli.family import DifficultyMeasure, ShortcutCue, StimulusFamily

PROMPT = (
    "You are now viewing a tower of blocks. Will the tower fall? "
    "Answer Yes if you think this tower is unstable and will fall. "
    "Answer No if you think this tower is stable and will not fall."
)


class TowerFamily(StimulusFamily):
    domain = "tower"
    command = "towers"
    description = "Block towers (intuitive physics): will the tower fall?"
    prompt = PROMPT
    question = "Will the tower fall?"
    sizes = (2, 3, 4, 5, 6, 7)
    label_rule = (
        "falls = at some point of a physics.duration s run some block has moved more than move_threshold x "
        "its side or tilted more than tilt_threshold degrees; rejected: towers within tip_margin of the "
        "analytic tipping point (standing towers: standing_margin), towers whose simulated label contradicts the analytic balance check, "
        "standing towers neither still (physics.rest_stop, which ends their simulations) nor at rest at the end "
        "(physics.rest_*), and towers whose label changes under one of the perturbations"
    )
    difficulty = DifficultyMeasure(
        name="stability margin",
        unit="mm",
        description=(
            "the signed analytic stability margin: at every interface, the distance from the centre of mass "
            "of the blocks above to the edge of the contact polygon (positive inside), the smallest over the "
            "interfaces; positive = the tower stands, larger = more clearly 'No'"
        ),
    )
    stream_code = 0
    settings_type = TowerSettings
    settings_file = Path(__file__).with_name("defaults.yaml")

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        from cubeworld.stimuli.core.scene import Scene
        from cubeworld.stimuli.families.tower.sampler import sample_tower

        # "red_block": None is part of generator 1.0.0's rows (towers have no red block).
        return Scene(sample_tower(rng, size, settings), {"red_block": None})

    def robustness_checks(self, settings: TowerSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    def judge(self, world, scene, physics, settings):
        return self.judge_wanted(world, scene, physics, settings, (False, True))

    def judge_wanted(self, world, scene, physics, settings, wanted):
        from cubeworld.stimuli.families.tower.judge import judge_tower

        return judge_tower(world, scene.blocks, physics, settings, self.robustness_checks(settings), wanted)

    def falls(self, world, scene, physics, settings) -> bool:
        from cubeworld.stimuli.families.tower.judge import simulate_tower

        return simulate_tower(world, scene.blocks, physics, settings).falls

    def outcome_rule(self, scene, settings):
        from cubeworld.stimuli.families.tower.judge import outcome_rule

        return outcome_rule(scene.blocks, settings)

    def camera(self, size, settings):
        from cubeworld.stimuli.families.tower.sampler import tower_camera

        return tower_camera(size, settings.camera)

    # -- rows and cards (light) --------------------------------------------------------
    def row_columns(self, scene, outcome):
        return {"margin_mm": outcome["analytic_margin_mm"]}

    def difficulty_of(self, row: Mapping[str, Any]) -> float | None:
        margin = row.get("margin_mm", (row.get("outcome") or {}).get("analytic_margin_mm"))
        return None if margin is None else float(margin)

    def shortcut_cues(self) -> tuple[ShortcutCue, ...]:
        return (
            ShortcutCue("n_blocks", "the number of blocks", lambda row: float(row["n_blocks"])),
            ShortcutCue(
                "top_offset_mm",
                "horizontal distance of the top block's centre from the bottom block's, mm",
                top_offset_mm,
            ),
            ShortcutCue(
                "image_offset_mm", "the top block's offset from the bottom block across the image, mm", image_offset_mm
            ),
            ShortcutCue(
                "com_lean_mm",
                "horizontal distance of the whole tower's centre of mass from the bottom block's centre, mm",
                com_lean_mm,
            ),
            ShortcutCue(
                "largest_step_mm",
                "the largest horizontal offset between a block and the one below, mm",
                largest_step_mm,
            ),
            ShortcutCue(
                "largest_step_ratio",
                "the largest offset between neighbours relative to the smaller of their sides",
                largest_step_ratio,
            ),
        )


FAMILY = TowerFamily()


__all__ = ["FAMILY", "PROMPT", "TowerCamera", "TowerFamily", "TowerSettings"]
