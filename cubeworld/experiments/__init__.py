"""Studies: the whole experiment grid (models x conditions x seeds) from one YAML config.

    from cubeworld.experiments import run_study, study_status, study_report
    result = run_study("studies/quick.yaml")          # local; or executor="slurm"

    cubeworld study run studies/quick.yaml [--executor slurm] [--restart] [--only RUN]
    cubeworld study status studies/quick.yaml         # done / running / failed / to do
    cubeworld study report studies/quick.yaml
    cubeworld study slurm-up DIR / slurm-down DIR     # a local one-node Slurm to try it

Modules, one job each: `config` (YAML -> checked dataclasses), `plan` (the runs and their
resolved configs), `prepare` (generate/import sets, build the tiny model), `store` (run
folders and their state), `runner` (one run: fine-tune or zero-shot, resumable),
`executors` (local, Slurm via submitit), `study` (all of it), `slurm_local` (a real
single-node Slurm cluster with accounting for tests and trials).

Names are imported lazily so that `cubeworld --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_study": "study",
    "study_status": "study",
    "study_report": "study",
    "status_table": "study",
    "StudyResult": "study",
    "RunStatus": "study",
    "load_config": "config",
    "StudyConfig": "config",
    "ConfigError": "config",
    "plan_runs": "plan",
    "RunSpec": "store",
    "RunConfigChanged": "store",
    "execute_run": "runner",
    "LocalSlurmCluster": "slurm_local",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"cubeworld.experiments.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'cubeworld.experiments' has no attribute {name!r}")
