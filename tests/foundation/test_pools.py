"""Worker pools never hang on a dead worker (issue 13, item 13): the lost calls are run once
more, and a second death is a clear error naming what is left. Workers never outlive the
process that started them (issue 23, item 1). Real processes, real SIGKILLs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pool_helpers import square_or_die

from cubeworld.pools import WorkerDied, run_calls

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.mark.timeout(120)
def test_a_killed_worker_is_survived_with_the_same_results(tmp_path):
    marker = tmp_path / "died"
    seen = []
    out = run_calls(
        square_or_die, [(x, 5, str(marker)) for x in range(12)], workers=2, on_result=lambda i, r: seen.append(i)
    )
    assert marker.exists()  # a worker really died
    assert out == [x * x for x in range(12)]
    assert sorted(seen) == list(range(12))


@pytest.mark.timeout(120)
def test_a_second_death_is_an_error_naming_the_items():
    with pytest.raises(WorkerDied, match=r"physics: a worker process died twice; .*item-5"):
        run_calls(
            square_or_die, [(x, 5, "") for x in range(8)], workers=2, name_of=lambda i: f"item-{i}", what="physics"
        )


def test_one_worker_runs_in_this_process():
    assert run_calls(pow, [(2, 3), (3, 2)], workers=1) == [8, 9]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_parent_and_watch(body: str, workers: int) -> list[int]:
    """Start `body` in a fresh Python, wait until its worker processes run, SIGKILL it, and
    return the pids of its descendants still alive 10 s later."""
    script = f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(REPO)!r}]\n{body}"
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 90
        family: list[psutil.Process] = []
        while time.monotonic() < deadline:
            family = [c for c in psutil.Process(parent.pid).children(recursive=True) if _alive(c)]
            workers_up = [c for c in family if "multiprocessing" in " ".join(c.cmdline())]
            if len(workers_up) >= workers:
                time.sleep(1.0)  # the workers have started their calls
                family = psutil.Process(parent.pid).children(recursive=True)
                break
            assert parent.poll() is None, "the parent ended before its workers started"
            time.sleep(0.1)
        else:
            pytest.fail("the workers did not start")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        end = time.monotonic() + 10
        while time.monotonic() < end and any(_alive(c) for c in family):
            time.sleep(0.2)
        return [c.pid for c in family if _alive(c)]
    finally:
        for c in psutil.Process().children(recursive=True):
            if c.pid != parent.pid and c.pid in {p.pid for p in family} and _alive(c):
                c.kill()  # never leave this test's own orphans behind, whatever happened


@pytest.mark.timeout(180)
def test_pool_workers_die_with_their_killed_parent():
    """`run_calls` (the physics observer, `audit --physics`): SIGKILL the command, and no
    process it started survives 10 s."""
    body = (
        "from pool_helpers import nap\nfrom cubeworld.pools import run_calls\nrun_calls(nap, [(60,)] * 4, workers=2)\n"
    )
    assert _kill_parent_and_watch(body, workers=2) == []


@pytest.mark.timeout(180)
def test_image_decoding_workers_die_with_their_killed_parent():
    """`prefetch` (`evaluate` / `finetune --workers N`): the same, with spawned workers."""
    body = (
        "from pool_helpers import slow_encode\n"
        "from cubeworld.models.inputs import prefetch\n"
        "list(prefetch([[i] for i in range(8)], slow_encode, num_workers=2))\n"
    )
    assert _kill_parent_and_watch(body, workers=2) == []
