"""Which trainer a fine-tuning method uses, and `finetune(config)`: the one door to both.

Supervised fine-tuning (`training.SftTrainer`, the study's) and GRPO (`grpo.GrpoTrainer`, the
follow-up's) are plug-ins of the one epoch loop (`cubeworld.trainer`); GRPO reuses the
supervised module's model wrapping, so the choice between them lives here, above both,
and neither imports the other back.
"""

from __future__ import annotations

from pathlib import Path

from cubeworld.models.config import FinetuneConfig
from cubeworld.models.training import SftTrainer
from cubeworld.trainer.loop import EpochTrainer


def trainer_for(config: FinetuneConfig) -> EpochTrainer:
    """The plug-in that trains `config`: `GrpoTrainer` for method grpo, else `SftTrainer`."""
    if config.method == "grpo":
        from cubeworld.models.grpo import GrpoTrainer

        return GrpoTrainer(config)
    return SftTrainer(config)


def finetune(config: FinetuneConfig) -> Path:
    """Run (or resume, or skip when finished) the fine-tuning described by `config`:
    supervised (the study's), or GRPO for method grpo (`cubeworld.models.grpo`).

    Returns the run folder. Every setting is checked first (types, bounds: `lr -1` or `nan`
    is refused before anything is written). Raises ModelsError subclasses (one-line
    messages) on bad input: unknown model, set without images, labels with unknown ids,
    wrong method here.
    """
    return trainer_for(config.checked()).run()
