"""The domino family (intuitive physics, Physion's flagship scenario): "Will the last
domino fall?"

A chain (a line) of N dominoes stands on the floor of the room. The domino at one end is
tipped just past its tipping angle and released, so it falls onto the next; the question
is whether the chain reaches the other end. MuJoCo decides the label with the shared
physics; the label must not change under any of the documented perturbed physics.

Why this design (generator 3.0.0; measured, see the stimuli README, "Dominoes"):
- Generator 2.0.0 drew every chain's gaps within reach but one, which half the chains drew
  beyond it: the largest gap / height of the domino before it then decided 360 of 360 labels
  (issue 19). Spacing is one reason a chain stops, not the only one. Now every chain has
  one **cause** (`spacing`, `offset`, `size`, `thickness`; the quota stratum, equal
  counts per size, each half Yes and half No) and one **critical domino**; the
  critical element's value is drawn across the point where the answer flips, and the
  rest of the chain is an ordinary chain well within reach. So a "No" chain stops because
  a gap is too wide, because the row steps sideways past the falling domino's face,
  because the next domino is much bigger, or because it is a slab too heavy to tip; a
  "Yes" chain shows the same kind of element, survived. A "No" must stop exactly at the
  critical domino (else rejected: `stopped_elsewhere`), so the recorded cause is why it
  stopped.
- Spacing alone no longer decides: its cue scores about 1/2 + 1/8 (it decides the spacing
  quarter, nothing in the others); each cause has its own cue, which decides only its
  quarter too. A model must find the chain's critical element and judge it.
- Every kept label holds under every perturbation of the documented list
  (`perturbations.yaml`'s eight changes) and under softer contacts with the elliptic cone
  at once (which flipped chains that passed each alone), checked at generation
  (`robustness_checks`).
- The first domino starts tipped (the "push"): its pitch is its tipping angle plus
  U(tip_min, tip_max) degrees, about its front bottom edge, which stays where the upright
  domino's front face met the floor; so a recorded scene is the whole experiment and
  `answer_by_simulation` re-runs it (contract A). The sampler rounds the scene to what its
  row records before judging, so the judged scene is the recorded one.
- Sizes are 3-8 dominoes, i.e. 2-7 links, the same span of parts to check as towers of
  2-7 blocks.
- The chain runs left-to-right or right-to-left (drawn per chain), so "the last domino" is
  not always on the same side of the image.
- The camera is fixed per size (`camera`), far enough back that the chains the sampler
  draws stay inside the image (the frame check rejects the rare one that does not).

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
    critical_margin,
    gap_ratios,
    largest_gap_ratio,
    link_gaps,
    mean_spacing_ratio,
    size_ratios,
    step_ratios,
    thickness_ratios,
)
from cubeworld.stimuli.families.domino.settings import (
    CAUSES,
    CauseRange,
    ControlWindow,
    DominoCamera,
    DominoSettings,
)
from cubeworld.stimuli.family import DifficultyMeasure, ShortcutCue, StimulusFamily, StratumQuota

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
        "the first domino starts tipped past its tipping angle; falls = the last domino is tilted more than "
        "fall_tilt degrees at some check of a physics.duration s simulation; No = it ends tilted less than "
        "stand_tilt. Each chain has one cause (spacing, offset, size or thickness) and one critical domino; "
        "rows that end in neither state, whose 'No' stops at another domino than the critical one, or whose "
        "answer changes under one of the perturbations are rejected"
    )
    difficulty = DifficultyMeasure(
        name="critical margin",
        unit="fraction of the flip point",
        description=(
            "the chain's critical element against the value at which the answer flips: value / flip - 1, "
            "positive on the 'No' side (larger = more clearly 'No'). spacing: the critical gap / height of the "
            "domino falling across it (flip 1: a domino reaches about as far as it is tall); offset: the "
            "row's sideways step / half the two widths' sum (flip 1: the falling face misses); size: the "
            "critical domino's height / the one's before it; thickness: the critical domino's thickness / "
            "height (size and thickness flips measured with the shared physics)"
        ),
    )
    stream_code = 2
    settings_type = DominoSettings
    settings_file = Path(__file__).with_name("defaults.yaml")
    # the card counts size x cause x label (the quota: equal causes, each half Yes) and size x
    # direction (+1 rightwards, -1 leftwards) x label
    strata = ("cause", "direction")
    quota_stratum = "cause"
    # a cue-controlled set draws each cause's critical value in a narrow window around its flip,
    # with the causes weighted (`ControlWindow`), and balances the cues of `control` in bins
    controlled_sampling = True

    def robustness_checks(self, settings: DominoSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    def stratum_values(self, size: int, settings: DominoSettings) -> tuple[str, ...]:
        return tuple(settings.causes)

    def stratum_quota(self, size: int, settings: DominoSettings, controlled: bool = False) -> StratumQuota | None:
        """The causes, equal by default; in a cue-controlled set weighted by their windows' shares."""
        if not controlled or not settings.control_windows:
            return super().stratum_quota(size, settings, controlled)
        causes = tuple(settings.causes)
        return StratumQuota("cause", causes, tuple(settings.control_windows[c].share for c in causes))

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        """A chain of a cause drawn at random (the pipeline draws `sample_in_stratum`)."""
        return self.sample_in_stratum(rng, size, settings, settings.causes[int(rng.integers(len(settings.causes)))])

    def sample_in_stratum(self, rng, size, settings, value, controlled=False):
        from cubeworld.stimuli.families.domino.sampler import sample_chain

        return sample_chain(rng, size, settings, value, controlled and bool(settings.control_windows))

    def judge(self, world, scene, physics, settings):
        return self.judge_wanted(world, scene, physics, settings, (False, True))

    def judge_wanted(self, world, scene, physics, settings, wanted):
        from cubeworld.stimuli.families.domino.judge import judge_chain

        return judge_chain(world, scene, physics, settings, self.robustness_checks(settings), wanted)

    def falls(self, world, scene, physics, settings) -> bool:
        from cubeworld.stimuli.families.domino.judge import simulate_chain

        return bool(simulate_chain(world, scene.blocks, physics, settings.fall_tilt)[-1] > settings.fall_tilt)

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
        return {
            "cause": scene["cause"],
            "critical": scene["critical"],
            "critical_margin": outcome["critical_margin"],
            "direction": scene["direction"],
        }

    def difficulty_of(self, row: Mapping[str, Any]) -> float | None:
        margin = row.get("critical_margin", (row.get("outcome") or {}).get("critical_margin"))
        scene = row.get("scene")
        if margin is None and isinstance(scene, Mapping) and scene.get("cause") in CAUSES:
            flip = self.default_settings().cause_range(scene["cause"]).flip
            margin = critical_margin(scene["blocks"], scene["cause"], int(scene["critical"]), flip)
        return None if margin is None else float(margin)

    def shortcut_cues(self) -> tuple[ShortcutCue, ...]:
        def blocks(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
            return row["scene"]["blocks"]

        return (
            ShortcutCue("n_blocks", "the number of dominoes", lambda row: float(row["n_blocks"])),
            ShortcutCue(
                "largest_gap_mm",
                "the largest gap between neighbours, mm (heights ignored)",
                lambda row: 1000.0 * max(link_gaps(blocks(row))),
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
                lambda row: max(link_gaps(blocks(row))) / statistics.median(link_gaps(blocks(row))),
            ),
            ShortcutCue(
                "largest_step_ratio",
                "the largest sideways step between neighbours / half their widths' sum (> 1: a miss)",
                lambda row: max(step_ratios(blocks(row))),
            ),
            ShortcutCue(
                "largest_size_ratio",
                "the largest height of a domino / the height of the one before it",
                lambda row: max(size_ratios(blocks(row))),
            ),
            ShortcutCue(
                "largest_thickness_ratio",
                "the largest thickness / height of any domino after the first (a slab)",
                lambda row: max(thickness_ratios(blocks(row))[1:]),
            ),
            ShortcutCue(
                "first_tilt_deg",
                "how far the first domino is tipped, degrees",
                lambda row: float(blocks(row)[0].get("pitch", 0.0)),
            ),
            ShortcutCue(
                "row_length_mm",
                "the distance between the first and the last domino's centres, mm",
                lambda row: 1000.0 * abs(blocks(row)[-1]["pos"][0] - blocks(row)[0]["pos"][0]),
            ),
        )


FAMILY = DominoFamily()

__all__ = [
    "CAUSES",
    "FAMILY",
    "PROMPT",
    "CauseRange",
    "ControlWindow",
    "DominoCamera",
    "DominoFamily",
    "DominoSettings",
]
