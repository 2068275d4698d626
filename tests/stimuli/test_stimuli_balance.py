"""The analytic balance check, and the simulator agreeing with it away from tipping (issue 10:
100% agreement on every kept tower)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cubeworld.stimuli.catalog import default_config
from cubeworld.stimuli.core.scene import Block
from cubeworld.stimuli.families.tower.balance import (
    clip_convex,
    footprint,
    polygon_area,
    signed_distance,
    tower_balance,
)
from cubeworld.stimuli.families.tower.judge import judge_tower
from cubeworld.stimuli.families.tower.sampler import sample_tower


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
    from cubeworld.stimuli.engine.world import World

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
                margin = verdict.balance.margin
                assert abs(margin) < cfg.family.tip_margin or 0 < margin < cfg.family.standing_margin[n]
                continue
            if verdict.reason in ("perturbation_sensitive", "not_at_rest"):
                assert not verdict.falls and verdict.balance.stable  # only standing towers are checked
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
