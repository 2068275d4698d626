"""From a config to the list of runs: set locations, models, resolved per-run configs.

Why a separate step: the run folders, the status table and both executors must agree on
exactly which runs exist and what each one is; this module is the one place that decides.
It does no work (nothing is generated here; see `prepare.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cubeworld.experiments.config import LERER100_ENV, SetSpec, StudyConfig
from cubeworld.experiments.store import RunSpec, seed_folder

# Bump when the meaning of a resolved run config changes.
RUN_FORMAT = 1


def lerer100_source(spec: SetSpec, cfg: StudyConfig) -> Path:
    """Where the Lerer100 source folder is: the config's path, else $CUBEWORLD_LERER100,
    else `shared/data/lerer100` next to the repository holding the config's folder."""
    if spec.path is not None:
        return spec.path
    env = os.environ.get(LERER100_ENV)
    if env:
        return Path(env)
    return cfg.root.parent.parent / "shared" / "data" / "lerer100"


def set_dir(cfg: StudyConfig, name: str) -> Path:
    """The folder a set lives in (a `path` set stays where it is)."""
    spec = cfg.sets[name]
    if spec.kind == "path":
        assert spec.path is not None
        return spec.path
    return cfg.sets_dir / name


def model_location(cfg: StudyConfig, model: str) -> str:
    m = cfg.model(model)
    return str(cfg.study_dir / "models" / m.name) if m.is_tiny else m.source


def resolved_run(cfg: StudyConfig, model: str, condition: str, seed: int | None,
                 evaluation: list[str]) -> dict[str, Any]:
    """The run's resolved config: what must be equal for a stored run to be resumed."""
    m = cfg.model(model)
    c = cfg.condition(condition)
    out: dict[str, Any] = {
        "format": RUN_FORMAT,
        "study": cfg.name,
        "model": {"name": m.name, "source": m.source,
                  **({"tiny_seed": m.tiny_seed} if m.is_tiny else {})},
        "condition": {
            "name": c.name,
            "zero_shot": c.zero_shot,
            "train": [
                {"set": p.set, "source": cfg.sets[p.set].identity(), "n": p.n,
                 "labels": p.labels.identity()}
                for p in c.train
            ],
        },
        "seed": seed,
        "evaluation": {e: cfg.sets[e].identity() for e in evaluation},
        "batch_size": cfg.batch_size,
    }
    if not c.zero_shot:
        out["training"] = {"epochs": cfg.epochs, "evaluate_each_epoch": cfg.evaluate_each_epoch,
                           **cfg.training}
    return out


def plan_runs(cfg: StudyConfig, evaluation: list[str] | None = None) -> list[RunSpec]:
    """Every run of the grid, in the order the local executor does them.

    Zero-shot conditions run once per model (seed-none): scoring a fixed model has no
    randomness. `evaluation` is the list of evaluation sets that are available (a missing
    Lerer100 is left out); default: all of the config's.
    """
    evaluation = list(cfg.evaluation) if evaluation is None else evaluation
    runs = []
    for m in cfg.models:
        for c in cfg.conditions:
            seeds: list[int | None] = [None] if c.zero_shot else list(cfg.seeds)
            for seed in seeds:
                runs.append(RunSpec(
                    study=cfg.name, model=m.name, condition=c.name, seed=seed,
                    dir=cfg.study_dir / m.name / c.name / seed_folder(seed),
                    resolved=resolved_run(cfg, m.name, c.name, seed, evaluation),
                ))
    return runs
