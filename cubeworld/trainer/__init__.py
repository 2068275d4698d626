"""The trainer: one resumable epoch loop, the run folder's layout, and the training data.

    EpochTrainer        the loop (`loop.py`); a plug-in fills hooks: the VLM's supervised
                        fine-tuning (`cubeworld.models.training.SftTrainer`), the CNN
                        (`cubeworld.observers.cnn_trainer.CnnTrainer`), and later methods
                        (GRPO) that own their inner loop per epoch
    RunFolder           where a run keeps what (`layout.py`): state.json, log.jsonl,
                        checkpoints/epoch-K/, predictions/epoch-K/<set>.csv
    build_training_data the pairs a run trains on (`data.py`): draw, mixtures, human labels

Names are imported lazily (the loop imports torch when it runs).
"""

from __future__ import annotations

from cubeworld.lazy import lazy_exports

_EXPORTS = {
    "EpochTrainer": "cubeworld.trainer.loop",
    "RunFolder": "cubeworld.trainer.layout",
    "saved_state": "cubeworld.trainer.layout",
    "DataDraw": "cubeworld.trainer.data",
    "LabelPolicy": "cubeworld.trainer.data",
    "MixSource": "cubeworld.trainer.data",
    "Example": "cubeworld.trainer.data",
    "TrainingData": "cubeworld.trainer.data",
    "build_training_data": "cubeworld.trainer.data",
    "epoch_order": "cubeworld.trainer.data",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
