"""The CNN observer kind: a convolutional image classifier trained from scratch.

Why: the study's VLMs are compared with what a network that is known to learn does on the
same grid. Lerer, Gross & Fergus (2016) trained CNNs on rendered towers; this kind trains
`cnn_net.BlockCNN` on the study's own splits, with the same machinery as the VLMs: the
same training-data draw (`cubeworld.trainer.data`: joint mixtures, human labels, seeds),
the same epoch loop (`cubeworld.trainer`: resume, per-epoch evaluation, checkpoints; its
random initialisation is checkpointed and scored as epoch 0) and the same table loop.

It reads only images: any set with images works, photos included (Lerer100). A set whose
images are missing is refused before anything is written. Its settings are declared once,
below: `CnnTraining` (a study's `training:`), `CnnScoring` (`scoring:`), and `CnnConfig`
(one run, for `cubeworld finetune --model cnn`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from cubeworld.observers.base import (
    EvaluationJob,
    ObserverError,
    ObserverKind,
    ObserverSettingError,
    TrainingJob,
)
from cubeworld.trainer.data import DataDraw, LabelPolicy
from cubeworld.typed import default_of, from_plain, setting, to_plain

SCRATCH = "scratch"


@dataclass(frozen=True, kw_only=True)
class CnnScoring:
    """How a CNN scores (a study's `scoring:`)."""

    batch_size: int = setting(64, help="Images per forward pass.", minimum=1, maximum=4096)
    flip_average: bool = setting(
        True,
        help="P(Yes) averaged over the image and its mirror image (the physics is mirror-symmetric; "
        "measured +1 to +2 points on 2-4 block towers).",
    )


@dataclass(frozen=True, kw_only=True)
class CnnTraining(LabelPolicy):
    """How a CNN learns (a study's `training:`): AdamW with warm-up and cosine decay."""

    lr: float = setting(1e-3, help="AdamW peak learning rate (warm-up, then cosine decay to 0).", above=0, maximum=10)
    warmup_fraction: float = setting(0.05, help="Share of the steps spent warming up.", minimum=0, below=1)
    weight_decay: float = setting(1e-4, help="AdamW weight decay.", minimum=0, maximum=10)
    batch_size: int = setting(32, help="Images per step.", minimum=1, maximum=4096)
    image_size: int = setting(
        112, help="Images are resized to image_size x image_size (photos too).", minimum=16, maximum=1024
    )
    channels: tuple[int, ...] = setting(
        (16, 32, 64, 96), help="Widths of the stem and the residual stages.", minimum=1, maximum=8
    )
    stem_stride: Literal[1, 2] = setting(
        1, help="1 keeps full resolution in the first stage (small offsets matter), or 2."
    )
    dropout: float = setting(0.1, help="Dropout before the last layer.", minimum=0, below=1)
    augment: bool = setting(True, help="Random horizontal flips (the physics is mirror-symmetric).")

    def __post_init__(self) -> None:
        bad = [c for c in self.channels if not 1 <= c <= 2048]
        if bad:
            raise ValueError(f"channels: widths run from 1 to 2048, got {bad[0]}")


@dataclass(frozen=True, kw_only=True)
class CnnConfig(CnnTraining, DataDraw):
    """One CNN training run (its trainer's config); `train` ... `seed` are the data draw's."""

    model: str = setting(SCRATCH, help='"scratch", or a CNN checkpoint folder to start from.')
    out: str = setting(help="Run folder.")
    epochs: int = setting(8, help="Epochs to train.", minimum=1, maximum=10_000)
    eval_sets: tuple[str, ...] = setting((), help="Evaluate after each epoch (repeatable).")
    eval_batch_size: int = setting(
        default_of(CnnScoring, "batch_size"), help="Batch size of the per-epoch evaluation.", minimum=1, maximum=4096
    )
    flip_average: bool = setting(default_of(CnnScoring, "flip_average"), help="See CnnScoring.flip_average.")
    condition: str = setting("", help="The condition column of the predictions.")
    model_label: str | None = setting(None, help="The model column (default: cnn).")
    adapter_label: str | None = setting(None, help="The adapter column (default: the run folder's name).")
    progress: bool = setting(True, help="Progress bars.")

    # Fields that may differ when a run is resumed (they do not change what is learned).
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = (
        "out",
        "progress",
        "eval_sets",
        "eval_batch_size",
        "flip_average",
        "model_label",
        "adapter_label",
        "epochs",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_draw()

    def to_plain(self) -> dict[str, Any]:
        return to_plain(self)

    def checked(self) -> CnnConfig:
        return from_plain(CnnConfig, self.to_plain(), "cnn config", ObserverError)

    def scoring(self) -> CnnScoring:
        return CnnScoring(batch_size=self.eval_batch_size, flip_average=self.flip_average)


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
        from cubeworld.observers.cnn_net import KIND_FILE

        if source != SCRATCH and not (Path(source) / KIND_FILE).is_file():
            raise ObserverSettingError(
                f"a cnn observer starts from {SCRATCH!r} or a CNN checkpoint folder, got {source!r}"
            )

    def check_training_set(self, stim_set: Any, role: str = "training") -> None:
        """A CNN reads only images: every row's image must exist."""
        missing = [r for r in stim_set.rows if not (stim_set.root / r.file_name).is_file()]
        if missing:
            raise ObserverError(
                f"{stim_set.root}: a cnn observer needs images, but {len(missing)} of "
                f"{len(stim_set.rows)} are missing (e.g. {missing[0].file_name}); it cannot "
                f"use this set for {role}"
            )

    # -- scoring ----------------------------------------------------------------------
    def check_job(self, job: EvaluationJob) -> None:
        if job.run_dir is None and job.model == SCRATCH:
            raise ObserverError(
                "a cnn observer scores with a trained checkpoint: give its folder (RUN/checkpoints/epoch-K) as the model"
            )

    def open_scorer(self, job: EvaluationJob):
        from cubeworld.observers.cnn_net import load_network
        from cubeworld.observers.cnn_trainer import CnnScorer

        folder = job.checkpoint() if job.run_dir is not None else Path(job.model)
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
        from cubeworld.observers.vlm import run_config

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
