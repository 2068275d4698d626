"""A worker process that dies mid-run (SIGKILL, as a native crash or the OOM killer would)
never hangs generation: its candidates are evaluated again in a fresh pool, giving the
same bytes; a second loss ends the run with a one-line error, and the folder resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from make_reference import REFERENCE_SETS, fingerprint

from cubeworld.stimuli import StimuliError, generate_set
from cubeworld.stimuli.pipeline.pool import WorkerLost

LIMIT_S = 240  # a hang would block forever; anything slower than this is a failure


def _worker_pids(parent: int | None = None) -> set[int]:
    """Live pool workers (spawned children running `spawn_main`) of `parent` (this process)."""
    me, found = parent or os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z" and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def _generate_killing(out: Path, kills: int) -> tuple[BaseException | None, int]:
    """Generate the towers-64 reference set with 2 workers in a thread and SIGKILL one worker
    of each new pool as soon as it starts, `kills` times. Returns (error, kills made)."""
    domain, sizes, per_size, seed, resolution = REFERENCE_SETS["towers-64"]
    outcome: dict[str, BaseException | None] = {"error": None}

    def run() -> None:
        try:
            generate_set(domain, sizes, per_size, seed, out, resolution=resolution, workers=2, progress=False)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = e

    earlier = _worker_pids()  # workers of other tests, if any: never touched
    hit: set[int] = set()  # workers of the pools already hit
    killed = 0
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + LIMIT_S
    while thread.is_alive() and time.monotonic() < deadline:
        if killed < kills and _worker_pids() - earlier - hit:
            time.sleep(0.05)  # a pool starts its workers together; take them all as one pool
            pool = _worker_pids() - earlier - hit
            os.kill(min(pool), signal.SIGKILL)  # mid-run: the pool has candidates in flight
            hit |= pool
            killed += 1
        time.sleep(0.01)
    thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not thread.is_alive(), f"generation still running after {LIMIT_S} s: it hangs"
    return outcome["error"], killed


def test_a_killed_worker_is_replaced_and_the_bytes_do_not_change(tmp_path, reference_hashes):
    with pytest.warns(WorkerLost, match=r"a worker process died; evaluating size 2, candidates \[0, "):
        error, kills = _generate_killing(tmp_path / "set", kills=1)
    assert error is None and kills == 1
    assert fingerprint(tmp_path / "set") == reference_hashes["towers-64"]


def test_a_second_loss_is_a_clear_error_and_the_run_resumes(tmp_path, reference_hashes):
    out = tmp_path / "set"
    with pytest.warns(WorkerLost):
        error, kills = _generate_killing(out, kills=2)
    assert kills == 2
    assert isinstance(error, StimuliError), error
    message = str(error)
    assert "\n" not in message
    assert message.startswith("a worker process died twice while evaluating size 2, candidates [0, ")
    assert "run the same command again to resume" in message
    domain, sizes, per_size, seed, resolution = REFERENCE_SETS["towers-64"]
    generate_set(domain, sizes, per_size, seed, out, resolution=resolution, workers=1, progress=False)
    assert fingerprint(out) == reference_hashes["towers-64"]


def test_workers_end_with_a_killed_generator(tmp_path):
    """SIGKILL the generating process: its workers do not linger as orphans."""
    out = tmp_path / "set"
    cmd = [
        sys.executable,
        "-m",
        "cubeworld.cli",
        "generate",
        "towers",
        "--sizes",
        "2-7",
        "--per-size",
        "20",
        "--seed",
        "3",
        "--resolution",
        "32",
        "--workers",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers |= _worker_pids(proc.pid)
            if len(workers) == 2 and (out / "metadata.jsonl").is_file():
                break
            time.sleep(0.01)
        assert proc.poll() is None and len(workers) == 2, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
            time.sleep(0.05)
        alive = [
            pid
            for pid in workers
            if Path(f"/proc/{pid}").exists()
            and (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")
        ]
        assert not alive, f"workers {alive} outlived their generator"
    finally:
        if proc.poll() is None:
            proc.kill()
