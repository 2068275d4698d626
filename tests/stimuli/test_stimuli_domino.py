"""The domino family: "Will the last domino fall?" -- made only through the stimulus-family
protocol. A small real set (the reference set `dominoes-64`: MuJoCo physics, EGL rendering)
checks the quotas per size x cause x label, the labels, where "No" chains stop, their
robustness under every documented perturbation and contract A; pure geometry checks the
sampler's ranges per cause, the critical margin (contract B) and that the camera keeps
every domino of the most extreme chains inside the image."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

import numpy as np
import pytest

from cubeworld.formats.sets import load_set
from cubeworld.stimuli import list_presets, preset_identity
from cubeworld.stimuli.core.perturbations import audit_perturbations
from cubeworld.stimuli.families import FAMILIES, get_family
from cubeworld.stimuli.families.domino import CAUSES, DominoSettings
from cubeworld.stimuli.families.domino.geometry import (
    critical_value,
    gap_ratios,
    link_gaps,
    reach_margin_mm,
    step_ratios,
)
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
def domino_set(reference_sets):
    """Sizes 3 and 6, 6 per size (spacing and offset: one Yes and one No each; size: Yes;
    thickness: No) at 64 px; the physics is the full one."""
    return reference_sets["dominoes-64"]


def _draws(settings, per_size: int = 120, seed: int = 0):
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    family = get_family(DOMINO)
    for n in SIZES:
        for k in range(per_size):
            cause = CAUSES[k % len(CAUSES)]
            yield n, cause, sample_chain(candidate_rng(seed, family.stream_code, n, k), n, settings, cause)


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
    assert family.difficulty.name == "critical margin"
    assert family.strata == ("cause", "direction") and family.quota_stratum == "cause"
    assert family.stratum_values(3, settings) == CAUSES == ("spacing", "offset", "size", "thickness")
    # every documented perturbation is checked at generation, so `audit --physics` finds every label kept;
    # so is softer contacts with the elliptic cone at once (issue 19: it flipped chains that each alone kept)
    checks = {repr(dict(c)) for c in family.robustness_checks(settings)}
    assert {repr(dict(c)) for c in audit_perturbations()} <= checks
    assert repr({"solref": [0.02, 1.0], "cone": "elliptic"}) in checks


# -- a real set ------------------------------------------------------------------------------
def test_a_set_is_balanced_per_size_cause_and_label(domino_set, family, settings):
    s = load_set(domino_set)
    assert Counter((r.n_blocks, r.answer) for r in s.rows) == {(n, a): 3 for n in (3, 6) for a in ("Yes", "No")}
    expected = {"spacing": {"Yes": 1, "No": 1}, "offset": {"Yes": 1, "No": 1}, "size": {"Yes": 1, "No": 0}}
    expected["thickness"] = {"Yes": 0, "No": 1}
    card = s.card
    assert card["counts_by_cause"] == {str(n): expected for n in (3, 6)}
    assert card["stratum_quotas"] == {str(n): expected for n in (3, 6)}
    assert Counter((r.n_blocks, r.extra["cause"], r.answer) for r in s.rows) == {
        (n, c, a): k for n in (3, 6) for c, cells in expected.items() for a, k in cells.items() if k
    }
    assert set(card["settings"]) == {"physics", "render", DOMINO}
    assert card["difficulty"]["name"] == "critical margin" and card["label_rule"] == family.label_rule
    assert "largest_gap_ratio" in card["shortcut_audit"]["cues"]


def test_rows_record_their_cause_and_where_a_chain_stops(domino_set, family, settings):
    n_checks = len(family.robustness_checks(settings))
    for r in load_set(domino_set).rows:
        scene, outcome = r.extra["scene"], r.extra["outcome"]
        assert len(scene["blocks"]) == r.n_blocks and scene["direction"] in (1, -1)
        assert scene["blocks"][0]["pitch"] > 0 and all("pitch" not in b for b in scene["blocks"][1:])
        assert scene["cause"] == r.extra["cause"] == outcome["cause"]
        c = scene["critical"]
        assert 1 <= c < r.n_blocks and r.extra["critical"] == c
        rng = settings.cause_range(scene["cause"])
        assert rng.low - 0.01 <= critical_value(scene["blocks"], scene["cause"], c) <= rng.high + 0.01
        assert outcome["perturbation_labels"] == [r.answer] * n_checks  # kept only if every check agrees
        assert ((r.n_blocks - 1) in outcome["fell_blocks"]) == r.falls
        if not r.falls:  # a "No" stops at its critical domino: its cause is why the chain stopped
            assert outcome["stopped_at"] == c and all(t < settings.stand_tilt for t in outcome["tilt_deg"][c:])
        assert r.difficulty == r.extra["critical_margin"] == family.difficulty_of({"scene": scene})
        assert outcome["reach_margin_mm"] == reach_margin_mm(scene["blocks"])


def test_answer_by_simulation_gives_the_labels_under_every_check(domino_set, family, settings):
    """Contract A: a row's recorded scene is the whole experiment (the sampler rounds a scene
    to its record before judging it); the label also holds under each documented perturbation."""
    rows = load_set(domino_set).rows
    assert [family.answer_by_simulation(r.extra["scene"]) for r in rows] == [r.falls for r in rows]
    for change in family.robustness_checks(settings):
        assert [family.answer_by_simulation(r.extra["scene"], physics=change) for r in rows] == [
            r.falls for r in rows
        ], change
    # a simulation too short for anything to reach the last domino: nothing falls
    assert not any(family.answer_by_simulation(r.extra["scene"], physics={"duration": 0.05}) for r in rows)


def test_difficulty_is_larger_for_no_where_geometry_decides(domino_set):
    """Spacing and offset flip where geometry says (a domino reaches as far as it is tall; a
    face that misses hits nothing): there the critical margin's sign is the label."""
    rows = [r for r in load_set(domino_set).rows if r.extra["cause"] in ("spacing", "offset")]
    assert len(rows) == 8
    assert all((r.difficulty > 0) == (not r.falls) for r in rows), [(r.difficulty, r.answer) for r in rows]


def test_shortcut_cues_read_rows(domino_set, family):
    rows = [r.to_record() for r in load_set(domino_set).rows]
    cues = {c.name: c for c in family.shortcut_cues()}
    assert {"n_blocks", "largest_gap_ratio", "largest_step_ratio", "largest_size_ratio"} <= set(cues)
    assert "largest_thickness_ratio" in cues
    for cue in cues.values():
        assert all(isinstance(cue.value(r), float) and math.isfinite(cue.value(r)) for r in rows), cue.name
    assert [cues["n_blocks"].value(r) for r in rows] == [float(r["n_blocks"]) for r in rows]
    for r in rows:  # the reach rule in one number: > 1 exactly in the spacing rows answering No
        beyond = cues["largest_gap_ratio"].value(r) > 1.0
        assert beyond == (r["cause"] == "spacing" and not r["falls"]), r["stimulus_id"]


# -- geometry ----------------------------------------------------------------------------------
def _upright(x, t=0.02, w=0.06, h=0.12, yaw=0.0, y=0.0):
    return {"size": [t, w, h], "pos": [x, y, h / 2], "yaw": yaw}


def test_gaps_steps_and_reach_by_hand():
    # faces 0.01 / 0.11: a 100 mm gap after a 120 mm domino -> 20 mm within reach
    a, b = _upright(0.0), _upright(0.12)
    assert link_gaps([a, b]) == pytest.approx([0.1])
    assert reach_margin_mm([a, b]) == pytest.approx(-20.0)
    c = _upright(0.12 + 0.02 + 0.15, h=0.1, y=0.09)  # 150 mm after the second (120 mm tall): 30 mm beyond
    assert reach_margin_mm([a, b, c]) == pytest.approx(30.0)
    assert gap_ratios([a, b, c]) == pytest.approx([0.1 / 0.12, 0.15 / 0.12])
    assert step_ratios([a, b, c]) == pytest.approx([0.0, 0.09 / ((0.06 + 0.06) / 2)])
    assert critical_value([a, b, c], "spacing", 2) == pytest.approx(1.25)
    assert critical_value([a, b, c], "offset", 2) == pytest.approx(1.5)
    assert critical_value([a, b, c], "size", 2) == pytest.approx(0.1 / 0.12)
    assert critical_value([a, b, c], "thickness", 2) == pytest.approx(0.2)
    # the same row running leftwards (dominoes turned round) has the same gaps
    mirrored = [{**d, "pos": [-d["pos"][0], d["pos"][1], d["pos"][2]], "yaw": 180.0} for d in (a, b, c)]
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


def test_sampled_chains_hold_one_critical_element_in_its_range(settings):
    """Each cause changes one element, drawn across its flip point; every other link stays
    within reach and in line, so the cause is the only thing that can stop the chain."""
    s = settings
    TOL = 0.003  # turned dominoes: a face up to t/2 (1 - cos 8 deg) further along the row
    beyond = Counter()
    for n, cause, scene in _draws(s):
        blocks = [b.to_record() for b in scene.blocks]
        assert scene.keys["cause"] == cause
        c = scene.keys["critical"]
        rng = s.cause_range(cause)
        value = critical_value(blocks, cause, c)
        assert rng.low - TOL <= value <= rng.high + TOL, (cause, value)
        beyond[cause] += value > rng.flip
        ratios, steps = gap_ratios(blocks), step_ratios(blocks)
        others = [i for i in range(n - 1) if not (cause == "spacing" and i == c - 1)]
        assert all(ratios[i] <= s.gap_max + TOL for i in others)  # within reach, with room to spare
        assert ratios[0] >= s.first_gap_min / (s.size.high if cause == "size" else 1.0) - TOL
        others = [i for i in range(n - 1) if not (cause == "offset" and i == c - 1)]
        assert all(steps[i] <= 2 * s.lateral_jitter + TOL for i in others)  # in line
        heights = [b["size"][2] for b in blocks]
        assert all(
            abs(h / s.height - 1) <= s.height_jitter + 1e-6 for i, h in enumerate(heights) if i != c or cause != "size"
        )
        t, _, h = blocks[0]["size"]
        assert s.tip_min - 1e-3 <= blocks[0]["pitch"] - tipping_angle(t, h) <= s.tip_max + 1e-3
        assert h * math.sin(math.radians(blocks[0]["pitch"])) < link_gaps(blocks)[0]  # not touching the next
        assert scene.keys["direction"] == (1 if blocks[-1]["pos"][0] > blocks[0]["pos"][0] else -1)
    for cause in CAUSES:  # each cause is drawn on both sides of its flip point (180 chains per cause)
        assert 0.25 < beyond[cause] / (len(SIZES) * 30) < 0.8, beyond


def test_a_sampled_scene_is_its_record():
    """Judged = recorded: the blocks a candidate is judged with read back from its record
    unchanged (the sampler rounds first)."""
    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    family = get_family(DOMINO)
    s = family.default_settings()
    for k, cause in enumerate(CAUSES):
        scene = sample_chain(candidate_rng(3, family.stream_code, 5, k), 5, s, cause)
        assert Scene.from_record(scene.record({})).blocks == scene.blocks


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
    from (picked per draw), so chains as long, tall, shifted and tipped as the sampler can
    make them are checked, not only likely ones."""

    def __init__(self, picks):
        self.picks, self.draws = picks, 0

    def _pick(self) -> int:
        self.draws += 1
        return self.picks[(self.draws - 1) % len(self.picks)]

    def uniform(self, low, high, size=None):
        value = high if self._pick() else low
        return value if size is None else np.full(size, value)

    def random(self):
        return 0.0 if self._pick() else 0.99

    def integers(self, low, high=None):
        low, high = (0, low) if high is None else (low, high)
        return high - 1 if self._pick() else low


def test_the_camera_keeps_every_domino_in_frame(family, settings):
    from cubeworld.stimuli.core.settings import shared_defaults

    fovy, res = shared_defaults().render.fovy, 448
    low, high = FRAME_MARGIN * res, (1 - FRAME_MARGIN) * res
    sampled = {}
    for n, _cause, scene in _draws(settings, per_size=40, seed=1):
        sampled.setdefault(n, []).append(scene)
    for n in SIZES:
        camera = family.camera(n, settings)
        extreme = [
            sample_chain(_Extreme(picks), n, settings, cause)
            for picks in itertools.product((0, 1), repeat=7)
            for cause in CAUSES
        ]
        for scene in extreme + sampled[n]:
            px = _project(np.concatenate([_corners(b.to_record()) for b in scene.blocks]), camera, fovy, res)
            assert px.min() >= low and px.max() <= high, (n, scene.keys, px.min(), px.max())


# -- presets --------------------------------------------------------------------------------------
def test_presets_add_fine_tuning_evaluation_and_human_sets():
    presets = list_presets()
    mine = {name: p for name, p in presets.items() if p.get("domain") == DOMINO}
    assert set(mine) == {"dominoes-3-5", "dominoes-6-8", "dominoes-eval", "dominoes-human"} | {
        "dominoes-3-5-cc",
        "dominoes-6-8-cc",
        "dominoes-eval-cc",
    }
    for name in ("dominoes-3-5", "dominoes-6-8", "dominoes-eval"):  # the cue-controlled twins: same sizes, counts
        twin = mine[f"{name}-cc"]
        assert twin["control_cues"] is True and not mine[name].get("control_cues")
        assert (twin["sizes"], twin["total"]) == (mine[name]["sizes"], mine[name]["total"])
    assert mine["dominoes-3-5"]["total"] == mine["dominoes-6-8"]["total"] == 10_000
    assert mine["dominoes-eval"]["sizes"] == list(SIZES) and mine["dominoes-eval"]["total"] == 1_200
    assert mine["dominoes-human"]["subset_of"] == "dominoes-eval" and mine["dominoes-human"]["total"] == 120
    seeds = [p["seed"] for p in presets.values() if "subset_of" not in p]
    assert len(seeds) == len(set(seeds))
    subset_seeds = [p["seed"] for p in presets.values() if "subset_of" in p]
    assert len(subset_seeds) == len(set(subset_seeds))
    assert set(preset_identity("dominoes-eval")["settings"]) == {"physics", "render", DOMINO}
