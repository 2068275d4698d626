"""The domino family: "Will the last domino fall?" -- made only through the stimulus-family
protocol. A tiny real set (MuJoCo physics, EGL rendering) checks the quotas, the labels,
their robustness under the family's perturbed physics and contract A; pure geometry checks
the sampler's ranges, the reach margin (contract B) and that the camera keeps every
domino of the longest possible rows inside the image."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

import numpy as np
import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set, list_presets, preset_identity, regenerate
from cubeworld.stimuli.families import FAMILIES, get_family
from cubeworld.stimuli.families.domino import DominoSettings
from cubeworld.stimuli.families.domino.geometry import link_gaps, reach_margin_mm
from cubeworld.stimuli.families.domino.sampler import _tipped, sample_chain, tipping_angle

DOMINO = "domino"
SIZES = (3, 4, 5, 6, 7, 8)
FRAME_MARGIN = 0.04  # share of the image every domino keeps from each edge


@pytest.fixture(scope="module")
def family():
    return get_family(DOMINO)


@pytest.fixture(scope="module")
def settings(family) -> DominoSettings:
    return family.default_settings()


@pytest.fixture(scope="module")
def domino_set(tmp_path_factory):
    """Every size, one Yes and one No each, at 64 px (the physics is the full one)."""
    out = tmp_path_factory.mktemp("dominoes") / "set"
    return generate_set(DOMINO, SIZES, 2, 5, out, resolution=64, workers=1, progress=False)


def _draws(settings, per_size: int = 150, seed: int = 0):
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    family = get_family(DOMINO)
    for n in SIZES:
        for k in range(per_size):
            yield n, sample_chain(candidate_rng(seed, family.stream_code, n, k), n, settings)


# -- the family as others see it (light) --------------------------------------------------
def test_the_family_is_registered_and_asks_like_the_study(family, settings):
    assert DOMINO in FAMILIES and family.domain == DOMINO and family.command == "dominoes"
    assert family.sizes == SIZES and family.capacity == 8
    assert family.question == "Will the last domino fall?"
    # the study's two prompts: "You are now viewing a ... . <question> Answer Yes if you think ... Answer No if you think ..."
    assert re.fullmatch(
        r"You are now viewing a row of dominoes\. .+ Will the last domino fall\? "
        r"Answer Yes if you think .+\. Answer No if you think .+\.",
        family.prompt,
    )
    assert family.difficulty.name == "reach margin" and family.difficulty.unit == "mm"
    assert family.strata == ("direction",)
    checks = family.robustness_checks(settings)
    assert {"solref": [0.02, 1.0]} in checks and {"duration": 6.0} in checks
    assert {"friction": 0.4} in checks and {"friction": 0.8} in checks and {"timestep": 0.001} in checks


# -- a real set ------------------------------------------------------------------------------
def test_a_set_is_half_yes_per_size_and_records_its_physics(domino_set, family, settings):
    s = load_set(domino_set)
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(n, a): 1 for n in SIZES for a in ("Yes", "No")}
    assert {r.domain for r in s.rows} == {DOMINO} and {r.prompt for r in s.rows} == {family.prompt}
    card = s.card
    assert set(card["settings"]) == {"physics", "render", DOMINO}
    assert card["difficulty"]["name"] == "reach margin" and card["label_rule"] == family.label_rule
    assert set(card["cameras"]) == {str(n) for n in SIZES}
    by_direction = card["counts_by_direction"]
    assert sum(c["Yes"] + c["No"] for size in by_direction.values() for c in size.values()) == len(s.rows)
    n_checks = len(family.robustness_checks(settings))
    for r in s.rows:
        scene, outcome = r.extra["scene"], r.extra["outcome"]
        assert len(scene["blocks"]) == r.n_blocks and scene["direction"] in (1, -1)
        assert scene["blocks"][0]["pitch"] > 0 and all("pitch" not in b for b in scene["blocks"][1:])
        assert outcome["perturbation_labels"] == [r.answer] * n_checks  # kept only if every check agrees
        assert 0 in outcome["fell_blocks"]  # the tipped domino always falls
        assert ((r.n_blocks - 1) in outcome["fell_blocks"]) == r.falls
        assert r.difficulty == r.extra["reach_margin_mm"] == reach_margin_mm(scene["blocks"])
        assert abs(r.difficulty) >= 1000 * settings.reach_margin


def test_answer_by_simulation_gives_the_labels_under_every_check(domino_set, family, settings):
    """Contract A: a row's recorded scene is the whole experiment; the label also holds under
    each of the family's perturbed physics (what an audit re-runs)."""
    rows = load_set(domino_set).rows
    assert [family.answer_by_simulation(r.extra["scene"]) for r in rows] == [r.falls for r in rows]
    for change in family.robustness_checks(settings):
        assert [family.answer_by_simulation(r.extra["scene"], physics=change) for r in rows] == [
            r.falls for r in rows
        ], change
    # a run too short for anything to reach the last domino: nothing falls
    assert not any(family.answer_by_simulation(r.extra["scene"], physics={"duration": 0.05}) for r in rows)


def test_difficulty_is_larger_for_no(domino_set):
    rows = load_set(domino_set).rows
    assert all((r.difficulty > 0) == (not r.falls) for r in rows), [(r.difficulty, r.answer) for r in rows]


def test_shortcut_cues_read_rows(domino_set, family):
    rows = [r.to_record() for r in load_set(domino_set).rows]
    cues = {c.name: c for c in family.shortcut_cues()}
    assert {"n_blocks", "largest_gap_mm", "largest_gap_ratio", "gap_outlier", "first_tilt_deg"} <= set(cues)
    for cue in cues.values():
        assert all(isinstance(cue.value(r), float) and math.isfinite(cue.value(r)) for r in rows), cue.name
    assert [cues["n_blocks"].value(r) for r in rows] == [float(r["n_blocks"]) for r in rows]
    for r in rows:  # the reach rule in one number agrees with the reach margin
        assert (cues["largest_gap_ratio"].value(r) > 1.0) == (r["reach_margin_mm"] > 0)


def test_rebuilt_from_its_card_with_two_workers_byte_for_byte(domino_set, tmp_path):
    copy = regenerate(domino_set / "dataset.json", tmp_path / "copy", workers=2, progress=False)
    for p in sorted(domino_set.rglob("*")):
        if p.is_file():
            assert (copy / p.relative_to(domino_set)).read_bytes() == p.read_bytes(), p.name


# -- geometry ----------------------------------------------------------------------------------
def _upright(x, t=0.02, w=0.06, h=0.12, yaw=0.0):
    return {"size": [t, w, h], "pos": [x, 0.0, h / 2], "yaw": yaw}


def test_reach_margin_by_hand():
    # faces 0.01 / 0.11: a 100 mm gap after a 120 mm domino -> 20 mm within reach
    a, b = _upright(0.0), _upright(0.12)
    assert link_gaps([a, b]) == pytest.approx([0.1])
    assert reach_margin_mm([a, b]) == pytest.approx(-20.0)
    c = _upright(0.12 + 0.02 + 0.15, h=0.1)  # 150 mm after the second (120 mm tall): 30 mm beyond
    assert reach_margin_mm([a, b, c]) == pytest.approx(30.0)
    # the same row running leftwards (dominoes turned round) has the same gaps
    mirrored = [{**d, "pos": [-d["pos"][0], 0.0, d["pos"][2]], "yaw": 180.0} for d in (a, b, c)]
    assert link_gaps(mirrored) == pytest.approx(link_gaps([a, b, c]))


@pytest.mark.parametrize("yaw", [0.0, 4.0, 180.0, 176.0])
def test_the_tipped_domino_pivots_on_its_front_bottom_edge(yaw):
    """Tipping keeps the gap (measured from the front bottom edge) and the block on the floor."""
    size = (0.02, 0.06, 0.12)
    upright = _tipped(size, 0.1, 0.01, yaw, 0.0, "blue", (0.1, 0.3, 0.8))
    tipped = _tipped(size, 0.1, 0.01, yaw, 15.0, "blue", (0.1, 0.3, 0.8))
    assert upright.pos == pytest.approx((0.1, 0.01, 0.06))
    ahead = 1 if math.cos(math.radians(yaw)) > 0 else -1
    nxt = _upright(0.1 + ahead * 0.12, yaw=yaw)
    assert link_gaps([upright.to_record(), nxt]) == pytest.approx(link_gaps([tipped.to_record(), nxt]), abs=1e-6)
    z = _corners(tipped.to_record())[:, 2]
    assert z.min() == pytest.approx(0.0, abs=1e-6)
    assert sorted(z)[1] == pytest.approx(0.0, abs=1e-6)  # the whole edge, not a corner
    # leaning towards the next domino: its top is closer to it than its bottom edge
    top = _corners(tipped.to_record())[z.argmax()]
    assert ahead * (top[0] - 0.1) > 0


def test_sampled_rows_stay_in_their_documented_ranges(settings):
    # gaps are drawn between face centres ignoring the small yaws; measured along the row,
    # a turned domino's face sits up to t/2 (1 - cos 8 deg) ~ 0.1 mm further away
    TOL = 0.003
    s = settings
    breaks = Counter()
    for n, scene in _draws(s):
        blocks = [b.to_record() for b in scene.blocks]
        heights = [b["size"][2] for b in blocks]
        ratios = [g / h for g, h in zip(link_gaps(blocks), heights)]
        long = [r for r in ratios if r > 1.0]
        assert len(long) <= 1
        assert all(s.long_min - TOL <= r <= s.long_max + TOL for r in long)
        assert all(s.gap_min - TOL <= r <= s.short_max + TOL for r in ratios if r <= 1.0)
        assert ratios[0] >= s.first_gap_min - TOL or ratios[0] > 1.0
        assert all(abs(h / s.height - 1) <= s.height_jitter + 1e-6 for h in heights)
        t, _, h = blocks[0]["size"]
        tip = blocks[0]["pitch"] - tipping_angle(t, h)
        assert s.tip_min - 1e-3 <= tip <= s.tip_max + 1e-3
        # the tipped domino does not touch the next one
        assert h * math.sin(math.radians(blocks[0]["pitch"])) < link_gaps(blocks)[0]
        assert scene.keys["direction"] == (1 if blocks[-1]["pos"][0] > blocks[0]["pos"][0] else -1)
        breaks[n] += bool(long)
    for n in SIZES:  # a break in about half the rows of every size (150 rows: 3.5 sigma)
        assert abs(breaks[n] / 150 - s.break_chance) < 0.15, breaks


# -- the camera: every domino in frame ---------------------------------------------------------
def _corners(block) -> np.ndarray:
    t, w, h = block["size"]
    yaw, pitch = math.radians(block.get("yaw", 0.0)), math.radians(block.get("pitch", 0.0))
    rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
    ry = np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]])
    half = np.array(list(itertools.product((-t / 2, t / 2), (-w / 2, w / 2), (-h / 2, h / 2))))
    return np.asarray(block["pos"]) + half @ (rz @ ry).T


def _project(points: np.ndarray, camera: dict, fovy: float, resolution: int) -> np.ndarray:
    """Pixel (column, row) of world points seen by MuJoCo's free camera (mjv_updateCamera:
    forward = (cos el cos az, cos el sin az, sin el), eye = lookat - distance * forward)."""
    az, el = math.radians(camera["azimuth"]), math.radians(camera["elevation"])
    forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    up = np.array([-math.sin(el) * math.cos(az), -math.sin(el) * math.sin(az), math.cos(el)])
    right = np.cross(forward, up)
    v = points - (np.asarray(camera["lookat"], float) - camera["distance"] * forward)
    depth = v @ forward
    assert (depth > 0).all()
    f = 1.0 / math.tan(math.radians(fovy) / 2.0)
    return np.stack([(1 + f * (v @ right) / depth) / 2 * resolution, (1 - f * (v @ up) / depth) / 2 * resolution], 1)


def test_the_projection_matches_mujocos_rendering():
    """The geometric frame check below is only as good as its projection: compare it with
    the pixels MuJoCo renders for a red domino, upright and tipped, turned both ways."""
    from cubeworld.stimuli.core.scene import Block
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.world import World

    shared = shared_defaults()
    world = World(1, 448, shared.render)
    try:
        for yaw, pitch in ((10.0, 0.0), (190.0, 18.0)):
            block = Block((0.02, 0.06, 0.12), (0.05, 0.02, 0.06), yaw, "red", (0.9, 0.05, 0.05), pitch=pitch)
            if pitch:
                block = _tipped(block.size, 0.05, 0.02, yaw, pitch, "red", block.rgb)
            camera = {"lookat": [0.0, 0.0, 0.05], "distance": 0.6, "azimuth": 60.0, "elevation": -20.0}
            image = world.render([block], camera, shared.physics).astype(int)
            rows, cols = np.nonzero((image[..., 0] > 100) & (image[..., 1] < 60) & (image[..., 2] < 60))
            px = _project(_corners(block.to_record()), camera, shared.render.fovy, 448)
            assert abs(cols.min() - px[:, 0].min()) <= 2 and abs(cols.max() - px[:, 0].max()) <= 2
            assert abs(rows.min() - px[:, 1].min()) <= 2 and abs(rows.max() - px[:, 1].max()) <= 2
    finally:
        world.close()


class _Extreme:
    """A stand-in random generator that returns the ends of every range the sampler draws
    from (picked per draw), so rows as long, tall, shifted and tipped as the sampler can
    make them are checked, not only likely ones."""

    def __init__(self, picks, direction, last_link):
        self.picks, self.direction, self.last_link = picks, direction, last_link
        self.draws = self.randoms = 0

    def uniform(self, low, high, size=None):
        value = high if self.picks[self.draws % len(self.picks)] else low
        self.draws += 1
        return value if size is None else np.full(size, value)

    def random(self):
        self.randoms += 1  # first: whether the row has a long link (always), then its direction
        return 0.0 if self.randoms == 1 or self.direction == 1 else 0.99

    def integers(self, n):
        return n - 1 if self.last_link else 0


def test_the_camera_keeps_every_domino_in_frame(family, settings):
    from cubeworld.stimuli.core.settings import shared_defaults

    fovy, res = shared_defaults().render.fovy, 448
    low, high = FRAME_MARGIN * res, (1 - FRAME_MARGIN) * res
    sampled = {}
    for n, scene in _draws(settings, per_size=40, seed=1):
        sampled.setdefault(n, []).append(scene)
    for n in SIZES:
        camera = family.camera(n, settings)
        extreme = [
            sample_chain(_Extreme(picks, d, last), n, settings)
            for picks in itertools.product((0, 1), repeat=7)
            for d in (1, -1)
            for last in (0, 1)
        ]
        for scene in extreme + sampled[n]:
            px = _project(np.concatenate([_corners(b.to_record()) for b in scene.blocks]), camera, fovy, res)
            assert px.min() >= low and px.max() <= high, (n, px.min(), px.max())


# -- presets --------------------------------------------------------------------------------------
def test_presets_add_fine_tuning_evaluation_and_human_sets():
    presets = list_presets()
    mine = {name: p for name, p in presets.items() if p.get("domain") == DOMINO}
    assert set(mine) == {"dominoes-3-5", "dominoes-6-8", "dominoes-eval", "dominoes-human"}
    assert mine["dominoes-3-5"]["total"] == mine["dominoes-6-8"]["total"] == 10_000
    assert mine["dominoes-eval"]["sizes"] == list(SIZES) and mine["dominoes-eval"]["total"] == 1_200
    assert mine["dominoes-human"]["subset_of"] == "dominoes-eval" and mine["dominoes-human"]["total"] == 120
    seeds = [p["seed"] for p in presets.values() if "subset_of" not in p]
    assert len(seeds) == len(set(seeds))
    subset_seeds = [p["seed"] for p in presets.values() if "subset_of" in p]
    assert len(subset_seeds) == len(set(subset_seeds))
    assert set(preset_identity("dominoes-eval")["settings"]) == {"physics", "render", DOMINO}
