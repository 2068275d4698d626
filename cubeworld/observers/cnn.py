"""The CNN observer kind: a convolutional image classifier trained from scratch.

Why: the study's VLMs are compared with what a network that is known to learn does on the
same grid. Lerer, Gross & Fergus (2016) trained CNNs on rendered towers; this kind trains
`cnn_net.BlockCNN` on the study's own splits, with the same machinery as the VLMs: the
same training-data draw (`cubeworld.trainer.data`: joint mixtures, human labels, seeds),
the same epoch loop (`cubeworld.trainer`: resume, per-epoch evaluation, checkpoints; its
random initialisation is checkpointed and scored as epoch 0) and the same table loop.

It reads only images: any set with images works, photos included (Lerer100). A set whose
images are missing is refused before anything is written. Its settings are declared once,
in `cnn_config.py`; its network in `cnn_net.py`; its trainer plug-in and scorer in
`cnn_trainer.py`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cubeworld.observers.base import (
    KIND_FILE,
    EvaluationJob,
    ObserverError,
    ObserverKind,
    ObserverSettingError,
    TrainingJob,
    run_config,
)
from cubeworld.observers.cnn_config import SCRATCH, CnnConfig, CnnScoring, CnnTraining, check_images
from cubeworld.typed import from_plain, to_plain


class CNNObserver(ObserverKind):
    name = "cnn"
    description = "a small ResNet-style CNN trained from scratch on the images"
    trains = True
    zero_shot = False  # an untrained CNN is chance; its epoch 0 is scored in every run
    scoring_type = CnnScoring
    training_type = CnnTraining
    default_source = SCRATCH
    reads_images = False  # its own check names how many images are missing

    def check_source(self, source: str) -> None:
        if source != SCRATCH and not (Path(source) / KIND_FILE).is_file():
            raise ObserverSettingError(
                f"a cnn observer starts from {SCRATCH!r} or a CNN checkpoint folder, got {source!r}"
            )

    def check_training_set(self, stim_set: Any, role: str = "training") -> None:
        check_images(stim_set, role)

    # -- scoring ----------------------------------------------------------------------
    def check_job(self, job: EvaluationJob) -> None:
        if job.run_dir is None and job.model == SCRATCH:
            raise ObserverError(
                "a cnn observer scores with a trained checkpoint: give its folder (RUN/checkpoints/epoch-K) as the model"
            )

    def open_scorer(self, job: EvaluationJob):
        from cubeworld.observers.cnn_net import load_network
        from cubeworld.observers.cnn_trainer import CnnScorer

        checkpoint = job.checkpoint()
        folder = checkpoint if checkpoint is not None else Path(job.model)
        net, arch = load_network(folder)
        return CnnScorer(net, arch, job.scoring.values or CnnScoring())

    def checkpoint_exists(self, run_dir: Path, epoch: int) -> bool:
        from cubeworld.observers.cnn_net import is_checkpoint
        from cubeworld.trainer.layout import RunFolder

        return is_checkpoint(RunFolder(run_dir).checkpoint(epoch))

    # -- training ---------------------------------------------------------------------
    def config_for(self, job: TrainingJob) -> CnnConfig:
        values: dict[str, Any] = {**job.training.plain(), **to_plain(job.data)}
        if "batch_size" in job.scoring:
            values["eval_batch_size"] = job.scoring.values.batch_size
        if "flip_average" in job.scoring:
            values["flip_average"] = job.scoring.values.flip_average
        values.update(
            model=str(job.model),
            out=str(job.out),
            eval_sets=[str(e) for e in job.eval_sets],
            epochs=job.epochs,
            condition=job.condition,
            model_label=job.model_label,
            progress=job.progress,
        )
        return from_plain(CnnConfig, values, "training", ObserverError)

    def trainer(self, job: TrainingJob):
        from cubeworld.observers.cnn_trainer import CnnTrainer

        return CnnTrainer(self.config_for(job))

    def finetune_command(self, given: Mapping[str, Any], config_file: Path | None = None) -> Path:
        """`cubeworld finetune --model cnn ...`: the options given plus an optional YAML of
        CnnConfig fields; an option a CNN has no use for is bad input."""
        from cubeworld.observers.cnn_trainer import CnnTrainer

        values = dict(given)
        model = str(values.pop("model", self.name))
        source = SCRATCH if model == self.name else model
        self.check_source(source)
        values.pop("device", None)  # a CNN trains on the CPU here; the option is harmless
        if "max_pixels" in values:  # a square budget is an image size
            side = math.isqrt(int(values["max_pixels"]))
            if side * side != int(values.pop("max_pixels")):
                raise ObserverError("--max-pixels: a cnn observer takes square images; give --image-size")
            values["image_size"] = side
        names = {f.name for f in dataclasses.fields(CnnConfig)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ObserverError(
                f"{unknown[0]}: not a setting of the cnn observer; it takes {sorted(names - {'out', 'train'})}"
            )
        return CnnTrainer(run_config(CnnConfig, {"model": source, **values}, config_file, ObserverError)).run()


CNN = CNNObserver()
