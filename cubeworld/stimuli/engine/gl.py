"""Which OpenGL backend MuJoCo renders with: headless EGL unless the user chose.

MuJoCo picks its GL backend when it is first imported. `cubeworld.stimuli` imports this
module before anything else, so every process that uses the stage sets `MUJOCO_GL=egl`
before `import mujoco`. If mujoco came in earlier without MUJOCO_GL, it took its default
(GLFW, which needs a display); `MUJOCO_IMPORTED_WITHOUT_GL` remembers that, so a failure
to render can say so instead of blaming EGL.
"""

from __future__ import annotations

import os
import sys

MUJOCO_IMPORTED_WITHOUT_GL = "mujoco" in sys.modules and "MUJOCO_GL" not in os.environ
os.environ.setdefault("MUJOCO_GL", "egl")
