"""The run store: one folder per (model, condition, seed), and what state each run is in.

    runs/<study>/
      study.json                    the validated config, as last run
      sets/<set>/                   sets the study generated or imported itself
      models/<model>/               models the study built itself (the tiny model)
      <model>/<condition>/seed-<k>/ one run (seed-none for zero-shot: it has no seed)
        run.json                    what the run learned (its identity, compared on resume)
                                    + "effective": every setting it uses (not compared)
        evaluation.json             per evaluation set: what scoring it meant (set identity,
                                    scoring settings), the epochs scored, or why skipped
        running.json                {pid, host, started}: written at start, removed at the end
        failed.json                 the last error (removed when the run starts again)
        done.json                   written last: the run is complete
        state.json, log.jsonl, checkpoints/, predictions/: the trainer's run folder
                                    (`cubeworld.trainer.layout`)
      slurm/                        submitit's folder, and jobs.json (run id -> job id)
      report/                       the analysis report

Why markers and not a database: every file is written atomically, so the state of a run
is always readable from its folder, whichever machine or job wrote it, after any kill.

A run is done when it is trained (done.json, same identity) and every evaluation set it
must score is recorded in evaluation.json with the same meaning and every epoch. So adding
an evaluation set to a study makes finished runs "to do" (evaluation missing), not
"changed": they score it from their checkpoints without training again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.atomic import atomic_write_json
from cubeworld.trainer.layout import RunFolder

RUN_FILE = "run.json"
EVALUATION_FILE = "evaluation.json"
EFFECTIVE = "effective"  # the key of run.json holding the effective settings (not compared)
DONE_FILE = "done.json"
FAILED_FILE = "failed.json"
RUNNING_FILE = "running.json"

DONE, RUNNING, FAILED, TODO = "done", "running", "failed", "to do"


class RunConfigChanged(CubeworldError):
    """A run folder holds a run of a different config; start it over with --restart."""


@dataclass(frozen=True)
class RunSpec:
    """One run of the grid: everything a worker (local or a Slurm job) needs to do it."""

    study: str
    model: str
    condition: str
    seed: int | None
    dir: Path
    resolved: dict[str, Any]  # JSON-able: the run's identity, compared on resume
    # set name -> what scoring it means ({"set": identity, "scoring": settings})
    evaluation: dict[str, Any] = field(default_factory=dict)
    epochs: tuple[int, ...] = (0,)  # epochs whose predictions the run must have
    skipped: dict[str, str] = field(default_factory=dict)  # evaluation set -> why not scored
    effective: dict[str, Any] = field(default_factory=dict)  # written to run.json

    @property
    def run_id(self) -> str:
        return f"{self.model}/{self.condition}/{seed_folder(self.seed)}"


def seed_folder(seed: int | None) -> str:
    return "seed-none" if seed is None else f"seed-{seed}"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def identity(run_json: dict[str, Any] | None) -> dict[str, Any] | None:
    """The compared part of a stored run.json (without its effective settings)."""
    if run_json is None:
        return None
    return {k: v for k, v in run_json.items() if k != EFFECTIVE}


def extends_epochs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when `new` only asks for more epochs of the same run: it resumes, no restart."""
    if "training" not in old or "training" not in new:
        return False
    o, n = dict(old), dict(new)
    ot, nt = dict(o.pop("training")), dict(n.pop("training"))
    more = int(nt.pop("epochs", 0)) >= int(ot.pop("epochs", 0))
    return more and o == n and ot == nt


def _run_json(spec: RunSpec) -> dict[str, Any]:
    return {**spec.resolved, EFFECTIVE: spec.effective}


def prepare_run_dir(spec: RunSpec, restart: bool = False) -> None:
    """Create the run folder or check that it holds this very run.

    A different identity is an error (`RunConfigChanged`) unless `restart`, which empties
    the folder first. An equal identity resumes where the run stopped; more epochs extend it.
    """
    run_file = spec.dir / RUN_FILE
    stored = _read_json(run_file)
    old = identity(stored)
    if old is not None and old != spec.resolved and extends_epochs(old, spec.resolved):
        (spec.dir / DONE_FILE).unlink(missing_ok=True)
        atomic_write_json(run_file, _run_json(spec))
        return
    if old is not None and old != spec.resolved:
        if not restart:
            changed = sorted(k for k in set(old) | set(spec.resolved) if old.get(k) != spec.resolved.get(k))
            raise RunConfigChanged(
                f"run {spec.run_id} in {spec.dir} was made with a different config "
                f"(changed: {', '.join(changed)}); rerun with --restart to start it over"
            )
    if restart and spec.dir.exists() and (old is None or old != spec.resolved):
        shutil.rmtree(spec.dir)
    spec.dir.mkdir(parents=True, exist_ok=True)
    if stored != _run_json(spec) or restart:
        atomic_write_json(run_file, _run_json(spec))


def config_conflict(spec: RunSpec) -> str | None:
    """Which keys of the stored run identity differ from this spec (None = none stored, or equal)."""
    old = identity(_read_json(spec.dir / RUN_FILE))
    if old is None or old == spec.resolved or extends_epochs(old, spec.resolved):
        return None
    return ", ".join(sorted(k for k in set(old) | set(spec.resolved) if old.get(k) != spec.resolved.get(k)))


def is_trained(spec: RunSpec) -> bool:
    """Whether the run's training (nothing, for zero-shot) finished with this identity."""
    return _read_json(spec.dir / DONE_FILE) is not None and identity(_read_json(spec.dir / RUN_FILE)) == spec.resolved


def read_evaluation(spec: RunSpec) -> dict[str, Any]:
    return _read_json(spec.dir / EVALUATION_FILE) or {}


def record_evaluation(spec: RunSpec, name: str, epochs: list[int], skipped: str | None = None) -> None:
    """Note in evaluation.json that set `name` is scored for `epochs` (or skipped, and why)."""
    record = read_evaluation(spec)
    record[name] = {"meaning": spec.evaluation.get(name), "epochs": sorted(epochs), "skipped": skipped}
    atomic_write_json(spec.dir / EVALUATION_FILE, record)


def missing_evaluation(spec: RunSpec) -> dict[str, str]:
    """Evaluation sets this run still has to score -> why (from evaluation.json alone)."""
    record = read_evaluation(spec)
    out = {}
    for name, meaning in spec.evaluation.items():
        r = record.get(name)
        if r is None:
            out[name] = "not scored yet"
        elif r.get("meaning") != meaning:
            out[name] = "set or scoring settings changed"
        elif r.get("skipped") is None and not set(spec.epochs) <= set(r.get("epochs", [])):
            missing = sorted(set(spec.epochs) - set(r.get("epochs", [])))
            out[name] = f"epoch(s) {', '.join(map(str, missing))} not scored"
    return out


def stale_evaluation(spec: RunSpec) -> list[str]:
    """Sets whose stored predictions meant something else (set or scoring changed)."""
    record = read_evaluation(spec)
    return [n for n, m in spec.evaluation.items() if n in record and record[n].get("meaning") != m]


def is_done(spec: RunSpec) -> bool:
    return is_trained(spec) and not missing_evaluation(spec)


class RunBusy(CubeworldError):
    """Another live process on this machine is doing this run right now."""


def check_not_busy(spec: RunSpec) -> None:
    """Refuse to start a run that a live local process is doing (two writers = corruption)."""
    running = _read_json(spec.dir / RUNNING_FILE)
    if (
        running
        and running.get("job_id") is None
        and running.get("host") == socket.gethostname()
        and int(running.get("pid", -1)) != os.getpid()
        and _pid_alive(int(running.get("pid", -1)))
    ):
        raise RunBusy(f"run {spec.run_id} is being done by process {running['pid']} on this machine")


def mark_running(spec: RunSpec, job_id: str | None = None) -> None:
    (spec.dir / FAILED_FILE).unlink(missing_ok=True)
    atomic_write_json(
        spec.dir / RUNNING_FILE,
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "job_id": job_id,
        },
    )


def mark_done(spec: RunSpec, info: dict[str, Any] | None = None) -> None:
    atomic_write_json(spec.dir / DONE_FILE, {"finished": time.time(), **(info or {})})
    (spec.dir / RUNNING_FILE).unlink(missing_ok=True)


def mark_failed(spec: RunSpec, error: str) -> None:
    atomic_write_json(spec.dir / FAILED_FILE, {"failed": time.time(), "error": error})
    (spec.dir / RUNNING_FILE).unlink(missing_ok=True)


def last_epoch(spec: RunSpec) -> int | None:
    """The last finished epoch of a fine-tuning run (from the trainer's state.json)."""
    return RunFolder(spec.dir).last_epoch()


def todo_detail(spec: RunSpec) -> str:
    """Why a run that is not done has work left: not started, or which evaluation is missing."""
    if not (spec.dir / RUN_FILE).is_file():
        return "not started"
    if not is_trained(spec):
        last = last_epoch(spec)
        return "not trained yet" if last is None else f"trained to epoch {last}, resumes"
    missing = missing_evaluation(spec)
    if missing:
        return "evaluation missing: " + "; ".join(f"{k} ({v})" for k, v in missing.items())
    return ""


def local_state(spec: RunSpec) -> tuple[str, str]:
    """(state, detail) from the run folder alone (no scheduler asked)."""
    if is_done(spec):
        skipped = {
            **spec.skipped,
            **{k: v["skipped"] for k, v in read_evaluation(spec).items() if v.get("skipped") and k in spec.evaluation},
        }
        return DONE, ("skipped: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) if skipped else "")
    conflict = config_conflict(spec)
    if conflict:
        return FAILED, f"config changed ({conflict}): use --restart"
    running = _read_json(spec.dir / RUNNING_FILE)
    failed = _read_json(spec.dir / FAILED_FILE)
    if running is not None:
        if running.get("host") == socket.gethostname() and running.get("job_id") is None:
            if _pid_alive(int(running.get("pid", -1))):
                return RUNNING, f"pid {running['pid']}"
            return FAILED, "interrupted (process gone): resumable"
        return RUNNING, f"job {running.get('job_id')}" if running.get("job_id") else "elsewhere"
    if failed is not None:
        return FAILED, str(failed.get("error", ""))[:120]
    return TODO, todo_detail(spec)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
