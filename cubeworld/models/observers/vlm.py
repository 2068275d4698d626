"""The VLM observer kind: today's Hugging Face scoring and (Q)LoRA fine-tuning, wrapped.

Nothing of the models stage is re-implemented here: training is `models.finetune` with a
`FinetuneConfig`, scoring is `models.evaluate`. The keys a study may override are the
models stage's own (`cubeworld.models.overrides`: the dataclass's fields, the function's
keywords), so a setting the models team adds is accepted by studies without a change
here; only what the study itself decides (paths, seeds, conditions, labels, sizes of the
training data) is withheld.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from cubeworld.models.observers.base import (
    STUDY_OWNED,
    EvaluationJob,
    ObserverKind,
    ObserverSettingError,
    TrainingJob,
    draw_size,
)

TINY = "tiny"
# FinetuneConfig fields that a study sets from its own structure, never from `training:`
# (the evaluation batch size is a scoring setting: `scoring: {batch_size: ...}`).
STUDY_TRAINING = frozenset({*STUDY_OWNED, "eval_batch_size"})
# evaluate() keywords a study sets itself, never from `scoring:`.
STUDY_SCORING = frozenset(
    {"model", "sets", "out", "adapter", "condition", "seed", "epoch", "progress", "adapter_label", "model_label"}
)
# Scoring keys that per-epoch evaluation inside `finetune` honours (as eval_batch_size /
# num_workers); any other scoring override makes the run score its checkpoints afterwards.
IN_LOOP_SCORING = {"batch_size": "eval_batch_size", "num_workers": "num_workers"}


def _finetune_fields() -> dict[str, Any]:
    from cubeworld.models.config import FinetuneConfig

    return {f.name: f for f in fields(FinetuneConfig)}


def _evaluate_parameters() -> dict[str, inspect.Parameter]:
    from cubeworld.models.scoring import evaluate

    return dict(inspect.signature(evaluate).parameters)


def _type_problem(value: Any, default: Any) -> str | None:
    """A light check against the default's type (the models stage checks the rest)."""
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
    if isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {value!r}"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {value!r}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"expected a string, got {value!r}"
    return None


class VLMObserver(ObserverKind):
    name = "vlm"
    description = "a Hugging Face image-text-to-text model: P(Yes) from the Yes/No logits"
    trains = True
    zero_shot = True

    def training_keys(self) -> frozenset[str]:
        from cubeworld.models.overrides import training_keys

        return frozenset(training_keys()) - STUDY_TRAINING

    def scoring_keys(self) -> frozenset[str]:
        from cubeworld.models.overrides import scoring_keys

        return frozenset(scoring_keys()) - STUDY_SCORING

    def check_source(self, source: str) -> None:
        if not source:
            raise ObserverSettingError(
                "source", "a vlm observer needs a source: tiny, a Hugging Face id or a model folder"
            )

    def check_settings(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> None:
        super().check_settings(training, scoring)
        from cubeworld.errors import CubeworldError
        from cubeworld.models.config import FinetuneConfig

        params = _evaluate_parameters()
        for k, v in scoring.items():
            problem = _type_problem(v, params[k].default)
            if problem:
                raise ObserverSettingError(f"scoring.{k}", problem)
        for k, v in training.items():
            f = _finetune_fields()[k]
            problem = _type_problem(v, f.default if not callable(f.default) else None)
            if problem:
                raise ObserverSettingError(f"training.{k}", problem)
        try:
            FinetuneConfig(model="m", train="t", out="o", **dict(training))
        except CubeworldError as e:
            raise ObserverSettingError("training", str(e)) from None

    def effective(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> dict[str, Any]:
        from cubeworld.models.config import FinetuneConfig

        t = FinetuneConfig(model="m", train="t", out="o", **dict(training)).to_dict()
        t = {k: v for k, v in t.items() if k not in STUDY_TRAINING}
        s = {
            k: p.default
            for k, p in _evaluate_parameters().items()
            if k not in STUDY_SCORING and p.default is not inspect.Parameter.empty
        }
        s.update(scoring)
        return {"training": t, "scoring": s}

    def prepare_model(self, source: str, folder: Path, *, seed: int = 0, family: str | None = None) -> str:
        if source != TINY:
            return source
        if not (folder / "config.json").is_file():
            from cubeworld.models import build_tiny_model

            extra = {"family": family} if family else {}
            build_tiny_model(folder, seed=seed, **extra)
        return str(folder)

    # -- training ---------------------------------------------------------------------
    def finetune_config(self, job: TrainingJob):
        """The models stage's FinetuneConfig for this job. The first part of the recipe is
        `train` (the one that may carry human labels); the others are `mix` sets with their
        share of `max_items`."""
        from cubeworld.models import FinetuneConfig, MixSource

        main, *rest = job.train
        values: dict[str, Any] = dict(job.training)
        values["max_items"], fractions = draw_size(job.train)
        if rest:
            values["mix"] = [MixSource(str(p.set_dir), f) for p, f in zip(rest, fractions)]
        in_loop = set(job.scoring) <= set(IN_LOOP_SCORING)
        for k, v in job.scoring.items():
            if in_loop:
                values[IN_LOOP_SCORING[k]] = v
        values.update(
            model=str(job.model),
            train=str(main.set_dir),
            out=str(job.out),
            labels=None if main.humans is None else str(main.humans),
            eval_sets=[str(e) for e in job.eval_sets] if in_loop else [],
            epochs=job.epochs,
            seed=int(job.seed),
            condition=job.condition,
            model_label=job.model_label,
            progress=job.progress,
        )
        return FinetuneConfig(**values)

    def finetune(self, job: TrainingJob) -> Path:
        from cubeworld.models import finetune

        return finetune(self.finetune_config(job))

    # -- scoring ----------------------------------------------------------------------
    def evaluate(self, job: EvaluationJob) -> list[Path]:
        """Score each (set, table) with the base model (epoch 0 or no run) or the run's
        checkpoint of `job.epoch` (an adapter on the base, or full weights)."""
        from cubeworld.models import evaluate

        model: str | Path = job.model
        adapter = None
        if job.run_dir is not None and job.epoch > 0:
            ckpt = job.run_dir / "checkpoints" / f"epoch-{job.epoch}"
            if (ckpt / "adapter_config.json").is_file():
                adapter = ckpt
            else:
                model = ckpt
        scoring = dict(job.scoring)
        for k in set(job.training) & self.scoring_keys():  # e.g. max_pixels: trained and
            scoring.setdefault(k, job.training[k])  # scored at the same resolution
        out = []
        for set_dir, table in job.tables:
            out.append(
                evaluate(
                    model,
                    [set_dir],
                    table,
                    adapter=adapter,
                    condition=job.condition,
                    seed=job.seed,
                    epoch=job.epoch,
                    progress=job.progress,
                    adapter_label=job.adapter_label,
                    model_label=job.model_label,
                    **scoring,
                )
            )
        return out


VLM = VLMObserver()
