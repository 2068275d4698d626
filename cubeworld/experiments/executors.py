"""Where runs are done: here, one after another, or as one Slurm job array via submitit.

Why two executors behind one call: a study is the same list of `RunTask`s either way, and
both leave the same run folders, so `study status` and `study report` do not care which
one did the work, and a study may start locally and finish on a cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from cubeworld.errors import CubeworldError
from cubeworld.experiments.config import SlurmSpec
from cubeworld.experiments.runner import RunTask, execute_run
from cubeworld.experiments.store import DONE, FAILED, RUNNING, TODO, RunSpec, local_state
from cubeworld.formats.atomic import atomic_write_json

Work = Callable[..., str]

# sacct states: anything but these two groups counts as failed (and resumable).
SLURM_ACTIVE = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "CONFIGURING",
    "COMPLETING",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
}
SLURM_COMPLETED = {"COMPLETED"}


def run_local(
    tasks: Sequence[RunTask],
    work: Work = execute_run,
    *,
    progress: bool = True,
    keep_going: bool = True,
    busy: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Do the runs in order here; a failing run is recorded and the next one started.

    Returns run id -> "done" / "failed" / "running" (for the `busy` runs, which another
    process or job is doing: skipped). Ctrl-C stops at once (the run resumes later).
    """
    results: dict[str, str] = {}
    bar = tqdm(total=len(tasks), desc="study", unit="run", disable=not progress, position=0)
    for task in tasks:
        bar.set_postfix_str(task.spec.run_id)
        if task.spec.run_id in busy:  # another `study run` (or a Slurm job) is on it
            tqdm.write(f"[study] run {task.spec.run_id} is running elsewhere: skipped")
            results[task.spec.run_id] = RUNNING
            bar.update(1)
            continue
        try:
            work(task)
            results[task.spec.run_id] = DONE
        except KeyboardInterrupt:
            raise
        except Exception as e:  # noqa: BLE001 - the run folder holds the traceback
            results[task.spec.run_id] = FAILED
            tqdm.write(f"[study] run {task.spec.run_id} failed: {type(e).__name__}: {e}")
            if not keep_going:
                raise
        bar.update(1)
    bar.close()
    return results


# -- Slurm -----------------------------------------------------------------------------


class SlurmSubmitError(CubeworldError):
    """sbatch is missing or refused the job array; the message says why."""


def _jobs_file(folder: Path) -> Path:
    return folder / "jobs.json"


def read_jobs(folder: Path) -> dict[str, str]:
    """run id -> Slurm job id of the last submission of that run."""
    try:
        return json.loads(_jobs_file(folder).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _expand(job_id: str) -> list[str]:
    """sacct/squeue ids of pending array tasks come as ranges: 12_[0-3,5%64] -> 12_0 ..."""
    m = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not m:
        return [job_id]
    base, spec = m.group(1), m.group(2).split("%")[0]
    out: list[str] = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(f"{base}_{i}" for i in range(int(a), int(b) + 1))
        elif part:
            out.append(f"{base}_{part}")
    return out


def jobs_submitted_at(folder: Path) -> float | None:
    """When jobs.json was last written (the last submission)."""
    try:
        return _jobs_file(folder).stat().st_mtime
    except OSError:
        return None


def slurm_states(job_ids: Sequence[str]) -> dict[str, str]:
    """Job id -> state (first word of sacct's State), from accounting, else squeue."""
    ids = sorted(set(j for j in job_ids if j))
    if not ids:
        return {}
    bases = sorted({j.split("_")[0] for j in ids})
    states: dict[str, str] = {}
    for argv, sep in (
        (["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(bases)], "|"),
        (["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(bases)], "|"),
    ):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in r.stdout.splitlines():
            parts = line.strip().split(sep)
            if len(parts) >= 2 and parts[1]:
                for j in _expand(parts[0]):
                    states.setdefault(j, parts[1].split()[0])
        if all(j in states for j in ids):
            break
    return {j: states[j] for j in ids if j in states}


SUBMIT_GRACE_S = 60.0


def run_state(
    spec: RunSpec, job_id: str | None, states: dict[str, str], submitted_at: float | None = None
) -> tuple[str, str]:
    """(state, detail) of a run from its folder and, when it was submitted, its job."""
    state, detail = local_state(spec)
    if state == DONE or job_id is None:
        return state, detail
    job_state = states.get(job_id)
    if job_state in SLURM_ACTIVE:
        return RUNNING, f"job {job_id} {job_state.lower()}"
    if job_state is None:
        # Job unknown to the scheduler: just submitted (accounting lags a moment), or long
        # gone. Trust the folder, but a "running" marker of a job the scheduler no longer
        # knows is a dead job.
        if submitted_at is not None and time.time() - submitted_at < SUBMIT_GRACE_S:
            return RUNNING, f"job {job_id} submitted"
        if state == RUNNING:
            return FAILED, f"job {job_id} gone: resumable"
        return state, detail
    # The job ended without the run's done marker: killed, timed out, cancelled, failed.
    return FAILED, f"job {job_id} {job_state.lower()}: resumable"


def _slurm_executor(folder: Path, res: SlurmSpec, name: str):
    from cubeworld.slurm import slurm_executor

    return slurm_executor(
        folder,
        name,
        timeout_min=res.timeout_min,
        mem_gb=res.mem_gb,
        cpus_per_task=res.cpus_per_task,
        array_parallelism=res.array_parallelism,
        partition=res.partition,
        constraint=res.constraint,
        account=res.account,
        qos=res.qos,
        setup=res.setup,
        gpus_per_node=res.gpus_per_node,
    )


def _slurm_work(work: Work, task: RunTask) -> str:
    """Inside the job: pass the job id along (for the running marker), then do the run."""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if task.threads is None and cpus and cpus.isdigit():
        import dataclasses

        task = dataclasses.replace(task, threads=int(cpus))  # torch: the job's CPUs only
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    if job_id and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job_id = f"{job_id}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    else:
        job_id = os.environ.get("SLURM_JOB_ID")
    return work(task, job_id=job_id)


def submit_slurm(
    tasks: Sequence[RunTask], folder: Path, res: SlurmSpec, name: str, work: Work = execute_run
) -> dict[str, str]:
    """Submit the runs that are neither done nor queued/running as one job array.

    Returns run id -> job id for the new submissions (also merged into jobs.json).
    """
    folder.mkdir(parents=True, exist_ok=True)
    jobs = read_jobs(folder)
    states = slurm_states(list(jobs.values()))
    todo = []
    for t in tasks:
        state, _ = run_state(t.spec, jobs.get(t.spec.run_id), states, jobs_submitted_at(folder))
        if state not in (DONE, RUNNING):
            todo.append(t)
    if not todo:
        return {}
    import functools

    try:
        executor = _slurm_executor(folder, res, name)
        submitted = executor.map_array(functools.partial(_slurm_work, work), todo)
    except Exception as e:  # noqa: BLE001 - sbatch missing or refusing: one clear line
        first = str(e).strip().splitlines()
        raise SlurmSubmitError(
            f"submitting {len(todo)} run(s) to Slurm failed: {type(e).__name__}: "
            f"{first[-1] if first else ''} (is sbatch on PATH and SLURM_CONF set? are the "
            "executor.slurm resources possible on this cluster?)"
        ) from e
    new = {t.spec.run_id: j.job_id for t, j in zip(todo, submitted)}
    jobs.update(new)
    atomic_write_json(_jobs_file(folder), jobs)
    return new


def wait_slurm(
    tasks: Sequence[RunTask],
    folder: Path,
    *,
    poll_s: float = 5.0,
    progress: bool = True,
    timeout_s: float | None = None,
) -> dict[str, str]:
    """Wait until no run of `tasks` is queued or running; return run id -> final state.

    Never waits on a dead job: a job that left the queue without finishing its run is
    reported failed (sacct knows it ended; accounting is what makes that reliable).
    """
    start = time.monotonic()
    jobs = read_jobs(folder)
    bar = tqdm(total=len(tasks), desc="study (slurm)", unit="run", disable=not progress)
    while True:
        states = slurm_states([jobs.get(t.spec.run_id, "") for t in tasks])
        at = jobs_submitted_at(folder)
        result = {t.spec.run_id: run_state(t.spec, jobs.get(t.spec.run_id), states, at)[0] for t in tasks}
        finished = sum(s != RUNNING for s in result.values())
        bar.n = finished
        bar.set_postfix_str(", ".join(f"{k}: {v}" for k, v in _count(result).items()))
        bar.refresh()
        if finished == len(tasks):
            bar.close()
            return result
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            bar.close()
            return result
        time.sleep(poll_s)


def _count(result: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in (DONE, RUNNING, FAILED, TODO):
        n = sum(v == s for v in result.values())
        if n:
            out[s] = n
    return out


def cancel_slurm(folder: Path, run_ids: Sequence[str] | None = None) -> list[str]:
    """scancel the recorded jobs of the given runs (all by default); return the job ids."""
    jobs = read_jobs(folder)
    ids = [j for r, j in jobs.items() if run_ids is None or r in run_ids]
    if ids:
        subprocess.run(["scancel", *ids], check=False, capture_output=True)
    return ids
