"""The Slurm executor against a real single-node cluster (slurmctld, slurmd, slurmdbd)."""

from __future__ import annotations

import functools
import subprocess
import time

import cloudpickle
import experiments_helpers
import pytest
from experiments_helpers import SLEEP_ENV, plain_body, plain_config, read_all_predictions

from cubeworld.experiments.executors import read_jobs, slurm_states
from cubeworld.experiments.runner import execute_run
from cubeworld.experiments.store import DONE, FAILED, RUNNING
from cubeworld.experiments.study import run_study, study_status

# The plain body lives in the tests' helpers module, which a Slurm job cannot import: send it
# by value.
cloudpickle.register_pickle_by_value(experiments_helpers)
WORK = functools.partial(execute_run, body=plain_body)

pytestmark = pytest.mark.slurm


def test_slurm_gives_the_same_predictions_as_local(tmp_path, slurm_cluster):
    local = tmp_path / "local"
    local.mkdir()
    run_study(plain_config(local), work=WORK, progress=False, report=False)
    remote = tmp_path / "slurm"
    remote.mkdir()
    cfg = plain_config(remote, executor="slurm")
    result = run_study(cfg, work=WORK, progress=False, report=False)
    assert result.ok, result.states
    jobs = read_jobs(remote / "runs/plain/slurm")
    assert len(jobs) == 5 and len({j.split("_")[0] for j in jobs.values()}) == 1  # one array
    assert read_all_predictions(remote / "runs/plain") == read_all_predictions(local / "runs/plain")
    # the runs are done once their folders say so; the jobs end a moment later
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = slurm_states(list(jobs.values()))
        if set(states.values()) == {"COMPLETED"} and len(states) == 5:
            break
        time.sleep(0.5)
    assert set(states.values()) == {"COMPLETED"} and len(states) == 5, states
    assert {r.state for r in study_status(cfg)} == {DONE}
    # a second run submits nothing
    again = run_study(cfg, work=WORK, progress=False, report=False)
    assert again.skipped == 5 and read_jobs(remote / "runs/plain/slurm") == jobs


def test_cancelled_job_is_failed_and_resumable(tmp_path, slurm_cluster, monkeypatch):
    monkeypatch.setenv(SLEEP_ENV, "3")  # sbatch passes the environment on to the job
    cfg = plain_config(tmp_path, seeds=(0,), executor="slurm", epochs=3)
    result = run_study(cfg, work=WORK, progress=False, report=False, wait=False, only=["base/towers"])
    assert list(result.states) == ["base/towers/seed-0"]
    jobs = read_jobs(tmp_path / "runs/plain/slurm")
    job = jobs["base/towers/seed-0"]
    run_dir = tmp_path / "runs/plain/base/towers/seed-0"
    deadline = time.monotonic() + 60
    while not (run_dir / "running.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {r.run_id: r.state for r in study_status(cfg)}["base/towers/seed-0"] == RUNNING
    subprocess.run(["scancel", job], check=True)
    deadline = time.monotonic() + 60
    row = None
    while time.monotonic() < deadline:
        row = {r.run_id: r for r in study_status(cfg)}["base/towers/seed-0"]
        if row.state != RUNNING:
            break
        time.sleep(0.5)
    assert row is not None and row.state == FAILED and "cancelled" in row.detail, row
    monkeypatch.setenv(SLEEP_ENV, "0")
    result = run_study(cfg, work=WORK, progress=False, report=False, only=["base/towers"])
    assert result.ok
    assert read_jobs(tmp_path / "runs/plain/slurm")["base/towers/seed-0"] != job
    assert (run_dir / "predictions/epoch-3/towers-eval.csv").is_file()


def test_slurm_up_and_down_from_the_command_line(tmp_path, slurm_cluster):
    """`cubeworld study slurm-up DIR` leaves a working cluster; slurm-down stops every daemon."""
    import json
    import os
    import sys

    folder = tmp_path / "c"
    cli = [sys.executable, "-m", "cubeworld.cli", "study"]
    up = subprocess.run([*cli, "slurm-up", str(folder)], capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert f"export SLURM_CONF={folder / 'etc/slurm.conf'}" in up.stdout
    pids = json.loads((folder / "cluster.json").read_text())["pids"]
    try:
        env = {**os.environ, "SLURM_CONF": str(folder / "etc/slurm.conf")}
        info = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=env)
        assert info.stdout.strip() == "idle"
    finally:
        down = subprocess.run([*cli, "slurm-down", str(folder)], capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert sorted(down.stdout.split(": ")[1].strip().split(", ")) == sorted(pids)
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"
