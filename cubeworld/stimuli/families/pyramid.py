"""The pyramid family (causal reasoning): "If the red block was not there, would any other
blocks fall?"

The sampler and the counterfactual judge live in `cubeworld.stimuli.pyramids` (numpy),
imported inside the methods; the defaults are `pyramid.yaml` beside this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubeworld.stimuli.families.base import DifficultyMeasure, ShortcutCue, StimulusFamily

PROMPT = (
    "You are now viewing a pyramid of blocks. If the red block was not there, "
    "would any other blocks fall? "
    "Answer Yes if you think that other blocks would fall if the red block was not there. "
    "Answer No if you think that no other blocks would fall if the red block was not there."
)

REST_TOLERANCE = 0.001  # m: a block rests on another if its bottom is this close to the other's top
ROWS_FOR_SIZE = {3: 2, 6: 3, 10: 4, 15: 5}  # rows of a pyramid of n blocks


@dataclass(frozen=True)
class PyramidCamera:
    """A free camera in front of the pyramid; it backs off and looks higher per row."""

    azimuth: float
    elevation: float
    distance_base: float  # distance = base + per_row * rows
    distance_per_row: float
    lookat_height_per_row: float


@dataclass(frozen=True)
class PyramidSettings:
    """The pyramid sampler and judge (see `cubeworld.stimuli.pyramids`); lengths marked
    "in sides" are fractions of the nominal block side `side`."""

    camera: PyramidCamera
    side: float  # m: the nominal block side
    width_jitter: float  # every block's width (x) = side x U(1 - j, 1 + j)
    depth_jitter: float  # every block's depth (y) likewise
    height_jitter: float  # every row's height likewise, shared by the row's blocks
    depth_offset: float  # every block's y offset ~ U(-a, a), in sides
    base_gap: tuple[float, float]  # bottom-row gaps ~ U(lo, hi), in sides
    overlap_min: float  # a leaning block overlaps its weak supporter by U(min, max'), in sides
    overlap_max: float
    inside_min: float  # a leaning block's centre at least this far inside its main supporter, in sides
    bridge_share: float  # chance that an upper block bridges its supporters instead of leaning
    bridge_inside: float  # a bridging block's centre at least this far from either supporter, in sides
    min_neighbour_gap: float
    max_top_offset: float
    stable_move: float
    stable_tilt: float
    no_move: float
    no_tilt: float
    yes_move: float
    yes_tilt: float
    perturbations: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        from cubeworld.stimuli.config import check_perturbations

        check_perturbations(self.perturbations)


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
    settings_file = Path(__file__).with_name("pyramid.yaml")
    strata = ("red_row",)  # the card counts size x red row x label
    quota_stratum = "red_row"  # ... and every red row gets an equal quota per size

    def robustness_checks(self, settings: PyramidSettings) -> tuple[Mapping[str, Any], ...]:
        return settings.perturbations

    def stratum_values(self, size: int, settings: PyramidSettings) -> tuple[int, ...]:
        return tuple(range(ROWS_FOR_SIZE[size] - 1))  # every row but the top one

    # -- one candidate (heavy) ---------------------------------------------------------
    def sample(self, rng, size, settings):
        return self.sample_in_stratum(rng, size, settings, None)

    def sample_in_stratum(self, rng, size, settings, value):
        from cubeworld.stimuli.pyramids import sample_pyramid
        from cubeworld.stimuli.scene import Scene

        pyr = sample_pyramid(rng, size, settings, red_row=value)
        keys = {
            "red_block": pyr.red,
            "red_row": pyr.red_row,
            "rows": pyr.rows,
            "row_of": pyr.row_of,
            "row_leans": pyr.leans,
            "bridging": pyr.bridges,
        }
        return Scene(pyr.blocks, keys)

    def judge(self, world, scene, physics, settings):
        return self.judge_wanted(world, scene, physics, settings, (False, True))

    def judge_wanted(self, world, scene, physics, settings, wanted):
        from cubeworld.stimuli.pyramids import judge_pyramid

        return judge_pyramid(world, _pyramid(scene), physics, settings, self.robustness_checks(settings), wanted)

    def falls(self, world, scene, physics, settings) -> bool:
        from cubeworld.stimuli.pyramids import removal_falls

        return removal_falls(world, _pyramid(scene), physics, settings)

    def camera(self, size, settings):
        from cubeworld.stimuli.pyramids import pyramid_camera

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
                "red_row", "the red block's row (0 = bottom)", lambda row: float(row["scene"]["red_row"]), "category"
            ),
            ShortcutCue(
                "centre_over_red",
                "1 if a block in the row directly above has its centre over the red block, else 0",
                _centre_over_red,
            ),
            ShortcutCue("resting_on_red", "the number of blocks resting on the red block", _resting_on_red),
        )


def _pyramid(scene):
    """The sampler's `Pyramid` back from a `Scene` (the judge and the outcome rule take it)."""
    from cubeworld.stimuli.errors import StimuliError
    from cubeworld.stimuli.pyramids import Pyramid

    k = scene.keys
    red = k.get("red_block")
    if isinstance(red, bool) or not isinstance(red, int) or not 0 <= red < len(scene.blocks):
        raise StimuliError(f"a pyramid scene names its red block by index ('red_block'), got {red!r}")
    return Pyramid(
        blocks=scene.blocks,
        rows=k.get("rows", 0),
        row_of=k.get("row_of", []),
        red=red,
        leans=k.get("row_leans", []),
        bridges=list(k.get("bridging", [])),
    )


# -- geometry of recorded blocks (pure Python: rows are read without numpy) -------------
def _x_interval(block: Mapping[str, Any]) -> tuple[float, float]:
    x, half = block["pos"][0], block["size"][0] / 2.0
    return x - half, x + half


def rests_on(upper: Mapping[str, Any], lower: Mapping[str, Any]) -> bool:
    """Whether `upper`'s bottom face touches `lower`'s top face (pyramid blocks have no yaw)."""
    bottom = upper["pos"][2] - upper["size"][2] / 2.0
    top = lower["pos"][2] + lower["size"][2] / 2.0
    (a0, a1), (b0, b1) = _x_interval(upper), _x_interval(lower)
    return abs(bottom - top) <= REST_TOLERANCE and min(a1, b1) - max(a0, b0) > 0.0


def support_margin_mm(blocks: list[Mapping[str, Any]], red: int) -> float | None:
    """The pyramid difficulty (see `PyramidFamily.difficulty`); None if nothing rests on red."""
    margins = []
    for i, block in enumerate(blocks):
        if i == red or not rests_on(block, blocks[red]):
            continue
        x = block["pos"][0]
        lo, hi = _x_interval(block)
        left = [_x_interval(s) for j, s in enumerate(blocks) if j not in (i, red) and rests_on(block, s)]
        if not left:  # nothing left to stand on
            margins.append(-(hi - lo) / 2.0)
            continue
        support = (max(lo, min(s[0] for s in left)), min(hi, max(s[1] for s in left)))
        inside = min(x - support[0], support[1] - x)
        outside = max(support[0] - x, x - support[1], 0.0)
        margins.append(inside if inside >= 0 else -outside)
    return round(1000.0 * min(margins), 3) if margins else None


def _centre_over_red(row: Mapping[str, Any]) -> float:
    scene = row["scene"]
    blocks, red = scene["blocks"], int(scene["red_block"])
    lo, hi = _x_interval(blocks[red])
    above = [b for b in blocks if rests_on(b, blocks[red])]
    return float(any(lo <= b["pos"][0] <= hi for b in above))


def _resting_on_red(row: Mapping[str, Any]) -> float:
    scene = row["scene"]
    blocks, red = scene["blocks"], int(scene["red_block"])
    return float(sum(rests_on(b, blocks[red]) for i, b in enumerate(blocks) if i != red))


FAMILY = PyramidFamily()
