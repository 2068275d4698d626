"""One MuJoCo world per process for re-simulating recorded scenes.

The physics observer asks `family.answer_by_simulation(scene)` for item after item;
building a MuJoCo model costs more than simulating a tower, so each process keeps one
world per scene size and reuses it (generation simulates each scene in a world of exactly
its size too, so a re-simulation is the same computation). `World` rewrites every per-scene setting on each call,
so an answer never depends on what the world simulated before. No renderer is made.
"""

from __future__ import annotations

from functools import cache

SIMULATION_RESOLUTION = 16  # the offscreen buffer size in the model; nothing is rendered


@cache
def simulation_world(capacity: int):
    """The process's world with room for `capacity` boxes."""
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.world import World

    return World(capacity, SIMULATION_RESOLUTION, shared_defaults().render)
