"""Many copies of one scene simulated together: one batched call, each copy stopped once decided.

Why: the physics observer answers an item by simulating N noisy copies of its scene, and a
fit to people needs items x copies x parameter values of them. Simulated one after the
other (`World.simulate`), a copy pays for rewriting the world and for Python between
steps, and a copy that stands runs the full horizon although nothing more happens once its
blocks have come to rest (with the rest rule the mean pilot-tower copy ran 153 of 1500 steps;
the fitting README has the measured speed-ups).

`simulate_copies` runs the copies as one `mujoco.batch.Batch` of the scene's world: the
world is configured once and the copies' initial states are rows of one array written with
numpy (per-copy configuration only where copies differ in size or settle first), the steps
run in C on `threads` threads
(bit-identical to one `MjData` per copy at any thread count, MuJoCo's guarantee), and
between checks (every `CHECK_INTERVAL` s of simulated time, the checks `World.simulate`
makes) each copy's stop rule is asked; a copy whose outcome is decided leaves the batch:

- by its `stop` rule (a block past a fall threshold: the answer cannot change), exactly
  as `World.simulate` stops;
- optionally (`rest`), once every block it simulates has been still (`RestRule`: speed
  and spin below a floor for a number of consecutive checks) or held in place (within a
  fifth of a millimetre for half a second: a block rocking on an edge): nothing moves, so nothing
  will fall. This is the one approximation; its agreement with the full horizon is
  measured (benchmarks/bench_observers.py --only rest) and it is off unless asked for.

Where the time goes (towers of 2-7 blocks, N = 20, cProfile): over 90% in MuJoCo's
batched step, so what is left to gain is in simulating fewer steps, not in Python.

Without `rest` the results equal `World.simulate`'s for each copy, measure by measure.
Copies may differ in their blocks' sizes (per-copy model fields), not in their number of
blocks or in which blocks are removed. Generation never calls this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cubeworld.stimuli.core.scene import Block, tilt_degrees
from cubeworld.stimuli.core.settings import PhysicsSettings, RestRule
from cubeworld.stimuli.engine.world import CHECK_INTERVAL, SimResult, StopRule, World, position_noise

# Model fields `World._configure` derives from a block's sizes: the ones copies may differ in.
SIZE_FIELDS = ("geom_size", "geom_rbound", "geom_aabb", "body_mass", "body_inertia")


@dataclass(frozen=True)
class OutcomeRule:
    """A family's outcome rule for one scene, in the form a batch can apply: the blocks taken
    out before simulating, the rule that may stop a simulation early (a fall, which cannot
    be undone), and the answer (True = "Yes") read from the finished simulation."""

    removed: tuple[int, ...]
    stop: StopRule | None
    verdict: Callable[[SimResult], bool]
    settle: float = 0.0  # seconds every block stands before `removed` are taken out (World.simulate)


@dataclass(frozen=True)
class CopyResult(SimResult):
    """One copy's simulation (`rested` when the rest rule ended it)."""


def _marks(physics: PhysicsSettings) -> tuple[list[int], int, int]:
    """The checks of a simulation (steps after the start), as `World.simulate` makes them."""
    dt = physics.timestep
    steps = max(1, int(round(physics.duration / dt)))
    every = max(1, int(round(CHECK_INTERVAL / dt)))
    window_at = max(0, steps - int(round(physics.rest_window / dt)))
    return sorted({*range(every, steps, every), window_at, steps} - {0}), steps, window_at


def _initial_state(
    world: World, copies: Sequence[Sequence[Block]], physics: PhysicsSettings, removed: Sequence[int], settle: float
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The copies' initial states as rows, (nsim, nq) qpos and (nsim, nv) qvel, and the size
    fields of the copies when they differ in size ({field: (nsim, ...)}; empty when they do
    not), the numbers `World._configure` gives each copy. Leaves `world` configured for
    copies[0] with `removed` hidden: the model the batch copies.

    Why not `_configure` every copy: a copy that differs only in its blocks' poses and
    pushes changes nothing in the model but its state, so the world is configured once and
    each copy's row written with numpy (its blocks' positions plus the world's own
    `position_noise`, orientations, velocities); the per-copy configuration (Python loops,
    `mj_setConst`) is paid only for size noise, which changes masses, and for `settle`,
    which steps every copy before its blocks are taken out."""
    import mujoco

    first = copies[0]
    sizes_differ = any(b.size != a.size for c in copies[1:] for a, b in zip(first, c))
    if settle > 0 or sizes_differ:
        qpos_rows, qvel_rows, per_copy = [], [], []
        for blocks in copies:
            if settle > 0:
                world._configure(blocks, physics)
                mujoco.mj_step(world.model, world.data, nstep=max(1, int(round(settle / physics.timestep))))
                for i in removed:
                    world._take_out(i)
                mujoco.mj_forward(world.model, world.data)
            else:
                world._configure(blocks, physics, hidden=removed)
            qpos_rows.append(world.data.qpos.copy())
            qvel_rows.append(world.data.qvel.copy())
            per_copy.append({name: getattr(world.model, name).copy() for name in SIZE_FIELDS})
        world._configure(first, physics, hidden=removed)
        fields = {
            name: np.stack([f[name] for f in per_copy])
            for name in SIZE_FIELDS
            if any(not np.array_equal(f[name], per_copy[0][name]) for f in per_copy)
        }
        return np.stack(qpos_rows), np.stack(qvel_rows), fields
    world._configure(first, physics, hidden=removed)
    shown = np.array([i for i in range(len(first)) if i not in set(removed)], dtype=int)
    qpos = np.tile(world.data.qpos, (len(copies), 1))  # hidden blocks parked as the world parks them
    qvel = np.tile(world.data.qvel, (len(copies), 1))
    if shown.size:
        pos = np.array([[b.pos for b in blocks] for blocks in copies], dtype=float)
        pos += np.stack([position_noise(blocks, physics.position_noise) for blocks in copies])
        quat = np.array([[b.quat for b in blocks] for blocks in copies], dtype=float)
        vel = np.array([[b.velocity for b in blocks] for blocks in copies], dtype=float)
        qpos[:, world._pos_idx[shown]] = pos[:, shown]
        qpos[:, world._quat_idx[shown]] = quat[:, shown]
        qvel[:, world._vadr[shown, None] + np.arange(3)] = vel[:, shown]
    return qpos, qvel, {}


def simulate_copies(
    world: World,
    copies: Sequence[Sequence[Block]],
    physics: PhysicsSettings,
    *,
    removed: Sequence[int] = (),
    settle: float = 0.0,
    stops: Sequence[StopRule | None] | None = None,
    rest: RestRule | None = None,
    threads: int = 1,
) -> list[CopyResult]:
    """Simulate every copy (a list of blocks, all of one length) in `world`'s model as one
    batch; `stops[k]` may end copy k early as `World.simulate`'s `stop` does, `rest` ends a
    copy that has come to rest. `settle` > 0: each copy first stands `settle` seconds with
    every block, then `removed` are taken out, as `World.simulate(settle=...)` does, and
    movement is measured from that settled state. Returns one result per copy, in order."""
    from mujoco.batch import Batch

    if not copies:
        return []
    n = len(copies[0])
    if any(len(c) != n for c in copies):
        raise ValueError("every copy of a batch must have the same number of blocks")
    stops = list(stops) if stops is not None else [None] * len(copies)
    if len(stops) != len(copies):
        raise ValueError(f"{len(stops)} stop rules for {len(copies)} copies")
    nsim = len(copies)
    model = world.model
    qpos, qvel, fields = _initial_state(world, copies, physics, removed, settle)
    batch = Batch(model, nsim, max(1, int(threads)))  # copies the model, configured for copies[0]
    if fields:
        for name, per_copy_values in fields.items():
            batch.expand(name)[:] = per_copy_values
        batch.set_const()
    batch.bind("qpos")[:] = qpos
    batch.bind("qvel")[:] = qvel
    state_qpos, state_qvel = batch.bind("qpos"), batch.bind("qvel")

    pos_idx, quat_idx = world._pos_idx[:n], world._quat_idx[:n]
    vadr = world._vadr[:n]
    moving = np.array([i for i in range(n) if i not in set(removed)], dtype=int)
    start = state_qpos[:, pos_idx].copy()  # (nsim, n, 3)
    tilt0 = tilt_degrees(state_qpos[:, quat_idx].reshape(-1, 4)).reshape(nsim, n)
    peak_move, peak_tilt = np.zeros((nsim, n)), np.zeros((nsim, n))
    window: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    marks, steps, window_at = _marks(physics)
    if window_at == 0:
        window = {k: (start[k], tilt0[k]) for k in range(nsim)}
    calm = np.zeros(nsim, dtype=int)  # consecutive quiet checks (rest rule)
    held = np.zeros(nsim, dtype=int)  # checks each copy has stayed near its anchor (rest rule's hold)
    anchor_pos, anchor_tilt = start.copy(), tilt0.copy()
    active = np.arange(nsim)
    ended: dict[int, tuple[int, bool, bool]] = {}  # copy -> (steps, stopped early, at rest)
    done = 0
    for mark in marks:  # marks are ints; numpy scalars below are read with int()
        if active.size == 0:
            break
        batch.step(ids=active.astype(np.int32), nstep=mark - done)
        done = mark
        q = state_qpos[active]
        pos = q[:, pos_idx]
        quat = q[:, quat_idx]
        tilt_now = tilt_degrees(quat.reshape(-1, 4)).reshape(len(active), n)
        move = np.linalg.norm(pos - start[active], axis=2)
        tilt = np.abs(tilt_now - tilt0[active])
        peak_move[active] = np.maximum(peak_move[active], move)
        peak_tilt[active] = np.maximum(peak_tilt[active], tilt)
        if mark == window_at:
            for j, k in enumerate(active.tolist()):
                window[int(k)] = (pos[j].copy(), tilt_now[j].copy())
        if mark >= steps:
            for k in active.tolist():
                ended[int(k)] = (mark, False, False)
            active = active[:0]
            break
        still = np.zeros(len(active), dtype=bool)
        if rest is not None:
            v = state_qvel[active]
            quiet = rest.quiet(v[:, vadr[moving][:, None] + np.arange(6)])
            calm[active] = np.where(quiet, calm[active] + 1, 0)
            still = calm[active] >= rest.checks
            if rest.hold > 0:
                near = (np.linalg.norm(pos - anchor_pos[active], axis=2)[:, moving] <= rest.hold_move).all(axis=1)
                near &= (np.abs(tilt_now - anchor_tilt[active])[:, moving] <= rest.hold_tilt).all(axis=1)
                held[active] = np.where(near, held[active] + 1, 0)
                anchor_pos[active[~near]], anchor_tilt[active[~near]] = pos[~near], tilt_now[~near]
                still |= held[active] >= rest.hold
        keep = []
        for j, k in enumerate(active.tolist()):
            rule = stops[int(k)]
            if rule is not None and rule(move[j], tilt[j]):
                ended[int(k)] = (mark, True, False)
            elif still[j]:
                ended[int(k)] = (mark, False, True)
            else:
                keep.append(j)
        active = active[keep]
    out = []
    final = state_qpos
    for k in range(nsim):
        at, stopped, at_rest = ended[k]
        pos_k, quat_k = final[k, pos_idx].copy(), final[k, quat_idx].copy()
        window_move = window_tilt = None
        if not stopped and not at_rest and k in window:
            window_move = np.linalg.norm(pos_k - window[k][0], axis=1)
            window_tilt = np.abs(tilt_degrees(quat_k) - window[k][1])
        out.append(
            CopyResult(
                pos=pos_k,
                quat=quat_k,
                steps=at,
                start=start[k].copy(),
                peak_move=peak_move[k].copy(),
                peak_tilt=peak_tilt[k].copy(),
                window_move=window_move,
                window_tilt=window_tilt,
                stopped_early=stopped,
                rested=at_rest,
            )
        )
    return out
