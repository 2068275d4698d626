"""Copies of a scene simulated as one MuJoCo batch answer exactly as one at a time."""

from __future__ import annotations

import pytest

from cubeworld.formats.sets import load_set
from cubeworld.observers.noisy_newton import _rng, noisy_scene
from cubeworld.stimuli.engine.batch import RestRule
from cubeworld.stimuli.families import get_family


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    from cubeworld.stimuli import generate_set

    root = tmp_path_factory.mktemp("batch")
    towers = generate_set("tower", [4], 2, 41, root / "towers", resolution=32, progress=False, workers=1)
    pyramids = generate_set("pyramid", [3], 2, 42, root / "pyramids", resolution=32, progress=False, workers=1)
    return [r for d in (towers, pyramids) for r in load_set(d).rows]


def test_a_batch_of_noisy_copies_answers_as_one_at_a_time(rows):
    """Without the rest rule the batch is the same physics step for step: the same answers;
    with it (a copy at rest leaves the batch) the answers agree on these scenes too."""
    seen = set()
    for row in rows:
        family = get_family(row.domain)
        copies = [noisy_scene(row.extra["scene"], _rng(3, row.stimulus_id, k), 0.2, 0.05, 50, 0.05) for k in range(6)]
        one = [family.answer_by_simulation(c) for c in copies]
        assert family.answer_copies(copies) == one
        assert family.answer_copies(copies, rest=RestRule(), threads=2) == one
        seen.update(one)
    assert seen == {True, False}  # both answers occur: the comparison can fail


def test_copies_start_from_the_rows_the_world_configures_them_with(rows):
    """The batch writes each copy's initial state with numpy from one configured world; the
    rows equal `World._configure`'s for every copy (positions, world position noise,
    orientations, pushes), bit for bit."""
    import dataclasses

    import numpy as np

    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.batch import _initial_state
    from cubeworld.stimuli.engine.worlds import simulation_world

    physics = dataclasses.replace(shared_defaults().physics, position_noise=0.004)
    row = rows[0]
    copies = [
        Scene.from_record(noisy_scene(row.extra["scene"], _rng(5, row.stimulus_id, k), 0.2, 0.0, 50, 0.05)).blocks
        for k in range(4)
    ]
    world = simulation_world(len(copies[0]))
    for removed in ((), (1,)):
        qpos, qvel, fields = _initial_state(world, copies, physics, removed, 0.0)
        assert fields == {}
        for k, blocks in enumerate(copies):
            world._configure(blocks, physics, hidden=removed)
            assert np.array_equal(qpos[k], world.data.qpos) and np.array_equal(qvel[k], world.data.qvel)


def test_the_held_test_ends_a_standing_copy_that_the_speed_test_never_would(rows):
    """With a speed floor no copy can pass (0 m/s), only the held test ends a standing tower
    early: within 0.2 mm and 0.1 degrees for 10 checks it leaves the batch, answering No, long
    before the horizon; without the held test it runs the full horizon."""
    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.batch import simulate_copies
    from cubeworld.stimuli.engine.worlds import simulation_world

    physics = shared_defaults().physics
    family = get_family("tower")
    row = next(r for r in rows if r.domain == "tower" and not r.falls)
    spec = Scene.from_record(row.extra["scene"])
    rule = family.outcome_rule(spec, family.default_settings())
    world = simulation_world(len(spec.blocks))
    horizon = int(round(physics.duration / physics.timestep))
    held, never = (
        simulate_copies(world, [spec.blocks], physics, stops=[rule.stop], rest=RestRule(speed=0, spin=0, hold=hold))[0]
        for hold in (10, 0)
    )
    assert held.rested and held.steps < horizon / 4 and not rule.verdict(held)
    assert not never.rested and never.steps == horizon and not rule.verdict(never)
