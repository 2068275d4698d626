"""The VLM observer kind: a Hugging Face image-text-to-text model, scored and fine-tuned.

Nothing of the models stage is re-implemented here: the settings are its typed configs
(`VlmScoring` under `scoring:`, `VlmTraining` under `training:`), scoring is its
`VlmScorer` in the base class's table loop, training is its `SftTrainer` plug-in, or
`GrpoTrainer` for `method: grpo`. A setting the models stage adds to those dataclasses is
accepted by studies and the command line with no change here. A scoring mode other than
logprob labels its rows "<model>@<mode>" (`cubeworld.models.modes.mode_label`), here as in
`cubeworld.models.evaluate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.models.config import FinetuneConfig, VlmScoring, VlmTraining
from cubeworld.observers.base import (
    EvaluationJob,
    ObserverError,
    ObserverKind,
    ObserverSettingError,
    Settings,
    TrainingJob,
    run_config,
)
from cubeworld.typed import to_plain

TINY = "tiny"
# Scoring keys that the per-epoch evaluation inside fine-tuning honours (as
# eval_batch_size / num_workers); any other scoring setting makes a study's run score its
# checkpoints after training instead.
IN_LOOP_SCORING = {"batch_size": "eval_batch_size", "num_workers": "num_workers"}


class VLMObserver(ObserverKind):
    name = "vlm"
    description = "a Hugging Face image-text-to-text model: P(Yes) from the Yes/No logits"
    trains = True
    zero_shot = True
    scoring_type = VlmScoring
    training_type = VlmTraining
    default_source = None  # a study names it: tiny, a Hugging Face id or a model folder

    def check_source(self, source: str) -> None:
        if not source:
            raise ObserverSettingError("a vlm observer needs a source: tiny, a Hugging Face id or a model folder")

    def prepare_model(self, source: str, folder: Path, *, seed: int = 0, family: str | None = None) -> str:
        if source != TINY:
            return source
        if not (folder / "config.json").is_file():
            from cubeworld.models.tiny import build_tiny_model

            if family:
                build_tiny_model(folder, seed=seed, family=family)
            else:
                build_tiny_model(folder, seed=seed)
        return str(folder)

    def takes_adapter(self) -> bool:
        return True

    # -- scoring ----------------------------------------------------------------------
    def scoring_with(self, training: Settings, scoring: Settings) -> Settings:
        """A setting given for training that is also a scoring setting (the image size, the
        dtype, ...) scores as it was trained, unless scoring gives its own."""
        shared = [k for k in training.given if k in self.scoring_keys() and k not in scoring.given]
        if not shared:
            return scoring
        values = dataclasses.replace(scoring.values or VlmScoring(), **{k: getattr(training.values, k) for k in shared})
        return Settings(values, (*scoring.given, *shared))

    def scoring_of(self, job: EvaluationJob) -> VlmScoring:
        return self.scoring_with(job.training, job.scoring).values or VlmScoring()

    def _source(self, job: EvaluationJob) -> tuple[str, Path | None]:
        """(model, adapter) to load: a checkpoint's adapter on the base, a checkpoint's full
        weights, or the job's model (with the job's adapter)."""
        ckpt = job.checkpoint() if job.epoch > 0 else None
        if ckpt is None:
            return job.model, job.adapter
        if (ckpt / "adapter_config.json").is_file():
            return job.model, ckpt
        return str(ckpt), None

    def open_scorer(self, job: EvaluationJob):
        from cubeworld.models.scoring import load_scorer

        model, adapter = self._source(job)
        return load_scorer(model, self.scoring_of(job), adapter)

    def evaluate(self, job: EvaluationJob) -> list[Path]:
        """The base's table loop, with the rows of a generating mode labelled by it."""
        from cubeworld.models.modes import mode_label

        label = mode_label(job.model_label or job.model, self.scoring_of(job).mode)
        return super().evaluate(dataclasses.replace(job, model_label=label))

    def expected_settings(self, job: EvaluationJob) -> Mapping[str, Any]:
        from cubeworld.models.scoring import settings_without_weights

        return settings_without_weights(self._source(job)[0], self.scoring_of(job))

    def extra_columns(self, job: EvaluationJob):
        from cubeworld.models.scoring import extra_columns

        return extra_columns(self.scoring_of(job))

    # -- training ---------------------------------------------------------------------
    def finetune_config(self, job: TrainingJob) -> FinetuneConfig:
        """The models stage's FinetuneConfig for this job (built here, once, to train)."""
        values: dict[str, Any] = {**job.training.plain(), **to_plain(job.data)}
        in_loop = set(job.scoring.given) <= set(IN_LOOP_SCORING)
        if in_loop:
            for k in job.scoring.given:
                values[IN_LOOP_SCORING[k]] = getattr(job.scoring.values, k)
        values.update(
            model=str(job.model),
            out=str(job.out),
            eval_sets=[str(e) for e in job.eval_sets] if in_loop else [],
            epochs=job.epochs,
            condition=job.condition,
            model_label=job.model_label,
            progress=job.progress,
        )
        return FinetuneConfig.parse(values, "training")

    def trainer(self, job: TrainingJob):
        from cubeworld.models.methods import trainer_for

        return trainer_for(self.finetune_config(job))

    def finetune_command(self, given: Mapping[str, Any], config_file: Path | None = None) -> Path:
        """`cubeworld finetune --model M ...`: a YAML of FinetuneConfig fields, then the
        options given over it; every value checked before anything is written."""
        from cubeworld.models.methods import finetune

        return finetune(run_config(FinetuneConfig, given, config_file, ObserverError))


VLM = VLMObserver()

__all__ = ["VLM", "VLMObserver"]
