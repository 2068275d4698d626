"""From a config to the list of runs: set locations, models, what each run is and scores.

Why a separate step: the run folders, the status table and both executors must agree on
exactly which runs exist and what each one is; this module is the one place that decides.
It does no work (nothing is generated here; see `prepare.py`).

A run has two parts, kept apart on purpose:
- its identity (`RunSpec.resolved`): what the run learned, i.e. the model, the condition's
  training data and labels, the seed and the training settings. A stored run whose
  identity differs is refused without `--restart`.
- its evaluation (`RunSpec.evaluation`): the sets it is scored on and with which scoring
  settings. Adding a set, or changing how a set is scored, never refuses: what is missing
  (or stale) is scored from the run's saved checkpoints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cubeworld.experiments.config import StudyConfig
from cubeworld.experiments.schema import ModelSpec
from cubeworld.experiments.store import RunSpec, seed_folder
from cubeworld.observers.base import Settings

# Bump when the meaning of a resolved run config changes.
RUN_FORMAT = 2


def set_dir(cfg: StudyConfig, name: str) -> Path:
    """The folder a set lives in (a `path` set stays where it is)."""
    spec = cfg.sets[name]
    if spec.origin == "path":
        assert spec.path is not None
        return spec.path
    return cfg.sets_dir / name


def set_identity(cfg: StudyConfig, name: str) -> dict[str, Any]:
    return cfg.sets[name].identity(cfg.sets)


def model_location(cfg: StudyConfig, model: str) -> str:
    """Where a model is loaded from: the study's own folder for the tiny VLM."""
    m = cfg.model(model)
    return str(cfg.study_dir / "models" / m.name) if m.is_tiny else m.source


def observer(m: ModelSpec):
    from cubeworld.observers import OBSERVERS

    return OBSERVERS.get(m.kind)


def run_scoring(m: ModelSpec, zero_shot: bool) -> Settings:
    """The scoring settings of a model's run. Zero-shot, a training setting that is also a
    scoring setting (a VLM's max_pixels) scores as given: it changes the scores, and there
    is no training it could mean (the kind's rule, `ObserverKind.scoring_with`)."""
    return observer(m).scoring_with(m.training, m.scoring) if zero_shot else m.scoring


def leaky_sets(cfg: StudyConfig, condition: str, evaluation: list[str]) -> dict[str, str]:
    """Evaluation sets that share stimuli with the condition's training sets -> why."""
    c = cfg.condition(condition)
    out = {}
    for e in evaluation:
        for p in c.train:
            if cfg.shares_stimuli(e, p.set):
                out[e] = f"shares stimuli with training set {p.set!r} (scoring it would measure memory)"
                break
    return out


def resolved_run(cfg: StudyConfig, model: str, condition: str, seed: int | None) -> dict[str, Any]:
    """The run's identity: what must be equal for a stored run to be resumed."""
    m = cfg.model(model)
    c = cfg.condition(condition)
    out: dict[str, Any] = {
        "format": RUN_FORMAT,
        "study": cfg.name,
        "model": {
            "name": m.name,
            "kind": m.kind,
            "source": m.source,
            **({"tiny_seed": m.tiny_seed} if m.is_tiny else {}),
            **({"family": m.family} if m.family else {}),
        },
        "condition": {
            "name": c.name,
            "zero_shot": c.zero_shot,
            "train": [
                {"set": p.set, "source": set_identity(cfg, p.set), "n": p.n, "labels": p.labels.identity()}
                for p in c.train
            ],
        },
        "seed": seed,
    }
    if not c.zero_shot:
        out["training"] = {
            "epochs": m.epochs,
            "evaluate_each_epoch": m.evaluate_each_epoch,
            **m.training.given_plain(),
        }
    return out


def evaluation_of(cfg: StudyConfig, model: str, condition: str, evaluation: list[str]) -> dict[str, dict[str, Any]]:
    """set name -> what scoring that set means for this run: the set's identity and every
    scoring setting, defaults filled in (so a changed default, e.g. the physics observer's
    noise, scores the sets again, from the checkpoints)."""
    m = cfg.model(model)
    scoring = run_scoring(m, cfg.condition(condition).zero_shot)
    effective = observer(m).effective(m.training, scoring)["scoring"]
    return {e: {"set": set_identity(cfg, e), "scoring": effective} for e in evaluation}


def scored_epochs(cfg: StudyConfig, model: str, condition: str) -> list[int]:
    """Epochs whose predictions a run must have: 0 for zero-shot; 0..E (or E) when trained."""
    if cfg.condition(condition).zero_shot:
        return [0]
    m = cfg.model(model)
    return list(range(0, m.epochs + 1)) if m.evaluate_each_epoch else [m.epochs]


def effective_settings(cfg: StudyConfig, model: str, condition: str) -> dict[str, Any]:
    """Every setting the run uses, defaults filled in (written to run.json; not compared)."""
    m = cfg.model(model)
    eff = observer(m).effective(m.training, m.scoring)
    if cfg.condition(condition).zero_shot:
        eff.pop("training", None)
    else:
        eff["training"] = {**eff.get("training", {}), "epochs": m.epochs, "evaluate_each_epoch": m.evaluate_each_epoch}
    return eff


def plan_runs(cfg: StudyConfig, evaluation: list[str] | None = None) -> list[RunSpec]:
    """Every run of the grid, in the order the local executor does them.

    Zero-shot conditions run once per model (seed-none): a fixed observer's scores have no
    training randomness (the physics observer's noise has its own seed, under scoring:).
    `evaluation`: the evaluation sets to score (default: all of the config's). A set that
    shares stimuli with a run's training data is left out of that run, with the reason.
    """
    evaluation = list(cfg.evaluation) if evaluation is None else evaluation
    runs = []
    for m in cfg.models:
        for cname in m.conditions or ():
            c = cfg.condition(cname)
            seeds: list[int | None] = [None] if c.zero_shot else list(cfg.seeds)
            leaky = leaky_sets(cfg, cname, evaluation)
            scored = [e for e in evaluation if e not in leaky]
            for seed in seeds:
                runs.append(
                    RunSpec(
                        study=cfg.name,
                        model=m.name,
                        condition=c.name,
                        seed=seed,
                        dir=cfg.study_dir / m.name / c.name / seed_folder(seed),
                        resolved=resolved_run(cfg, m.name, c.name, seed),
                        evaluation=evaluation_of(cfg, m.name, c.name, scored),
                        epochs=tuple(scored_epochs(cfg, m.name, c.name)),
                        skipped=leaky,
                        effective=effective_settings(cfg, m.name, c.name),
                    )
                )
    return runs
