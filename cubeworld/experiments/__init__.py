"""Studies: the whole experiment grid (models x conditions x seeds) from one YAML config.

    from cubeworld.experiments import run_study, study_status, study_report
    result = run_study("studies/quick.yaml")          # local; or executor="slurm"

    cubeworld study run studies/quick.yaml [--executor slurm] [--restart] [--only RUN]
    cubeworld study status studies/quick.yaml         # done / running / failed / to do
    cubeworld study report studies/quick.yaml
    cubeworld study slurm-up DIR / slurm-down DIR     # a local one-node Slurm to try it

Modules, one job each: `schema` (the typed config), `config` (YAML -> checked schema: the
entry points; its parts `config_reader` (the shared value checks, `ConfigError`),
`config_sets` (sets, conditions), `config_models` (models, fits: each model's settings
read once into its kind's typed configs)), `plan` (the runs: what each learned and what
it scores), `recipe` (a condition's recipe made concrete: a run's data draw), `prepare`
(generate/import/split sets, build the tiny model), `store` (run folders and their
state), `runner` (one run of any observer kind: train, then score what is
missing; resumable), `executors` (local, Slurm via submitit), `study` (all of it). `testing.slurm_cluster` is test and demo
infrastructure (a real single-node Slurm cluster with accounting), not part of a study.

Names are imported lazily so that `cubeworld --help` stays fast.
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "run_study": "cubeworld.experiments.study",
    "study_status": "cubeworld.experiments.study",
    "study_report": "cubeworld.experiments.study",
    "status_table": "cubeworld.experiments.study",
    "StudyResult": "cubeworld.experiments.study",
    "RunStatus": "cubeworld.experiments.study",
    "load_config": "cubeworld.experiments.config",
    "StudyConfig": "cubeworld.experiments.config",
    "ConfigError": "cubeworld.experiments.config",
    "plan_runs": "cubeworld.experiments.plan",
    "RunSpec": "cubeworld.experiments.store",
    "RunConfigChanged": "cubeworld.experiments.store",
    "execute_run": "cubeworld.experiments.runner",
    "LocalSlurmCluster": "cubeworld.experiments.testing.slurm_cluster",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
