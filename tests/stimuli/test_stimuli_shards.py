"""Sets generated in shards (the Slurm executor's way: ranges of candidates evaluated apart,
merged in candidate order) are byte for byte the sets one machine makes; a killed shard
resumes where it stopped; on the real single-node Slurm cluster the shards run as a job
array, and a shard whose job dies is submitted again and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.stimuli import generate_set
from cubeworld.stimuli.pipeline.cluster import InProcessShards, SlurmExecutor, SlurmOptions, SlurmShards
from cubeworld.stimuli.pipeline.folder import SHARDS_DIR
from cubeworld.stimuli.pipeline.shards import RESULTS_FILE, Shard, evaluate_shard

runner = CliRunner()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_set_made_in_small_shards_is_the_one_machine_set(reference_sets, tmp_path):
    """Dominoes (a quota per cause) in shards of 5 candidates, the first round planned from a
    guess far too low: several rounds, each consumed in order; the folder ends byte for byte
    the reference set's, with no trace of the shards."""
    reference = reference_sets["dominoes-64"]
    card = json.loads((reference / "dataset.json").read_text())
    executor = SlurmExecutor(
        SlurmOptions(shard_candidates=5, candidates_per_item=1.0), progress=False, backend=InProcessShards()
    )
    out = generate_set("domino", "3,6", 6, 5, tmp_path / "sharded", resolution=64, executor=executor, progress=False)
    assert not (out / SHARDS_DIR).exists()
    assert _files(out) == _files(reference)
    assert card["candidates_evaluated"] == json.loads((out / "dataset.json").read_text())["candidates_evaluated"]


def _run_shard_in_a_process(out: Path, shard: Shard) -> subprocess.Popen:
    code = f"from cubeworld.stimuli.pipeline.shards import evaluate_shard; evaluate_shard({str(out)!r}, {shard.size}, {shard.start}, {shard.stop})"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_a_killed_shard_resumes_after_its_last_result(reference_sets, tmp_path):
    """SIGKILL a shard's process mid-way (a job killed by the scheduler); evaluated again it
    continues after its last complete result and ends with the results of a shard never killed."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for out in (whole, killed):  # a set under way: all a shard reads is its card
        out.mkdir()
        (out / "dataset.json").write_bytes((reference_sets["towers-64"] / "dataset.json").read_bytes())
    shard = Shard(4, 0, 24)
    evaluate_shard(str(whole), 4, 0, 24)
    proc = _run_shard_in_a_process(killed, shard)
    results = shard.folder(killed) / RESULTS_FILE
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(results.read_text().splitlines())
    assert 3 <= done < 24, done  # killed mid-way
    evaluate_shard(str(killed), 4, 0, 24)
    assert _files(shard.folder(killed)) == _files(shard.folder(whole))


def test_slurm_without_sbatch_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "set"
    res = runner.invoke(
        app, ["generate", "towers", "--per-size", "2", "--seed", "1", "--out", str(out), "--executor", "slurm"]
    )
    assert res.exit_code == 2
    assert res.output.strip() == "error: --executor slurm: no sbatch on PATH; run it where Slurm jobs are submitted"
    assert not out.exists()


# -- the real Slurm cluster ---------------------------------------------------------------------


def _dies_once(out: str, size: int, start: int, stop: int, workers: int = 1) -> str:
    """A shard job that is SIGKILLed after its third result the first time it runs (marker
    file), as a node lost or a job killed at its time limit would be."""
    import os
    import signal
    from pathlib import Path

    from cubeworld.stimuli.pipeline import shards

    marker = Path(out).parent / f"died-{size}-{start}"
    if not marker.exists():
        marker.touch()
        write, count = shards.append_jsonl, [0]

        def append_then_die(path, entry):
            write(path, entry)
            count[0] += 1
            if count[0] == 3:
                os.kill(os.getpid(), signal.SIGKILL)

        shards.append_jsonl = append_then_die
    return shards.evaluate_shard(out, size, start, stop, workers)


cloudpickle.register_pickle_by_value(sys.modules[__name__])  # a Slurm job cannot import this test module


@pytest.mark.slurm
def test_a_set_made_on_slurm_is_the_one_machine_set(slurm_cluster, tmp_path):
    """Shards as a real job array; every job of the first round is killed once mid-shard and
    submitted again; the merged set is byte for byte the one made here."""
    local = generate_set("tower", "2,3", 4, 11, tmp_path / "local", resolution=32, workers=1, progress=False)
    options = SlurmOptions(shard_candidates=8, candidates_per_item=2.0, cpus_per_task=1, mem_gb=1, poll_s=0.5)
    executor = SlurmExecutor(options, progress=False, backend=SlurmShards(options, job=_dies_once))
    made = generate_set("tower", "2,3", 4, 11, tmp_path / "slurm", resolution=32, executor=executor, progress=False)
    assert _files(made) == _files(local)
    died = sorted(p.name for p in tmp_path.glob("died-*"))
    assert died and all(name.startswith(("died-2-", "died-3-")) for name in died)
    deadline = time.monotonic() + 60  # the jobs end a moment after their results are written
    while True:
        jobs = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "--name", "cubeworld-generate-towers-2.3-x4-s11"],
            capture_output=True,
            text=True,
        ).stdout.split()
        states = [line.split("|")[1].split()[0] for line in jobs]
        settled = not {"PENDING", "RUNNING", "COMPLETING"} & set(states)
        # slurmdbd records a job a moment after it ends: wait until the second round is there too
        recorded = states.count("COMPLETED") >= len(died) and len(states) - states.count("COMPLETED") >= len(died)
        if (settled and recorded) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # every shard that died once ran twice: a job that failed, then one that completed
    assert states.count("COMPLETED") >= len(died) and len(states) - states.count("COMPLETED") >= len(died), jobs
