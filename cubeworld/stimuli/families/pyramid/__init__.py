"""The pyramid family (causal reasoning): "If the red block was not there, would any other
blocks fall?"

One package holds everything a pyramid is: the family (this module; light, no numpy), its
settings (`settings.py`) and defaults (`defaults.yaml`), the sampler and camera
(`sampler.py`), the counterfactual judge (`judge.py`) and the pure-Python geometry that
rows, the difficulty and the shortcut cues read (`geometry.py`). A pyramid's horizontal
layers are its *tiers*; the stored names (`red_row`, the scene's `rows`, `row_of`,
`row_leans`) keep generator 2.0.0's bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.stimuli.families.pyramid.geometry import (
    centre_over_red,
    one_step,
    red_interior,
    red_position,
    resting_on_red,
    support_margin_mm,
)
from cubeworld.stimuli.families.pyramid.settings import TIERS_FOR_SIZE, PyramidCamera, PyramidSettings
from cubeworld.stimuli.family import DifficultyMeasure, ShortcutCue, StimulusFamily

PROMPT = (
    "You are now viewing a pyramid of blocks. If the red block was not there, "
    "would any other blocks fall? "
    "Answer Yes if you think that other blocks would fall if the red block was not there. "
    "Answer No if you think that no other blocks would fall if the red block was not there."
)


class PyramidFamily(StimulusFamily):
    domain = "pyramid"
    command = "pyramids"
    description = "Block pyramids (causal reasoning): without the red block, would others fall?"
    prompt = PROMPT
    question = "If the red block was not there, would any other blocks fall?"
    sizes = (3, 6, 10, 15)
    label_rule = (
        "falls = with the red block removed, at some point of a physics.duration s run some other block has "
        "moved more than yes_move or tilted more than yes_tilt; No = no other block ever moves more than "
        "no_move nor tilts more than no_tilt, and all are at rest at the end (physics.rest_*); rejected: "
        "pyramids that move without the removal, give neither clean answer, or (Yes) stop falling under one "
        "of the perturbations"
    )
    difficulty = DifficultyMeasure(
        name="support margin",
        unit="mm",
        description=(
            "with the red block removed, for each block that rested on it: the signed horizontal distance "
            "from its centre to the nearest edge of the support it has left (positive = its centre is over "
            "a remaining supporter); the smallest over those blocks. The block's own weight only, not the "
            "load it carries. Larger = more clearly 'No'"
        ),
    )
    stream_code = 1
    settings_type = PyramidSettings
    settings_file = Path(__file__).with_name("defaults.yaml")
    strata = ("red_row",)  # the card counts size x red block's tier x label
    quota_stratum = "red_row"  # ... and every tier below the top gets an equal quota per size
    controlled_sampling = True  # a cue-controlled set draws steered leans (`sampler.sample_pyramid`)
    # ... and balances end vs interior red blocks per answer per tier: `control` in defaults.yaml
    control_reading_targets = {"one_step": 1 / 3}  # the one-step reading wrong on a third of the items

    def robustness_checks(self, settings: PyramidSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    def stratum_values(self, size: int, settings: PyramidSettings) -> tuple[int, ...]:
        return tuple(range(TIERS_FOR_SIZE[size] - 1))  # every tier but the top one

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        return self.sample_in_stratum(rng, size, settings, None)

    def sample_in_stratum(self, rng, size, settings, value, controlled=False):
        from cubeworld.stimuli.core.scene import Scene
        from cubeworld.stimuli.families.pyramid.sampler import sample_pyramid

        pyr = sample_pyramid(rng, size, settings, red_tier=value, steer=controlled)
        keys = {
            "red_block": pyr.red,
            "red_row": pyr.red_tier,
            "rows": pyr.tiers,
            "row_of": pyr.tier_of,
            "row_leans": pyr.leans,
            "bridging": pyr.bridges,
        }
        return Scene(pyr.blocks, keys)

    def judge(self, world, scene, physics, settings):
        return self.judge_wanted(world, scene, physics, settings, (False, True))

    def judge_wanted(self, world, scene, physics, settings, wanted):
        from cubeworld.stimuli.families.pyramid.judge import judge_pyramid

        return judge_pyramid(world, _pyramid(scene), physics, settings, self.robustness_checks(settings), wanted)

    def falls(self, world, scene, physics, settings) -> bool:
        from cubeworld.stimuli.families.pyramid.judge import removal_falls

        return removal_falls(world, _pyramid(scene), physics, settings)

    def outcome_rule(self, scene, settings):
        from cubeworld.stimuli.families.pyramid.judge import outcome_rule

        return outcome_rule(_pyramid(scene), settings)

    def camera(self, size, settings):
        from cubeworld.stimuli.families.pyramid.sampler import pyramid_camera

        return pyramid_camera(size, settings.camera)

    # -- rows and cards (light) --------------------------------------------------------
    def row_columns(self, scene, outcome):
        return {"red_block": scene["red_block"], "red_row": scene["red_row"]}

    def difficulty_of(self, row: Mapping[str, Any]) -> float | None:
        scene = row.get("scene")
        if not isinstance(scene, Mapping) or scene.get("red_block") is None:
            return None
        return support_margin_mm(scene["blocks"], int(scene["red_block"]))

    def shortcut_cues(self) -> tuple[ShortcutCue, ...]:
        return (
            ShortcutCue(
                "red_row", "the red block's tier (0 = bottom)", lambda row: float(row["scene"]["red_row"]), "category"
            ),
            ShortcutCue("red_position", "the red block's place in its tier (0 = left end)", red_position, "category"),
            ShortcutCue("red_interior", "1 if the red block has neighbours on both sides in its tier", red_interior),
            ShortcutCue(
                "centre_over_red",
                "1 if a block in the tier directly above has its centre over the red block, else 0",
                centre_over_red,
                says_yes_above=0.5,
            ),
            ShortcutCue("resting_on_red", "the number of blocks resting on the red block", resting_on_red),
            ShortcutCue(
                "one_step",
                "1 if a block resting on the red block has its centre off its other support (so it would fall)",
                one_step,
                says_yes_above=0.5,
            ),
        )


def _pyramid(scene):
    """The sampler's `Pyramid` back from a `Scene` (the judge and the outcome rule take it)."""
    from cubeworld.stimuli.errors import StimuliError
    from cubeworld.stimuli.families.pyramid.sampler import Pyramid

    k = scene.keys
    red = k.get("red_block")
    if isinstance(red, bool) or not isinstance(red, int) or not 0 <= red < len(scene.blocks):
        raise StimuliError(f"a pyramid scene names its red block by index ('red_block'), got {red!r}")
    return Pyramid(
        blocks=scene.blocks,
        tiers=k.get("rows", 0),
        tier_of=k.get("row_of", []),
        red=red,
        leans=k.get("row_leans", []),
        bridges=list(k.get("bridging", [])),
    )


FAMILY = PyramidFamily()


__all__ = ["FAMILY", "PROMPT", "PyramidCamera", "PyramidFamily", "PyramidSettings"]
