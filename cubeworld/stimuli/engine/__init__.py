"""The engine floor of the stimuli stage: what every family simulates and renders with.

- `world`: one persistent MuJoCo model (+ renderer) per process: full-horizon simulations
  with stop rules and the rest test's measures, supersampled rendering, PNG encoding;
- `worlds`: the per-process worlds that re-simulate recorded scenes;
- `frame`: block corners projected through the camera (the frame check);
- `palette`: block colours (none near the pyramids' red);
- `gl`: the headless OpenGL backend, chosen before mujoco is imported.

It sits above the scene and settings types (`cubeworld.stimuli.core`) and below every
family; it never imports a family. Importing this package loads no numpy or mujoco.
"""
