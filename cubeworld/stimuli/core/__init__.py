"""The bottom floor of the stimuli stage: what a scene and a set's settings are, as data.

- `scene`: `Block` and `Scene`, the plain data a sampler draws, a row records and the
  engine simulates;
- `settings`: the shared physics and render settings (`defaults.yaml`) and `SetConfig`,
  a set's settings (the shared ones and its own family's);
- `perturbations`: the documented list of perturbed physics the audits re-simulate under.

Nothing here imports the engine, a family or the pipeline.
"""
