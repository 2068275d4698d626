"""A Qwen2-VL processor without the video processor, for machines without torchvision.

Why: transformers' `Qwen2VLProcessor` always builds a video processor, and that one imports
torchvision. torchvision cannot be installed on every machine (here its PyPI wheel is
CUDA-linked and fails to import), yet the study only ever shows images. This subclass
declares just an image processor and a tokenizer, so it builds with the PIL image processor
(`Qwen2VLImageProcessorPil`). Everything else (chat template, image-token expansion,
`mm_token_type_ids`) is the unchanged upstream code.

Importing this module registers the class with `AutoProcessor`, so a folder whose
`processor_config.json` names `VideoFreeQwen2VLProcessor` loads through
`AutoProcessor.from_pretrained` like any checkpoint.
"""

from __future__ import annotations

from transformers import PretrainedConfig, Qwen2VLProcessor
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING


class VideoFreeQwen2VLProcessor(Qwen2VLProcessor):
    """`Qwen2VLProcessor` with image processor and tokenizer only (no video processor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # The parent passes (image_processor, tokenizer, video_processor) on; the base class
        # pairs positional sub-processors with `get_attributes()`, which (read from this
        # signature) lists only image_processor and tokenizer, so the None is dropped.
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class _VideoFreeProcessorKey(PretrainedConfig):
    """A private config class: a registry key only, so the real Qwen2-VL mapping is untouched.

    `AutoProcessor` resolves a saved `processor_class` name through the registered classes;
    keying the registration on a config class of its own keeps `Qwen2VLConfig` -> upstream
    `Qwen2VLProcessor` for real checkpoints.
    """

    model_type = "cubeworld_video_free_qwen2_vl"


def register() -> None:
    """Make `AutoProcessor` know `VideoFreeQwen2VLProcessor` (idempotent)."""
    PROCESSOR_MAPPING.register(_VideoFreeProcessorKey, VideoFreeQwen2VLProcessor, exist_ok=True)


register()
