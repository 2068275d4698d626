"""Do one run: fine-tune with per-epoch evaluation, or score zero-shot; resumable.

`execute_run(task)` is what both executors call (in this process, or pickled into a Slurm
array task). It writes the run's markers around the work, so a kill at any point leaves a
folder that the next call resumes: the trainer restarts from its last epoch checkpoint and
the scorer skips the rows it already wrote.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from cubeworld.experiments.config import ConfigError
from cubeworld.experiments.store import (
    RunSpec,
    check_not_busy,
    is_done,
    mark_done,
    mark_failed,
    mark_running,
    prepare_run_dir,
)


@dataclass(frozen=True)
class TrainSource:
    """One part of the training data, located: the set folder, how many, whose labels."""

    set_dir: Path
    n: int | None
    humans: Path | None = None


@dataclass(frozen=True)
class RunTask:
    """A run plus where its inputs lie on disk (paths are not part of the run's identity)."""

    spec: RunSpec
    model: str  # HF id or folder
    train: tuple[TrainSource, ...]
    evaluation: tuple[Path, ...]
    epochs: int  # the study's value comes from the config (models/defaults.yaml)
    evaluate_each_epoch: bool = True
    training: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    restart: bool = False
    progress: bool = True
    threads: int | None = None


def execute_run(task: RunTask, job_id: str | None = None,
                body: Callable[[RunTask], None] | None = None) -> str:
    """Do (or finish) one run; return its id. Errors are recorded in failed.json and re-raised.

    body: the work itself (default: fine-tune or zero-shot scoring, `run_body`); the
    markers, config check and resume logic around it are the same for any body.
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


def run_body(task: RunTask) -> None:
    """The run's work: zero-shot scoring, or fine-tuning with per-epoch evaluation."""
    if task.spec.resolved["condition"]["zero_shot"]:
        _zero_shot(task)
    else:
        _finetune(task)


def _zero_shot(task: RunTask) -> None:
    """Score the base model once per evaluation set: predictions/epoch-0/<set>.csv."""
    from cubeworld.formats.sets import load_set
    from cubeworld.models import evaluate, load_model

    spec = task.spec
    max_pixels = task.training.get("max_pixels")
    bundle = load_model(task.model, max_pixels=max_pixels)
    for set_dir in task.evaluation:
        name = load_set(set_dir, check_images=False).name
        evaluate(bundle, [set_dir], spec.dir / "predictions" / "epoch-0" / f"{name}.csv",
                 batch_size=task.batch_size, condition=spec.condition, seed=spec.seed, epoch=0,
                 progress=task.progress, max_pixels=max_pixels, model_label=spec.model)


def finetune_config(task: RunTask):
    """The models stage's FinetuneConfig for this run (its defaults: models/defaults.yaml).

    The first part of the recipe is `train` (the one that may carry human labels); the
    others are `mix` sets with their share of `max_items`.
    """
    from cubeworld.models import FinetuneConfig, MixSource

    spec = task.spec
    names = {f.name for f in fields(FinetuneConfig)}
    unknown = sorted(k for k in task.training if k not in names)
    if unknown:
        raise ConfigError(f"training.{unknown[0]}: not a FinetuneConfig field; "
                         f"expected some of {sorted(names)}")
    main, *rest = task.train
    values: dict[str, Any] = dict(task.training)
    if rest:
        total = sum(int(p.n) for p in task.train)  # the config checks that each has n
        values["max_items"] = total
        values["mix"] = [MixSource(str(p.set_dir), p.n / total) for p in rest]
    elif main.n is not None:
        values["max_items"] = main.n
    values.update(
        model=str(task.model), train=str(main.set_dir), out=str(spec.dir),
        labels=None if main.humans is None else str(main.humans),
        eval_sets=[str(e) for e in task.evaluation] if task.evaluate_each_epoch else [],
        epochs=task.epochs, seed=int(spec.seed or 0), condition=spec.condition,
        model_label=spec.model,
        eval_batch_size=task.batch_size, progress=task.progress,
    )
    return FinetuneConfig(**values)


def _finetune(task: RunTask) -> None:
    from cubeworld.models import finetune

    config = finetune_config(task)
    finetune(config)
    if not task.evaluate_each_epoch:
        # Evaluate the last epoch only, with the last checkpoint.
        from cubeworld.formats.sets import load_set
        from cubeworld.models import evaluate

        ckpt = task.spec.dir / "checkpoints" / f"epoch-{task.epochs}"
        is_adapter = (ckpt / "adapter_config.json").is_file()
        for set_dir in task.evaluation:
            name = load_set(set_dir, check_images=False).name
            evaluate(task.model if is_adapter else ckpt, [set_dir],
                     task.spec.dir / "predictions" / f"epoch-{task.epochs}" / f"{name}.csv",
                     adapter=ckpt if is_adapter else None, batch_size=task.batch_size, condition=task.spec.condition,
                     seed=task.spec.seed, epoch=task.epochs, progress=task.progress,
                     max_pixels=task.training.get("max_pixels"),
                     adapter_label=task.spec.dir.name, model_label=task.spec.model)
