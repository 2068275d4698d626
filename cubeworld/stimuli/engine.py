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
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cubeworld.errors import CubeworldError
from cubeworld.stimuli.config import PhysicsSettings, RenderSettings
from cubeworld.stimuli.scene import Block

MISSING_GL_HELP = (
    "MuJoCo could not open a headless OpenGL context through MUJOCO_GL={backend}. Install Mesa's "
    "software EGL: `sudo apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0` "
    "(or run scripts/install.sh), and leave MUJOCO_GL unset or set it to egl."
)

CHECK_EVERY = 50  # steps between checks whether every body sleeps
PARK_Z = -5.0  # where unused boxes wait, below the floor and out of view


class RenderUnavailable(CubeworldError):
    """Headless rendering is not possible here; the message names the package to install."""


os.environ.setdefault("MUJOCO_GL", "egl")  # must precede `import mujoco`
try:
    import mujoco
except Exception as _e:  # mujoco loads the GL backend on import; a missing library fails here
    raise RenderUnavailable(
        MISSING_GL_HELP.format(backend=os.environ.get("MUJOCO_GL")) + f" ({type(_e).__name__}: {_e})"
    ) from None


@dataclass(frozen=True)
class SimResult:
    pos: np.ndarray  # (n, 3) final centre positions
    quat: np.ndarray  # (n, 4) final orientations
    steps: int


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
    """The fixed-capacity MJCF: a grey room, a key light with shadows, `capacity` boxes."""
    bodies = "\n".join(
        f'<body name="b{i}" pos="{3 + i} 0 {PARK_Z}" gravcomp="1"><freejoint/>'
        f'<geom name="g{i}" type="box" size="0.05 0.05 0.05" rgba="1 1 1 0"/></body>'
        for i in range(capacity)
    )
    return f"""
<mujoco model="cubeworld">
  <option timestep="0.002" cone="pyramidal"/>
  <visual>
    <global offwidth="{resolution}" offheight="{resolution}" fovy="{render.fovy}"/>
    <quality shadowsize="{render.shadow_size}" offsamples="{render.multisamples}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.25 0.25 0.25" specular="0 0 0"/>
    <map znear="0.01" zfar="20"/>
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
        if physics.sleep:
            m.opt.enableflags |= int(mujoco.mjtEnableBit.mjENBL_SLEEP)
        else:
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
        for i in range(self.capacity):
            q = self._qadr[i]
            if i < len(blocks) and i not in hidden_set:
                d.qpos[q : q + 3] = blocks[i].pos
                d.qpos[q + 3 : q + 7] = blocks[i].quat
            else:
                d.qpos[q : q + 3] = (3.0 + i, 0.0, PARK_Z)
                d.qpos[q + 3 : q + 7] = (1.0, 0.0, 0.0, 0.0)
        mujoco.mj_forward(m, d)

    # -- physics -------------------------------------------------------------------
    def simulate(self, blocks: Sequence[Block], physics: PhysicsSettings, removed: Sequence[int] = ()) -> SimResult:
        """Simulate `physics.duration` seconds; blocks in `removed` are taken out first."""
        self._configure(blocks, physics, hidden=removed)
        m, d = self.model, self.data
        steps = int(round(physics.duration / physics.timestep))
        done = 0
        while done < steps:
            chunk = min(CHECK_EVERY, steps - done)
            mujoco.mj_step(m, d, nstep=chunk)
            done += chunk
            if physics.sleep and d.ntree_awake == 0:
                # Everything sleeps: sleeping bodies are not integrated, so the state is
                # final and the remaining steps would not change a bit of it.
                break
        n = len(blocks)
        pos = np.array([d.qpos[self._qadr[i] : self._qadr[i] + 3] for i in range(n)])
        quat = np.array([d.qpos[self._qadr[i] + 3 : self._qadr[i] + 7] for i in range(n)])
        return SimResult(pos=pos, quat=quat, steps=done)

    # -- rendering -----------------------------------------------------------------
    def _ensure_renderer(self) -> mujoco.Renderer:
        if self._renderer is None:
            backend = os.environ.get("MUJOCO_GL", "egl")
            try:
                self._renderer = mujoco.Renderer(self.model, self.resolution, self.resolution)
            except Exception as e:  # the GL libraries raise many types; all mean the same here
                from cubeworld.stimuli import MUJOCO_IMPORTED_WITHOUT_GL

                if MUJOCO_IMPORTED_WITHOUT_GL:
                    raise RenderUnavailable(
                        "mujoco was imported before cubeworld.stimuli with MUJOCO_GL unset, so it chose a "
                        "display-based backend; set MUJOCO_GL=egl in the environment (or import "
                        f"cubeworld.stimuli first) ({type(e).__name__}: {e})"
                    ) from None
                raise RenderUnavailable(MISSING_GL_HELP.format(backend=backend) + f" ({type(e).__name__}: {e})") from None
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
        return renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an RGB array; fixed encoder settings so equal pixels give equal bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()
