"""The domino family (intuitive physics, Physion's flagship scenario): "Will the last
domino fall?"

A straight chain (a line) of N dominoes stands on the floor of the room. The domino at one end is
tipped just past its tipping angle and released, so it falls onto the next; the question
is whether the chain reaches the other end. MuJoCo decides the label with the shared
physics; the label must not change under the family's perturbed physics.

Why this design (measured; see the stimuli README, "Dominoes"):
- A falling domino pivots on its front edge and reaches about as far as it is tall: with
  the shared physics a pair of dominoes chains up to a gap of 1.02-1.03 x the falling
  domino's height, and in chains the answer flickers under perturbed physics for gaps from
  about 12 mm short of that height to 20 mm beyond it. So the family's difficulty is the
  **reach margin**: the largest over the links of (gap - height of the falling domino),
  in mm, and chains within `reach_margin` (15 mm) of zero are rejected before simulation.
- Every link's gap is drawn as gap / height ~ U(gap_min, short_max), within reach with
  15% to spare; in `break_chance` (half) of the chains one link, drawn at random, is drawn
  from U(long_min, long_max) instead, 15% or more beyond reach. So about half the chains
  of every size answer Yes before the quotas, without rejecting most candidates, and a
  "No" chain's break is as clear at 8 dominoes as at 3. Simulation still decides: a light
  domino can fail to topple a much heavier one within reach (a few in a thousand chains).
- The tipped domino's link starts at `first_gap_min` (0.6): from closer, it leans on the
  next domino without the speed to topple it.
- Sizes are 3-8 dominoes, i.e. 2-7 links, the same span of parts to check as towers of
  2-7 blocks; 2 dominoes would be a single link, not a chain, and with the whole chain in
  frame chains of 8 already show their dominoes only 40-57 px tall in a 448 px image.
- Heights vary by +-15% only: wider spreads let light dominoes stall against heavy ones
  and make labels less robust (measured at +-25%). Sideways offsets and yaws stay small
  enough that every falling domino meets most of the next one's face (the gaps decide,
  not misses).
- The first domino starts tipped (the "push"): its pitch is its tipping angle plus
  U(tip_min, tip_max) degrees, about its front bottom edge, which stays where the upright
  domino's front face met the floor; so a recorded scene is the whole experiment and
  `answer_by_simulation` re-runs it (contract A).
- The chain runs left-to-right or right-to-left (drawn per chain), so "the last domino" is
  not always on the same side of the image.
- The camera is fixed per size (`camera`), far enough back that the longest chain the
  sampler can draw stays inside the image with 4% to spare on every side (a test projects
  the corners of extreme chains).

One package holds everything a domino chain is: the family (this module; light), its
settings (`settings.py`) and defaults (`defaults.yaml`), the chain geometry that rows,
cards and the shortcut audit read (`geometry.py`, plain Python), the sampler
(`sampler.py`) and the judge (`judge.py`); numpy and MuJoCo are imported inside the
methods that need them. The prompt's "row of dominoes" is the study's wording; in the
code a line of dominoes is a *chain* (a "row" is a line of a set's metadata).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.stimuli.families.domino.geometry import (
    largest_gap_ratio,
    link_gaps,
    mean_spacing_ratio,
    reach_margin_mm,
)
from cubeworld.stimuli.families.domino.settings import DominoCamera, DominoSettings
from cubeworld.stimuli.family import DifficultyMeasure, ShortcutCue, StimulusFamily

PROMPT = (
    "You are now viewing a row of dominoes. The tilted domino at one end has been pushed and is "
    "falling towards the others. Will the last domino fall? "
    "Answer Yes if you think the dominoes will knock each other over all the way to the last domino "
    "at the other end of the row. "
    "Answer No if you think the chain will stop and the last domino will stay standing."
)


class DominoFamily(StimulusFamily):
    domain = "domino"
    command = "dominoes"
    description = "Rows of dominoes (intuitive physics): will the last domino fall?"
    prompt = PROMPT
    question = "Will the last domino fall?"
    sizes = (3, 4, 5, 6, 7, 8)
    label_rule = (
        "the first domino starts tipped past its tipping angle; falls = the last domino ends tilted more "
        "than fall_tilt degrees after physics.duration s; No = it ends tilted less than stand_tilt. Rows "
        "whose reach margin is within reach_margin of zero, whose first domino does not fall, that end in "
        "neither state, or whose answer changes under one of the perturbations are rejected"
    )
    difficulty = DifficultyMeasure(
        name="reach margin",
        unit="mm",
        description=(
            "the largest over the row's links of (gap to the next domino - height of the falling domino): a "
            "falling domino reaches about as far as it is tall, so a positive margin means some gap is too wide "
            "for the chain to cross (larger = more clearly 'No'), a negative one that every domino can reach "
            "the next. Gaps run along the row, from a domino's front face (the tipped domino: its front "
            "bottom edge) to the next one's back face"
        ),
    )
    stream_code = 2
    settings_type = DominoSettings
    settings_file = Path(__file__).with_name("defaults.yaml")
    strata = ("direction",)  # the card counts size x direction (+1 rightwards, -1 leftwards) x label

    def robustness_checks(self, settings: DominoSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        from cubeworld.stimuli.families.domino.sampler import sample_chain

        return sample_chain(rng, size, settings)

    def judge(self, world, scene, physics, settings):
        from cubeworld.stimuli.families.domino.judge import judge_chain

        return judge_chain(world, scene, physics, settings, self.robustness_checks(settings))

    def falls(self, world, scene, physics, settings) -> bool:
        from cubeworld.stimuli.families.domino.judge import simulate_chain

        return bool(simulate_chain(world, scene.blocks, physics)[-1] > settings.fall_tilt)

    def camera(self, size, settings):
        cam = settings.camera
        return {
            "lookat": [round(cam.lookat_shift_per_domino * size, 6), 0.0, cam.lookat_height],
            "distance": round(cam.distance_base + cam.distance_per_domino * size, 6),
            "azimuth": cam.azimuth,
            "elevation": cam.elevation,
        }

    # -- rows and cards (light) --------------------------------------------------------
    def row_columns(self, scene, outcome):
        return {"reach_margin_mm": outcome["reach_margin_mm"], "direction": scene["direction"]}

    def difficulty_of(self, row: Mapping[str, Any]) -> float | None:
        margin = row.get("reach_margin_mm", (row.get("outcome") or {}).get("reach_margin_mm"))
        if margin is None and isinstance(row.get("scene"), Mapping) and len(row["scene"].get("blocks") or ()) > 1:
            margin = reach_margin_mm(row["scene"]["blocks"])
        return None if margin is None else float(margin)

    def shortcut_cues(self) -> tuple[ShortcutCue, ...]:
        def gaps(row: Mapping[str, Any]) -> list[float]:
            return link_gaps(row["scene"]["blocks"])

        return (
            ShortcutCue("n_blocks", "the number of dominoes", lambda row: float(row["n_blocks"])),
            ShortcutCue(
                "largest_gap_mm",
                "the largest gap between neighbours, mm (heights ignored)",
                lambda row: 1000.0 * max(gaps(row)),
            ),
            ShortcutCue(
                "largest_gap_ratio",
                "the largest gap / height of the domino before it: the reach "
                "rule in one number (> 1: some domino cannot reach the next)",
                largest_gap_ratio,
            ),
            ShortcutCue(
                "mean_spacing_ratio", "the mean gap between neighbours / the mean domino height", mean_spacing_ratio
            ),
            ShortcutCue(
                "gap_outlier",
                "the largest gap / the median gap: does one gap stand out",
                lambda row: max(gaps(row)) / statistics.median(gaps(row)),
            ),
            ShortcutCue(
                "first_tilt_deg",
                "how far the first domino is tipped, degrees",
                lambda row: float(row["scene"]["blocks"][0].get("pitch", 0.0)),
            ),
            ShortcutCue(
                "row_length_mm",
                "the distance between the first and the last domino's centres, mm",
                lambda row: 1000.0 * abs(row["scene"]["blocks"][-1]["pos"][0] - row["scene"]["blocks"][0]["pos"][0]),
            ),
        )


FAMILY = DominoFamily()

__all__ = ["FAMILY", "PROMPT", "DominoCamera", "DominoFamily", "DominoSettings"]
