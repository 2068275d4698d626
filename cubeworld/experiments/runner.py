"""Do one run: train the observer (unless zero-shot), then score what is missing; resumable.

`execute_run(task)` is what both executors call (in this process, or pickled into a Slurm
array task). It writes the run's markers around the work, so a kill at any point leaves a
folder that the next call resumes: the trainer restarts from its last epoch checkpoint and
the scorer skips the rows it already wrote.

The work is the same for every observer kind (`cubeworld.observers`): the kind
trains (`finetune`, scoring each epoch as it goes) and scores (`evaluate`, from the base
observer or a saved checkpoint). After training, every evaluation set and epoch the run
must have is scored if it is missing, so a set added to a study later is scored from the
saved checkpoints without training again. A set the kind cannot answer (photos for the
physics observer) is skipped with a one-line reason; a set whose meaning changed (its
identity or the scoring settings) is scored again.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cubeworld.errors import CubeworldError
from cubeworld.experiments.recipe import data_draw
from cubeworld.experiments.schema import TrainPart
from cubeworld.experiments.store import (
    RunSpec,
    check_not_busy,
    is_done,
    mark_done,
    mark_failed,
    mark_running,
    prepare_run_dir,
    record_evaluation,
    stale_evaluation,
)
from cubeworld.observers.base import EvaluationJob, Settings, TrainingJob
from cubeworld.trainer.layout import RunFolder

__all__ = ["RunTask", "execute_run", "run_body", "RunError"]


class RunError(CubeworldError):
    """A run cannot do its work (a checkpoint it must score is gone); names the folder."""


@dataclass(frozen=True)
class RunTask:
    """A run plus where its inputs lie on disk (paths are not part of the run's identity)."""

    spec: RunSpec
    model: str  # HF id or folder (vlm), "scratch" or a checkpoint (cnn), "mujoco" (physics)
    recipe: tuple[TrainPart, ...]  # the condition's parts (none: zero-shot)
    folders: Mapping[str, Path]  # set name in the study -> its folder (recipe sets)
    evaluation: tuple[tuple[str, Path], ...]  # (set name in the study, set folder)
    epochs: int  # the model's or the study's (cubeworld.hyperparameters by default)
    evaluate_each_epoch: bool = True
    training: Settings = Settings()
    scoring: Settings = Settings()
    kind: str = "vlm"
    restart: bool = False
    progress: bool = True
    threads: int | None = None


def execute_run(task: RunTask, job_id: str | None = None, body: Callable[[RunTask], None] | None = None) -> str:
    """Do (or finish) one run; return its id. Errors are recorded in failed.json and re-raised.

    body: the work itself (default: `run_body`); the markers, config check and resume
    logic around it are the same for any body.
    """
    spec = task.spec
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
    check_not_busy(spec)  # before anything is touched (a restart empties the folder)
    prepare_run_dir(spec, restart=task.restart)
    if is_done(spec):
        return spec.run_id
    mark_running(spec, job_id)
    try:
        (body or run_body)(task)
    except BaseException as e:  # noqa: BLE001 - recorded, then re-raised
        if isinstance(e, KeyboardInterrupt):
            mark_failed(spec, "interrupted")
        else:
            mark_failed(spec, f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        raise
    mark_done(spec)
    return spec.run_id


def _kind(task: RunTask):
    from cubeworld.observers import OBSERVERS

    return OBSERVERS.get(task.kind)


def run_body(task: RunTask) -> None:
    """Train (unless zero-shot), then score every missing (set, epoch) of the run."""
    from cubeworld.formats.sets import load_set

    spec = task.spec
    kind = _kind(task)
    run = RunFolder(spec.dir)
    zero_shot = spec.resolved["condition"]["zero_shot"]
    scored: list[tuple[str, Path, str]] = []  # (study name, folder, card name)
    for name, folder in task.evaluation:
        stim = load_set(folder, check_images=False)
        reason = kind.skip_reason(stim)
        if reason:
            warnings.warn(f"run {spec.run_id}: {name} skipped: {reason}", stacklevel=2)
            record_evaluation(spec, name, [], skipped=reason)
        else:
            scored.append((name, folder, stim.name))
    for name in stale_evaluation(spec):  # scored with another meaning: score again
        card = next((c for n, _, c in scored if n == name), name)
        for old in run.prediction_tables():
            if old.stem == card:
                old.unlink()
    if not zero_shot:
        kind.finetune(
            TrainingJob(
                model=task.model,
                data=data_draw(task.recipe, task.folders, int(spec.seed or 0)),
                out=spec.dir,
                epochs=task.epochs,
                condition=spec.condition,
                model_label=spec.model,
                eval_sets=tuple(f for _, f, _ in scored) if task.evaluate_each_epoch else (),
                training=task.training,
                scoring=task.scoring,
                progress=task.progress,
            )
        )
    for epoch in spec.epochs:
        if not zero_shot and not kind.checkpoint_exists(spec.dir, epoch):
            raise RunError(
                f"run {spec.run_id}: {run.checkpoint(epoch)} is gone, "
                "so its predictions cannot be made; rerun with --restart"
            )
        kind.evaluate(
            EvaluationJob(
                model=task.model,
                tables=tuple((f, run.predictions(epoch, c)) for _, f, c in scored),
                epoch=epoch,
                run_dir=None if zero_shot else spec.dir,
                condition=spec.condition,
                seed=spec.seed,
                model_label=spec.model,
                adapter_label="" if zero_shot else spec.dir.name,
                training=task.training,
                scoring=task.scoring,
                progress=task.progress,
            )
        )
    for name, _, _ in scored:
        record_evaluation(spec, name, list(spec.epochs))
