"""A study whose executor is Slurm generates its sets on Slurm (shards as a job array, merged
by the preparing process): the same bytes as the set generated on one machine."""

from __future__ import annotations

import subprocess
import time

import pytest

from cubeworld.experiments.config import load_config
from cubeworld.experiments.prepare import needed_sets, prepare_sets
from cubeworld.stimuli import generate_set

pytestmark = pytest.mark.slurm

STUDY = """\
name: cluster-sets
runs_dir: runs
models:
  tiny: {source: tiny}
sets:
  gen: {domain: tower, sizes: [2, 3], per_size: 2, seed: 13, resolution: 32}
conditions:
  zero-shot: {zero_shot: true}
evaluation: [gen]
seeds: [0]
executor:
  kind: slurm
  slurm: {gpus_per_node: 0, cpus_per_task: 1, mem_gb: 1, timeout_min: 10, poll_s: 0.5}
"""


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_slurm_study_generates_its_sets_on_slurm(tmp_path, slurm_cluster):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY)
    cfg = load_config(path)
    made = prepare_sets(cfg, needed_sets(cfg), progress=False, executor=cfg.executor.kind)["gen"]
    local = generate_set(
        "tower", [2, 3], 2, 13, tmp_path / "local", resolution=32, workers=1, progress=False, name="gen"
    )
    assert _files(made) == _files(local)
    deadline = time.monotonic() + 60
    while True:  # the shard jobs are in Slurm's accounting, named after the set
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobName,State"], capture_output=True, text=True
        ).stdout.split()
        mine = [line for line in out if line.startswith("cubeworld-generate-gen|")]
        if mine and all(line.endswith("|COMPLETED") for line in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert mine and all(line.endswith("|COMPLETED") for line in mine), out
