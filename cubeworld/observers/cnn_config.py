"""The CNN observer's settings, each declared once: how it learns, how it scores, one run.

`CnnTraining` is a study's `training:` block for a cnn model, `CnnScoring` its `scoring:`
block, `CnnConfig` one training run (the trainer's config; `cubeworld finetune --model cnn`
and `--config run.yaml` read it). A light module: listing kinds and checking a study
import no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from cubeworld.observers.base import ObserverError
from cubeworld.trainer.data import DataDraw, LabelPolicy
from cubeworld.trainer.loop import RunSettings
from cubeworld.typed import default_of, from_plain, setting

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
class CnnConfig(CnnTraining, DataDraw, RunSettings):
    """One CNN training run (its trainer's config); `train` ... `seed` are the data draw's."""

    model: str = setting(SCRATCH, help='"scratch", or a CNN checkpoint folder to start from.')
    epochs: int = setting(8, help="Epochs to train.", minimum=1, maximum=10_000)
    eval_batch_size: int = setting(
        default_of(CnnScoring, "batch_size"), help="Batch size of the per-epoch evaluation.", minimum=1, maximum=4096
    )
    flip_average: bool = setting(default_of(CnnScoring, "flip_average"), help="See CnnScoring.flip_average.")

    # Fields that may differ when a run is resumed (they do not change what is learned).
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = (
        *RunSettings.RESUMABLE_CHANGES,
        "flip_average",
        "model_label",
        "adapter_label",
        "epochs",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_draw()

    def checked(self) -> CnnConfig:
        return from_plain(CnnConfig, self.to_plain(), "cnn config", ObserverError)

    def scoring(self) -> CnnScoring:
        return CnnScoring(batch_size=self.eval_batch_size, flip_average=self.flip_average)


def check_images(stim_set: Any, role: str = "training") -> None:
    """A CNN reads only images: every row's image must exist (else one error with a count)."""
    missing = [r for r in stim_set.rows if not (stim_set.root / r.file_name).is_file()]
    if missing:
        raise ObserverError(
            f"{stim_set.root}: a cnn observer needs images, but {len(missing)} of "
            f"{len(stim_set.rows)} are missing (e.g. {missing[0].file_name}); it cannot "
            f"use this set for {role}"
        )
