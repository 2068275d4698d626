"""The analytic balance check, and the simulator agreeing with it away from tipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cubeworld.stimuli.balance import clip_convex, footprint, polygon_area, signed_distance, tower_balance
from cubeworld.stimuli.config import default_config
from cubeworld.stimuli.scene import Block
from cubeworld.stimuli.towers import judge_tower, sample_tower


def cube(side, x, y, z, yaw=0.0):
    return Block(size=(side, side, side), pos=(x, y, z), yaw=yaw, colour="blue", rgb=(0.1, 0.3, 0.8))


def test_geometry_of_footprints():
    a = footprint(cube(0.1, 0, 0, 0.05))
    assert polygon_area(a) == pytest.approx(0.01)
    half = clip_convex(footprint(cube(0.1, 0.05, 0, 0.15)), a)
    assert polygon_area(half) == pytest.approx(0.005)
    rotated = footprint(cube(0.1, 0, 0, 0.15, yaw=45))
    # a square rotated 45 degrees over an equal square: the overlap is an octagon
    assert polygon_area(clip_convex(rotated, a)) == pytest.approx(0.01 * 2 * (math.sqrt(2) - 1), rel=1e-6)
    assert signed_distance(np.array([0.0, 0.0]), a) == pytest.approx(0.05)
    assert signed_distance(np.array([0.08, 0.0]), a) == pytest.approx(-0.03)


def test_two_block_margins_by_hand():
    base = cube(0.1, 0, 0, 0.05)
    assert tower_balance([base, cube(0.1, 0.03, 0, 0.15)]).margin == pytest.approx(0.02)
    over = tower_balance([base, cube(0.1, 0.06, 0, 0.15)])
    assert over.margin < 0 and not over.stable
    # three blocks: the top block's weight pulls the sub-stack's centre of mass out
    top_heavy = tower_balance([base, cube(0.1, 0.04, 0, 0.15), cube(0.1, 0.09, 0, 0.25)])
    assert top_heavy.interface_margins[0] < 0


@pytest.fixture(scope="module")
def world():
    from cubeworld.stimuli.engine import World

    return World(7, 32, default_config("tower").render)


def test_simulation_agrees_with_analytic_check_away_from_tipping(world):
    """A few hundred random towers: every one outside the 3 mm margin gets the same label
    from simulation as from the static balance check, and both labels occur."""
    cfg = default_config("tower")
    checked, falls = 0, 0
    for n in (2, 3, 4, 5, 6, 7):
        rng = np.random.default_rng(100 + n)
        for _ in range(45):
            blocks = sample_tower(rng, n, cfg.family)
            verdict = judge_tower(world, blocks, cfg.physics, cfg.family)
            if verdict.reason == "near_tipping":
                assert abs(verdict.balance.margin) < cfg.family.tip_margin
                continue
            assert verdict.reason != "simulation_disagrees", (n, verdict.balance.margin, verdict.outcome)
            assert verdict.falls == (not verdict.balance.stable)
            checked += 1
            falls += verdict.falls
    assert checked >= 200
    assert 0.3 < falls / checked < 0.7


def test_hand_built_towers_fall_or_stand(world):
    cfg = default_config("tower")
    standing = [cube(0.1, 0, 0, 0.05), cube(0.1, 0.02, 0, 0.15)]
    falling = [cube(0.1, 0, 0, 0.05), cube(0.1, 0.07, 0, 0.15)]
    assert judge_tower(world, standing, cfg.physics, cfg.family).falls is False
    fell = judge_tower(world, falling, cfg.physics, cfg.family)
    assert fell.falls is True and fell.outcome["fell_blocks"] == [1]


def test_stopping_when_everything_sleeps_changes_nothing(world, monkeypatch):
    """The simulation stops early once every body sleeps; the final state is bit-identical."""
    import cubeworld.stimuli.engine as engine

    cfg = default_config("tower")
    rng = np.random.default_rng(7)
    towers = [sample_tower(rng, 2 + k % 6, cfg.family) for k in range(24)]
    early = [world.simulate(t, cfg.physics) for t in towers]
    assert any(r.steps < 1500 for r in early)
    monkeypatch.setattr(engine, "CHECK_EVERY", 10**6)
    full = [world.simulate(t, cfg.physics) for t in towers]
    for a, b in zip(early, full):
        assert b.steps == 1500
        assert np.array_equal(a.pos, b.pos) and np.array_equal(a.quat, b.quat)
