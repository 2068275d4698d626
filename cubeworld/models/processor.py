"""VLM processors without the video processor, for machines without torchvision.

Why: transformers' `Qwen2VLProcessor`, `Qwen2_5_VLProcessor`, `Qwen3VLProcessor` and
`LlavaOnevisionProcessor` always build a video processor, and those import torchvision. torchvision cannot be
installed on every machine (here its PyPI wheel is CUDA-linked and fails to import), yet
the study only ever shows images. Each subclass below declares just an image processor
and a tokenizer, so it builds with the family's PIL image processor. Everything else
(chat template, image-token expansion, `mm_token_type_ids`) is the unchanged upstream code.

Importing this module registers the classes with `AutoProcessor`, so a folder whose
`processor_config.json` names one of them loads through `AutoProcessor.from_pretrained`
like any checkpoint.
"""

from __future__ import annotations

from transformers import (
    LlavaOnevisionProcessor,
    PretrainedConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLProcessor,
    Qwen3VLProcessor,
)
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING


class VideoFreeQwen2VLProcessor(Qwen2VLProcessor):
    """`Qwen2VLProcessor` with image processor and tokenizer only (no video processor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        # The parent passes (image_processor, tokenizer, video_processor) on; the base class
        # pairs positional sub-processors with `get_attributes()`, which (read from this
        # signature) lists only image_processor and tokenizer, so the None is dropped.
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class VideoFreeQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` with image processor and tokenizer only (no video processor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class VideoFreeQwen3VLProcessor(Qwen3VLProcessor):
    """`Qwen3VLProcessor` with image processor and tokenizer only (no video processor)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class VideoFreeLlavaOnevisionProcessor(LlavaOnevisionProcessor):
    """`LlavaOnevisionProcessor` with image processor and tokenizer only (no video processor)."""

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        num_image_tokens=None,
        vision_feature_select_strategy=None,
        chat_template=None,
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio="anyres_max_9",
        **kwargs,
    ):
        super().__init__(
            image_processor,
            tokenizer,
            None,
            num_image_tokens=num_image_tokens,
            vision_feature_select_strategy=vision_feature_select_strategy,
            chat_template=chat_template,
            image_token=image_token,
            video_token=video_token,
            vision_aspect_ratio=vision_aspect_ratio,
            **kwargs,
        )


def _key(processor_class: type) -> type:
    """A private config class: a registry key only, so the real mappings stay untouched.

    `AutoProcessor` resolves a saved `processor_class` name through the registered classes;
    keying each registration on a config class of its own keeps e.g. `Qwen2VLConfig` ->
    upstream `Qwen2VLProcessor` for real checkpoints.
    """
    return type(
        f"_{processor_class.__name__}Key",
        (PretrainedConfig,),
        {"model_type": f"cubeworld_{processor_class.__name__.lower()}"},
    )


VIDEO_FREE_PROCESSORS = (
    VideoFreeQwen2VLProcessor,
    VideoFreeQwen2_5_VLProcessor,
    VideoFreeQwen3VLProcessor,
    VideoFreeLlavaOnevisionProcessor,
)
_KEYS = {cls: _key(cls) for cls in VIDEO_FREE_PROCESSORS}


def register() -> None:
    """Make `AutoProcessor` know the video-free processors (idempotent)."""
    for cls, key in _KEYS.items():
        PROCESSOR_MAPPING.register(key, cls, exist_ok=True)  # type: ignore[arg-type]


register()
