"""MuJoCo physics and headless rendering of block scenes, with one persistent model.

Building a model and a `mujoco.Renderer` costs 50-200 ms, more than simulating a tower,
so each worker process keeps one `World`: a fixed-capacity model with `capacity` free
boxes whose sizes, masses, colours and poses are rewritten per stimulus. Unused boxes are
made invisible, non-colliding and weightless (gravity compensation) and parked far away.
Every per-stimulus setting is rewritten on every call, so a result never depends on
what the world simulated before.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cubeworld.errors import CubeworldError
from cubeworld.stimuli.core.scene import Block, tilt_degrees
from cubeworld.stimuli.core.settings import PhysicsSettings, RenderSettings, RestRule

MISSING_GL_HELP = (
    "MuJoCo could not open a headless OpenGL context through MUJOCO_GL={backend}. Install Mesa's "
    "software EGL: `sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0` "
    "(or run scripts/install.sh), and leave MUJOCO_GL unset or set it to egl."
)

CHECK_INTERVAL = 0.05  # s of simulated time between checks of a simulation's state
PARK_Z = -5.0  # where unused boxes wait, below the floor and out of view


class RenderUnavailable(CubeworldError):
    """Headless rendering is not possible here; the message names the package to install."""


from cubeworld.stimuli.engine.gl import MUJOCO_IMPORTED_WITHOUT_GL  # noqa: E402 - sets MUJOCO_GL first

try:
    import mujoco
except Exception as _e:  # mujoco loads the GL backend on import; a missing library fails here
    raise RenderUnavailable(
        MISSING_GL_HELP.format(backend=os.environ.get("MUJOCO_GL")) + f" ({type(_e).__name__}: {_e})"
    ) from None


@dataclass(frozen=True)
class SimResult:
    """One simulation. Every measure is per block (removed blocks included, they stay
    parked); movements are relative to the state it started from (after position noise).

    It covers the full horizon (`physics.duration`) unless the caller's `stop` rule
    decided the outcome earlier (`stopped_early`: a block past a fall threshold, which
    cannot change any more), or, where only "does something fall?" is still open (see
    `simulate`), a rest rule found every block still (`rested`: then nothing falls; of the
    simulations that label a scene only a standing tower's, whose label the balance check
    already gave, ends at rest, and MuJoCo's sleep is never used). With a
    `settle` time, the whole scene first settles that long and every measure (the start,
    the peaks, the horizon) is taken from the settled state; `settle_move` is what moved
    while it settled. The rest
    measures (`window_move`, `window_tilt`) describe the simulation's last `physics.rest_window`
    seconds, so a block still creeping or tilting at the end of the horizon is seen.
    """

    pos: np.ndarray  # (n, 3) final centre positions (at the stop, if stopped early)
    quat: np.ndarray  # (n, 4) final orientations
    steps: int  # steps simulated
    start: np.ndarray  # (n, 3) centre positions the simulation started from
    peak_move: np.ndarray  # (n,) largest displacement from the start at any check, m
    peak_tilt: np.ndarray  # (n,) largest change of tilt from the start at any check, degrees
    window_move: np.ndarray | None  # (n,) displacement during the last rest window, m (None if stopped early)
    window_tilt: np.ndarray | None  # (n,) change of tilt during the last rest window, degrees
    stopped_early: bool
    settle_move: np.ndarray | None = None  # (n,) displacement while the scene settled (None: no settle)
    rested: bool = False  # ended by a rest rule (`simulate(rest=...)`): nothing moved, so nothing will fall

    @property
    def displacement(self) -> np.ndarray:
        """(n,) final displacement from the start, m."""
        return np.linalg.norm(self.pos - self.start, axis=1)

    def at_rest(self, physics: PhysicsSettings, blocks: Sequence[int] | None = None) -> bool:
        """The rest test: the simulation reached its horizon and, during its last rest window, no
        block (of `blocks`, default all) moved more than `rest_move` nor changed its tilt by
        more than `rest_tilt`. A slow tilt (a pyramid creeping over at 0.5 deg/s) fails it
        however small its total movement is."""
        if self.window_move is None or self.window_tilt is None:
            return False
        idx = slice(None) if blocks is None else list(blocks)
        return bool(
            (self.window_move[idx] <= physics.rest_move).all() and (self.window_tilt[idx] <= physics.rest_tilt).all()
        )


StopRule = Callable[[np.ndarray, np.ndarray], bool]  # (move (n,), tilt change (n,)) -> outcome decided


def _room_xml() -> str:
    grey = 'rgba="0.62 0.62 0.64 1"'
    wall = 'rgba="0.72 0.72 0.74 1" contype="0" conaffinity="0"'
    return f"""
    <geom name="floor" type="plane" size="4 4 0.1" {grey}/>
    <geom name="wall_back" type="box" pos="0 1.6 1.5" size="4 0.02 1.5" {wall}/>
    <geom name="wall_left" type="box" pos="-2.2 0 1.5" size="0.02 4 1.5" {wall}/>
    <geom name="wall_right" type="box" pos="2.2 0 1.5" size="0.02 4 1.5" {wall}/>
    """


def build_xml(capacity: int, resolution: int, render: RenderSettings) -> str:
    """The fixed-capacity MJCF: a grey room, a key light with shadows, `capacity` boxes.

    Rendering choices (measured at 448 px, see the stimuli README): the model's extent is
    fixed at 1 m so that `znear`/`zfar` are metres, and the depth range is kept tight
    (the default 0.01 x extent with unused boxes parked metres away gave a near plane of
    1.6 cm and a far plane of 300 m, and shadow acne); the spot light's shadow map covers
    only `shadow_scale` of its cone, so its texels are under a millimetre on the blocks;
    the image is rendered at `supersample` times the resolution and averaged down, which
    anti-aliases block edges and dissolves what single-texel shadow artefacts remain.
    """
    bodies = "\n".join(
        f'<body name="b{i}" pos="{3 + i} 0 {PARK_Z}" gravcomp="1"><freejoint/>'
        f'<geom name="g{i}" type="box" size="0.05 0.05 0.05" rgba="1 1 1 0"/></body>'
        for i in range(capacity)
    )
    size = resolution * render.supersample
    return f"""
<mujoco model="cubeworld">
  <option timestep="0.002" cone="pyramidal"/>
  <statistic extent="1" center="0 0 0.3"/>
  <visual>
    <global offwidth="{size}" offheight="{size}" fovy="{render.fovy}"/>
    <quality shadowsize="{render.shadow_size}" offsamples="{render.multisamples}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.25 0.25 0.25" specular="0 0 0"/>
    <map znear="{render.znear}" zfar="{render.zfar}" shadowscale="{render.shadow_scale}"/>
  </visual>
  <default><geom solref="0.004 1" friction="0.6 0.005 0.0001"/></default>
  <worldbody>
    <light name="key" pos="1.2 -1.6 3.2" dir="-0.35 0.5 -1" castshadow="true"
           diffuse="0.75 0.75 0.72" specular="0.15 0.15 0.15" cutoff="50" exponent="2"/>
    {_room_xml()}
    {bodies}
  </worldbody>
</mujoco>
"""


class World:
    """One persistent MuJoCo model (+ renderer) for scenes of up to `capacity` boxes."""

    def __init__(self, capacity: int, resolution: int, render: RenderSettings):
        self.capacity = capacity
        self.resolution = resolution
        self.model = mujoco.MjModel.from_xml_string(build_xml(capacity, resolution, render))
        self.data = mujoco.MjData(self.model)
        self._box_geoms = np.array(
            [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, f"g{i}") for i in range(capacity)]
        )
        self._bodies = np.array(
            [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, f"b{i}") for i in range(capacity)]
        )
        self._qadr = np.array([self.model.jnt_qposadr[self.model.body_jntadr[b]] for b in self._bodies])
        # a free joint's first three velocities: the centre's linear velocity, world frame
        self._vadr = np.array([self.model.jnt_dofadr[self.model.body_jntadr[b]] for b in self._bodies])
        self._pos_idx = self._qadr[:, None] + np.arange(3)[None, :]  # (capacity, 3) into qpos
        self._quat_idx = self._qadr[:, None] + 3 + np.arange(4)[None, :]
        self._supersample = render.supersample
        self._renderer: mujoco.Renderer | None = None
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE

    # -- configuration -------------------------------------------------------------
    def _configure(self, blocks: Sequence[Block], physics: PhysicsSettings, hidden: Sequence[int] = ()) -> None:
        if len(blocks) > self.capacity:
            raise ValueError(f"{len(blocks)} blocks exceed the world's capacity {self.capacity}")
        m, d = self.model, self.data
        m.opt.timestep = physics.timestep
        m.opt.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL if physics.cone == "pyramidal" else mujoco.mjtCone.mjCONE_ELLIPTIC
        # Never MuJoCo's sleep: a sleeping body is not integrated, so a slow tilt that put
        # the blocks to sleep would end every later check of the simulation (generator 1.0.0).
        m.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_SLEEP)
        m.geom_friction[:, 0] = physics.friction
        m.geom_solref[:] = physics.solref
        hidden_set = set(hidden)
        mujoco.mj_resetData(m, d)
        for i in range(self.capacity):
            g, b, q = self._box_geoms[i], self._bodies[i], self._qadr[i]
            if i < len(blocks) and i not in hidden_set:
                blk = blocks[i]
                h = blk.half
                m.geom_size[g] = h
                m.geom_rbound[g] = float(np.linalg.norm(h))
                m.geom_aabb[g] = (0.0, 0.0, 0.0, *h)
                m.geom_rgba[g] = (*blk.rgb, 1.0)
                m.geom_contype[g] = 1
                m.geom_conaffinity[g] = 1
                mass = physics.density * float(np.prod(blk.size))
                sx, sy, sz = blk.size
                m.body_mass[b] = mass
                m.body_inertia[b] = (
                    mass * (sy * sy + sz * sz) / 12.0,
                    mass * (sx * sx + sz * sz) / 12.0,
                    mass * (sx * sx + sy * sy) / 12.0,
                )
                m.body_gravcomp[b] = 0.0
            else:
                m.geom_size[g] = (0.05, 0.05, 0.05)
                m.geom_rbound[g] = float(np.sqrt(3) * 0.05)
                m.geom_aabb[g] = (0.0, 0.0, 0.0, 0.05, 0.05, 0.05)
                m.geom_rgba[g] = (1.0, 1.0, 1.0, 0.0)
                m.geom_contype[g] = 0
                m.geom_conaffinity[g] = 0
                m.body_mass[b] = 1.0
                m.body_inertia[b] = (1 / 600, 1 / 600, 1 / 600)
                m.body_gravcomp[b] = 1.0
        mujoco.mj_setConst(m, d)  # masses changed; note: this resets d.qpos to qpos0
        mujoco.mj_resetData(m, d)
        noise = position_noise(blocks, physics.position_noise)
        for i in range(self.capacity):
            q = self._qadr[i]
            if i < len(blocks) and i not in hidden_set:
                d.qpos[q : q + 3] = np.asarray(blocks[i].pos) + noise[i]
                d.qpos[q + 3 : q + 7] = blocks[i].quat
                v = self._vadr[i]
                d.qvel[v : v + 3] = blocks[i].velocity
            else:
                d.qpos[q : q + 3] = (3.0 + i, 0.0, PARK_Z)
                d.qpos[q + 3 : q + 7] = (1.0, 0.0, 0.0, 0.0)
        mujoco.mj_forward(m, d)

    # -- physics -------------------------------------------------------------------
    def _state(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        q = self.data.qpos
        return q[self._pos_idx[:n]].copy(), q[self._quat_idx[:n]].copy()

    def simulate(
        self,
        blocks: Sequence[Block],
        physics: PhysicsSettings,
        removed: Sequence[int] = (),
        stop: StopRule | None = None,
        settle: float = 0.0,
        rest: RestRule | None = None,
        rest_if: StopRule | None = None,
    ) -> SimResult:
        """Simulate `physics.duration` seconds; blocks in `removed` are taken out first.

        With `settle` > 0 every block, the removed ones included, first settles for `settle`
        seconds (the contacts take up the load: stacked blocks sink and spring back by up to
        a few tenths of a millimetre in the first 10-20 ms); then the removed blocks are taken
        out and the horizon starts from that settled state. Measures taken from the settled
        state do not depend on when a transient is looked at (the check interval).

        The state is checked every CHECK_INTERVAL seconds of simulated time. `stop(move,
        tilt)` (per block: displacement from the start in m, change of tilt in degrees) may
        end the simulation at a check once its outcome is decided in the direction that cannot
        change -- a block past a fall threshold. `rest` ends it too once every block not
        removed has been still by that rule (`rested`: nothing will fall), counted only from a
        check at which `rest_if(peak_move, peak_tilt)` holds (default: always). Callers pass
        one only where "does something fall?" is the only question left open: a robustness
        simulation, a standing tower's labelling simulation (its label the balance check's), or
        a pyramid's removal that can no longer be a clean "No" (`rest_if`), so that only "Yes"
        or a rejection is left open.
        """
        m, d = self.model, self.data
        n = len(blocks)
        dt = physics.timestep
        settle_move = None
        if settle > 0:
            self._configure(blocks, physics)
            before = self._state(n)[0]
            mujoco.mj_step(m, d, nstep=max(1, int(round(settle / dt))))
            settle_move = np.linalg.norm(self._state(n)[0] - before, axis=1)
            for i in removed:
                self._take_out(i)
            mujoco.mj_forward(m, d)
        else:
            self._configure(blocks, physics, hidden=removed)
        steps = max(1, int(round(physics.duration / dt)))
        every = max(1, int(round(CHECK_INTERVAL / dt)))
        window_at = max(0, steps - int(round(physics.rest_window / dt)))
        marks = sorted({*range(every, steps, every), window_at, steps} - {0})
        start, quat0 = self._state(n)
        tilt0 = tilt_degrees(quat0)
        peak_move, peak_tilt = np.zeros(n), np.zeros(n)
        window = (start, tilt0) if window_at == 0 else None
        done, stopped, rested, calm = 0, False, False, 0
        if rest is not None:
            if rest.hold:
                raise ValueError("World.simulate applies a rest rule's still test only: give it hold 0")
            kept = [i for i in range(n) if i not in set(removed)]
            velocity_idx = self._vadr[kept][:, None] + np.arange(6)[None, :]
        for mark in marks:
            mujoco.mj_step(m, d, nstep=mark - done)
            done = mark
            pos, quat = self._state(n)
            move = np.linalg.norm(pos - start, axis=1)
            tilt = np.abs(tilt_degrees(quat) - tilt0)
            np.maximum(peak_move, move, out=peak_move)
            np.maximum(peak_tilt, tilt, out=peak_tilt)
            if mark == window_at:
                window = (pos, tilt_degrees(quat))
            if mark < steps and stop is not None and stop(move, tilt):
                stopped = True
                break
            if mark < steps and rest is not None and (rest_if is None or rest_if(peak_move, peak_tilt)):
                calm = calm + 1 if rest.quiet(d.qvel[velocity_idx]) else 0
                if calm >= rest.checks:
                    rested = True
                    break
        pos, quat = self._state(n)
        window_move = window_tilt = None
        if not stopped and not rested and window is not None:
            window_move = np.linalg.norm(pos - window[0], axis=1)
            window_tilt = np.abs(tilt_degrees(quat) - window[1])
        return SimResult(
            pos=pos,
            quat=quat,
            steps=done,
            start=start,
            peak_move=peak_move,
            peak_tilt=peak_tilt,
            window_move=window_move,
            window_tilt=window_tilt,
            stopped_early=stopped,
            settle_move=settle_move,
            rested=rested,
        )

    def _take_out(self, i: int) -> None:
        """Remove box i from a running simulation: no contacts, weightless, parked out of view
        and at rest (as `_configure` leaves an unused box; its mass stays, so nothing that
        `mj_setConst` derives changes). The caller runs `mj_forward` afterwards."""
        m, d = self.model, self.data
        g, b, q, v = self._box_geoms[i], self._bodies[i], self._qadr[i], self._vadr[i]
        m.geom_contype[g] = 0
        m.geom_conaffinity[g] = 0
        m.body_gravcomp[b] = 1.0
        d.qpos[q : q + 3] = (3.0 + i, 0.0, PARK_Z)
        d.qpos[q + 3 : q + 7] = (1.0, 0.0, 0.0, 0.0)
        d.qvel[v : v + 6] = 0.0

    # -- rendering -----------------------------------------------------------------
    def _ensure_renderer(self) -> mujoco.Renderer:
        if self._renderer is None:
            backend = os.environ.get("MUJOCO_GL", "egl")
            try:
                size = self.resolution * self._supersample
                self._renderer = mujoco.Renderer(self.model, size, size)
            except Exception as e:  # the GL libraries raise many types; all mean the same here
                if MUJOCO_IMPORTED_WITHOUT_GL:
                    raise RenderUnavailable(
                        "mujoco was imported before cubeworld.stimuli with MUJOCO_GL unset, so it chose a "
                        "display-based backend; set MUJOCO_GL=egl in the environment (or import "
                        f"cubeworld.stimuli first) ({type(e).__name__}: {e})"
                    ) from None
                raise RenderUnavailable(
                    MISSING_GL_HELP.format(backend=backend) + f" ({type(e).__name__}: {e})"
                ) from None
        return self._renderer

    def render(self, blocks: Sequence[Block], camera: dict, physics: PhysicsSettings) -> np.ndarray:
        """An RGB image (H, W, 3) of the blocks in their initial pose."""
        renderer = self._ensure_renderer()
        self._configure(blocks, physics)
        cam = self._camera
        cam.lookat[:] = camera["lookat"]
        cam.distance = camera["distance"]
        cam.azimuth = camera["azimuth"]
        cam.elevation = camera["elevation"]
        renderer.update_scene(self.data, camera=cam)
        return downsample(renderer.render(), self._supersample)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Average `factor` x `factor` pixel blocks, rounding half up (integer arithmetic, so
    the same on every machine): the supersampled render brought to the set's resolution."""
    if factor == 1:
        return image
    height, width, channels = image.shape
    rows = image[0::factor].astype(np.uint16)  # the rows of each block summed first (contiguous reads) ...
    for dy in range(1, factor):
        rows += image[dy::factor]
    pairs = rows.reshape(height // factor, width // factor, factor, channels)
    total = pairs[:, :, 0].copy()  # ... then the columns
    for dx in range(1, factor):
        total += pairs[:, :, dx]
    cells = factor * factor
    total += cells // 2
    if cells & (cells - 1) == 0:  # a power of two: the same quotient by a shift, several times faster
        total >>= cells.bit_length() - 1
    else:
        total //= cells
    return total.astype(np.uint8)


def position_noise(blocks: Sequence[Block], noise: float) -> np.ndarray:
    """(n, 3) horizontal offsets, each coordinate uniform in [-noise, noise] m, drawn from a
    stream seeded by the scene itself (its block positions), so a perturbed simulation of the
    same scene is always the same and different scenes get different offsets."""
    out = np.zeros((len(blocks), 3))
    if noise <= 0 or not blocks:
        return out
    key = np.round(np.array([b.pos for b in blocks], dtype=float), 6).tobytes()
    rng = np.random.default_rng([zlib.crc32(key), len(blocks)])
    out[:, :2] = rng.uniform(-noise, noise, (len(blocks), 2))
    return out


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB array; fixed encoder settings so equal pixels give equal bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()
