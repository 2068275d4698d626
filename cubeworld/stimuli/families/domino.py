"""The domino family (intuitive physics, Physion's flagship scenario): "Will the last
domino fall?"

A straight row of N dominoes stands on the floor of the room. The domino at one end is
tipped just past its tipping angle and released, so it falls onto the next; the question
is whether the chain reaches the other end. MuJoCo decides the label with the shared
physics; the label must not change under the family's perturbed physics.

Why this design (measured; see the stimuli README, "Dominoes"):
- A falling domino pivots on its front edge and reaches about as far as it is tall: with
  the shared physics a pair of dominoes chains up to a gap of 1.02-1.03 x the falling
  domino's height, and in rows the answer flickers under perturbed physics for gaps from
  about 12 mm short of that height to 20 mm beyond it. So the family's difficulty is the
  **reach margin**: the largest over the links of (gap - height of the falling domino),
  in mm, and rows within `reach_margin` (15 mm) of zero are rejected before simulation.
- Every link's gap is drawn as gap / height ~ U(gap_min, short_max), within reach with
  15% to spare; in `break_chance` (half) of the rows one link, drawn at random, is drawn
  from U(long_min, long_max) instead, 15% or more beyond reach. So about half the rows
  of every size answer Yes before the quotas, without rejecting most candidates, and a
  "No" row's break is as clear at 8 dominoes as at 3. Simulation still decides: a light
  domino can fail to topple a much heavier one within reach (a few in a thousand rows).
- The tipped domino's link starts at `first_gap_min` (0.6): from closer, it leans on the
  next domino without the speed to topple it.
- Sizes are 3-8 dominoes, i.e. 2-7 links, the same span of parts to check as towers of
  2-7 blocks; 2 dominoes would be a single link, not a chain, and with the whole row in
  frame rows of 8 already show their dominoes only 40-57 px tall in a 448 px image.
- Heights vary by +-15% only: wider spreads let light dominoes stall against heavy ones
  and make labels less robust (measured at +-25%). Sideways offsets and yaws stay small
  enough that every falling domino meets most of the next one's face (the gaps decide,
  not misses).
- The first domino starts tipped (the "push"): its pitch is its tipping angle plus
  U(tip_min, tip_max) degrees, about its front bottom edge, which stays where the upright
  domino's front face met the floor; so a recorded scene is the whole experiment and
  `answer_by_simulation` re-runs it (contract A).
- The row runs left-to-right or right-to-left (drawn per row), so "the last domino" is
  not always on the same side of the image.
- The camera is fixed per size (`camera`), far enough back that the longest row the
  sampler can draw stays inside the image with 4% to spare on every side (a test projects
  the corners of extreme rows).

Everything heavy (numpy, MuJoCo) is imported inside the functions that need it; the row
geometry that rows, cards and the shortcut audit read is plain Python.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.stimuli.families.base import DifficultyMeasure, ShortcutCue, StimulusFamily

PROMPT = (
    "You are now viewing a row of dominoes. The tilted domino at one end has been pushed and is "
    "falling towards the others. Will the last domino fall? "
    "Answer Yes if you think the dominoes will knock each other over all the way to the last domino "
    "at the other end of the row. "
    "Answer No if you think the chain will stop and the last domino will stay standing."
)


@dataclass(frozen=True)
class DominoCamera:
    """A free camera in front of the row, a little to one side and above; it backs off as
    rows grow (rows are centred on the origin)."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_domino * n
    distance_per_domino: float
    lookat_height: float
    lookat_shift_per_domino: float  # lookat x = shift * n (perspective: the near end looms larger)


@dataclass(frozen=True)
class DominoSettings:
    camera: DominoCamera
    height: float  # m; each domino's height = height * U(1 - height_jitter, 1 + height_jitter)
    height_jitter: float
    width_ratio: float  # width = ratio * height (real dominoes: 0.5)
    thickness_ratio: float  # thickness = ratio * height (real dominoes: 0.16)
    gap_min: float  # gap to the next domino / height of this one ~ U(gap_min, short_max) ...
    first_gap_min: float  # ... the tipped domino's link: U(first_gap_min, short_max) ...
    short_max: float
    break_chance: float  # ... except, in this share of rows, one link drawn at random:
    long_min: float  # U(long_min, long_max)
    long_max: float
    lateral_jitter: float  # sideways offset of each domino ~ U(-a, a) * its width
    max_yaw: float  # degrees; each domino turned by U(-max_yaw, max_yaw) about the vertical
    tip_min: float  # degrees past the tipping angle at which the first domino starts
    tip_max: float
    reach_margin: float  # m; rows whose reach margin is within this of zero are rejected
    fall_tilt: float  # degrees; the last domino fell if it ends tilted more than this ...
    stand_tilt: float  # ... and stands if less than this; in between: ambiguous, rejected
    perturbations: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        from cubeworld.stimuli.config import check_perturbations

        check_perturbations(self.perturbations)


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
    settings_file = Path(__file__).with_name("domino.yaml")
    strata = ("direction",)  # the card counts size x direction (+1 rightwards, -1 leftwards) x label

    def robustness_checks(self, settings: DominoSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        return sample_row(rng, size, settings)

    def judge(self, world, scene, physics, settings):
        return judge_row(world, scene, physics, settings, self.robustness_checks(settings))

    def falls(self, world, scene, physics, settings) -> bool:
        return bool(simulate_row(world, scene.blocks, physics)[-1] > settings.fall_tilt)

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
            return row_gaps(row["scene"]["blocks"])

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
                _largest_gap_ratio,
            ),
            ShortcutCue(
                "mean_spacing_ratio", "the mean gap between neighbours / the mean domino height", _mean_spacing_ratio
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


# -- geometry of recorded dominoes (pure Python: rows, cards and cues read it) ----------
# A domino is a box: size = (thickness, width, height); its own +x axis points along the
# row, towards the last domino (yaw ~ 0 rightwards, ~ 180 leftwards, plus a small jitter).
def _along(block: Mapping[str, Any], local_x: float, local_z: float) -> float:
    """World x of the point (local_x, 0, local_z) of a block (yaw, then pitch about its y)."""
    yaw, pitch = math.radians(block.get("yaw", 0.0)), math.radians(block.get("pitch", 0.0))
    x = local_x * math.cos(pitch) + local_z * math.sin(pitch)
    return block["pos"][0] + math.cos(yaw) * x


def _direction(blocks: Sequence[Mapping[str, Any]]) -> int:
    return 1 if blocks[-1]["pos"][0] >= blocks[0]["pos"][0] else -1


def row_gaps(blocks: Sequence[Mapping[str, Any]]) -> list[float]:
    """Gap of each link (m, along the row): from a domino's front face (the first, tipped
    domino: its front bottom edge) to the next domino's back face."""
    d = _direction(blocks)
    gaps = []
    for a, b in itertools.pairwise(blocks):
        front = _along(a, a["size"][0] / 2.0, -a["size"][2] / 2.0)  # its front bottom edge
        back = _along(b, -b["size"][0] / 2.0, -b["size"][2] / 2.0)
        gaps.append(d * (back - front))
    return gaps


def link_margins_m(blocks: Sequence[Mapping[str, Any]]) -> list[float]:
    """Per link: gap - height of the falling domino (m); positive = out of its reach."""
    return [g - a["size"][2] for g, a in zip(row_gaps(blocks), blocks)]


def reach_margin_mm(blocks: Sequence[Mapping[str, Any]]) -> float:
    """The family's difficulty (see `DominoFamily.difficulty`), mm."""
    return round(1000.0 * max(link_margins_m(blocks)), 3)


def _largest_gap_ratio(row: Mapping[str, Any]) -> float:
    blocks = row["scene"]["blocks"]
    return max(g / a["size"][2] for g, a in zip(row_gaps(blocks), blocks))


def _mean_spacing_ratio(row: Mapping[str, Any]) -> float:
    blocks = row["scene"]["blocks"]
    gaps = row_gaps(blocks)
    return (sum(gaps) / len(gaps)) / (sum(b["size"][2] for b in blocks) / len(blocks))


# -- sampler (heavy) ---------------------------------------------------------------------
def tipping_angle(thickness: float, height: float) -> float:
    """Degrees a domino must lean before its centre of mass passes over its front edge."""
    return math.degrees(math.atan2(thickness, height))


def sample_row(rng, n: int, cfg: DominoSettings):
    """Draw a row of n dominoes, the first one tipped towards the others."""
    from cubeworld.stimuli.palette import PALETTE
    from cubeworld.stimuli.scene import Block, Scene

    heights = cfg.height * rng.uniform(1.0 - cfg.height_jitter, 1.0 + cfg.height_jitter, n)
    ratios = rng.uniform(cfg.gap_min, cfg.short_max, n - 1)
    ratios[0] = rng.uniform(cfg.first_gap_min, cfg.short_max)
    if rng.random() < cfg.break_chance:
        ratios[int(rng.integers(n - 1))] = rng.uniform(cfg.long_min, cfg.long_max)
    lateral = rng.uniform(-cfg.lateral_jitter, cfg.lateral_jitter, n)
    yaws = rng.uniform(-cfg.max_yaw, cfg.max_yaw, n)
    tip = rng.uniform(cfg.tip_min, cfg.tip_max)
    direction = 1 if rng.random() < 0.5 else -1
    colours = [int(rng.integers(len(PALETTE)))]
    for _i in range(1, n):
        choice = int(rng.integers(len(PALETTE) - 1))
        colours.append(choice if choice < colours[-1] else choice + 1)  # differs from its neighbour
    t = cfg.thickness_ratio * heights
    w = cfg.width_ratio * heights
    gaps = ratios * heights[:-1]
    pitch = tipping_angle(float(t[0]), float(heights[0])) + float(tip)
    # centres along the row axis (upright), front face of one to back face of the next
    along = [float(t[0]) / 2.0]
    for i in range(1, n):
        along.append(along[-1] + float(t[i - 1]) / 2.0 + float(gaps[i - 1]) + float(t[i]) / 2.0)
    middle = (along[-1] + float(t[-1]) / 2.0) / 2.0
    blocks = []
    for i in range(n):
        x = direction * (along[i] - middle)
        yaw = float(yaws[i]) + (0.0 if direction == 1 else 180.0)
        name, rgb = PALETTE[colours[i]]
        size = (float(t[i]), float(w[i]), float(heights[i]))
        y = float(lateral[i] * w[i])
        if i == 0:
            blocks.append(_tipped(size, x, y, yaw, pitch, name, rgb))
        else:
            blocks.append(Block(size=size, pos=(x, y, size[2] / 2.0), yaw=yaw, colour=name, rgb=rgb))
    return Scene(blocks, {"direction": direction})


def _tipped(size, x, y, yaw, pitch, name, rgb):
    """The first domino tipped by `pitch` about its front bottom edge, which stays where the
    upright domino's front face met the floor (its centre was at x, y)."""
    from cubeworld.stimuli.scene import Block

    t, _, h = size
    cy, sy = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    p = math.radians(pitch)
    pivot = (x + cy * t / 2.0, y + sy * t / 2.0)
    # the pivot in the tipped block's own frame is (t/2, 0, -h/2) rotated by the pitch
    ex, ez = t / 2.0 * math.cos(p) - h / 2.0 * math.sin(p), -t / 2.0 * math.sin(p) - h / 2.0 * math.cos(p)
    pos = (pivot[0] - cy * ex, pivot[1] - sy * ex, -ez)
    return Block(size=size, pos=pos, yaw=yaw, colour=name, rgb=rgb, pitch=pitch)


# -- judge (heavy) -------------------------------------------------------------------------
@dataclass
class DominoJudgement:
    accepted: bool
    reason: str  # "" when accepted
    falls: bool | None
    outcome: dict[str, Any] = field(default_factory=dict)


def simulate_row(world, blocks, physics):
    """Final tilt of every domino (degrees from upright) after one run."""
    from cubeworld.stimuli.scene import tilt_degrees

    return tilt_degrees(world.simulate(blocks, physics).quat)


def _classify(tilt, cfg: DominoSettings) -> str:
    """'Yes' (first and last fell), 'No' (first fell, last stands), else 'ambiguous'."""
    if tilt[0] <= cfg.fall_tilt:
        return "first_stands"
    if tilt[-1] > cfg.fall_tilt:
        return "Yes"
    return "No" if tilt[-1] < cfg.stand_tilt else "ambiguous"


def judge_row(world, scene, physics, cfg: DominoSettings, checks: Sequence[Mapping[str, Any]]) -> DominoJudgement:
    """Reject rows near the reach limit, label by simulation, keep a label only if every
    perturbed run gives it too."""
    records = [b.to_record() for b in scene.blocks]
    links = link_margins_m(records)
    margin = reach_margin_mm(records)
    outcome: dict[str, Any] = {"reach_margin_mm": margin, "link_margins_mm": [round(1000.0 * m, 3) for m in links]}
    if abs(margin) < 1000.0 * cfg.reach_margin:
        return DominoJudgement(False, "near_reach", None, outcome)
    tilt = simulate_row(world, scene.blocks, physics)
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
        other = _classify(simulate_row(world, scene.blocks, physics.perturbed(change)), cfg)
        outcome["perturbation_labels"].append(other)
        if other != label:
            return DominoJudgement(False, "perturbation_sensitive", None, outcome)
    return DominoJudgement(True, "", label == "Yes", outcome)


FAMILY = DominoFamily()
