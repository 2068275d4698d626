"""LLaVA-OneVision: a SigLIP encoder over fixed-size crops, "anyres" grids of crops chosen
per image from `image_grid_pinpoints`, a 2-layer MLP projector and a Qwen2 decoder.

Tiny model: `LlavaOnevisionForConditionalGeneration` with a 2-layer Qwen2 decoder (hidden
128) and a 2-layer SigLIP vision tower (hidden 64, 224 px crops of 28 px patches: 64
tokens a crop), `vision_feature_select_strategy="full"`, and the released checkpoints'
pinpoint recipe (every grid of 1..6 x 1..6 crops). Tokenizer: byte-level BPE with Qwen2's
pre-tokenizer as `Qwen2Tokenizer` with `<image>` / `<video>` added, as the llava-hf
conversion does; chat template: llava-hf's (`templates/llava_onevision.jinja`). Processor:
`VideoFreeLlavaOnevisionProcessor` with the PIL image processor.
"""

from __future__ import annotations

from typing import Any

from cubeworld.models.errors import BackendError
from cubeworld.models.families.base import ModelFamily, TinyModel, template
from cubeworld.models.families.qwen2_vl import ENDOFTEXT, qwen_tokenizer
from cubeworld.models.families.tokenizer import token_ids

SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<image>", "<video>")
VOCAB_SIZE = 512
CROP = 224
PATCH = 28
TEXT_CONFIG = dict(
    model_type="qwen2",
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=8192,
    tie_word_embeddings=False,
    rope_parameters={"rope_type": "default", "rope_theta": 1e6},
)
VISION_CONFIG = dict(
    model_type="siglip_vision_model",
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=CROP,
    patch_size=PATCH,
    vision_use_head=False,
)
_ALL = "_cubeworld_all_pinpoints"  # the checkpoint's own grids, kept when narrowing them


def pinpoint_grid(crop: int, n: int = 6) -> list[list[int]]:
    """Every grid of 1..n x 1..n crops (the released checkpoints' `image_grid_pinpoints`)."""
    return [[crop * i, crop * j] for i in range(1, n + 1) for j in range(1, n + 1)]


class LlavaOnevisionFamily(ModelFamily):
    name = "llava-onevision"
    model_types = ("llava_onevision",)
    model_class = "LlavaOnevisionForConditionalGeneration"
    processor_class = "LlavaOnevisionProcessor (VideoFreeLlavaOnevisionProcessor without torchvision)"
    image_size_mechanism = (
        "`image_grid_pinpoints` (processor and model config alike): only the crop grids "
        "of at most max_pixels (image_size N = N*N) are kept; each image is fed at the best "
        "remaining grid plus one base crop"
    )
    caveats = (
        "An image's token count depends on its grid and aspect ratio (unpadding, one "
        "newline token per row); left padding keeps the answer position last (tested).",
        "The processor and the model must agree on the grids, so the image size is set on "
        "both; a budget below one crop is refused.",
    )
    video_free_processor = "cubeworld.models.processor:VideoFreeLlavaOnevisionProcessor"

    vision_blocks = "model.vision_tower.encoder.layers"
    projectors = (("projector", "model.multi_modal_projector"),)

    def image_rows(self, batch: dict[str, Any], stage: str, config: Any) -> list[int]:
        """One row per crop: an image's grid of crops plus its base crop, as the model counts
        them from `image_sizes` (the batch pads the crop count; the model drops the padding)."""
        from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

        return [
            int(image_size_to_num_patches(size, config.image_grid_pinpoints, config.vision_config.image_size))
            for size in batch["image_sizes"]
        ]

    def set_max_pixels(self, processor: Any, config: Any, max_pixels: int) -> None:
        ip = processor.image_processor
        every = getattr(ip, _ALL, None) or [list(p) for p in ip.image_grid_pinpoints]
        kept = [p for p in every if p[0] * p[1] <= int(max_pixels)]
        if not kept:
            smallest = min(every, key=lambda p: p[0] * p[1])
            raise BackendError(
                f"max_pixels {int(max_pixels)} is below this model's smallest crop grid "
                f"({smallest[0]}x{smallest[1]} = {smallest[0] * smallest[1]} pixels)"
            )
        setattr(ip, _ALL, every)
        ip.image_grid_pinpoints = kept
        if config is not None:
            config.image_grid_pinpoints = kept

    def max_pixels_of(self, processor: Any) -> int | None:
        return max(h * w for h, w in processor.image_processor.image_grid_pinpoints)

    def fed_size(self, processor: Any, height: int, width: int) -> tuple[int, int]:
        from transformers.image_processing_utils import select_best_resolution

        h, w = select_best_resolution((height, width), processor.image_processor.image_grid_pinpoints)
        return int(h), int(w)

    def build_tiny(self, seed: int, vocab_size: int | None) -> TinyModel:
        import torch
        from transformers import (
            LlavaOnevisionConfig,
            LlavaOnevisionForConditionalGeneration,
            LlavaOnevisionImageProcessorPil,
        )

        from cubeworld.models.processor import VideoFreeLlavaOnevisionProcessor

        tokenizer = qwen_tokenizer(vocab_size or VOCAB_SIZE, SPECIAL_TOKENS)
        chat_template = template("llava_onevision")
        tokenizer.chat_template = chat_template
        ids = token_ids(tokenizer, SPECIAL_TOKENS)
        pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
        text_config = dict(
            TEXT_CONFIG,
            vocab_size=len(tokenizer),
            bos_token_id=None,
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=pad_id,
        )
        grid = pinpoint_grid(CROP)
        config = LlavaOnevisionConfig(
            text_config=text_config,
            vision_config=dict(VISION_CONFIG),
            image_token_index=ids["<image>"],
            video_token_index=ids["<video>"],
            vision_feature_select_strategy="full",
            vision_feature_layer=-1,
            image_grid_pinpoints=grid,
            tie_word_embeddings=False,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlavaOnevisionForConditionalGeneration(config)
        model.generation_config.eos_token_id = ids["<|im_end|>"]
        model.generation_config.pad_token_id = pad_id
        model.generation_config.bos_token_id = None
        image_processor = LlavaOnevisionImageProcessorPil(
            size={"height": CROP, "width": CROP}, image_grid_pinpoints=grid, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
        processor = VideoFreeLlavaOnevisionProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            num_image_tokens=(CROP // PATCH) ** 2,
            vision_feature_select_strategy="full",
            chat_template=chat_template,
        )
        return TinyModel(model, processor, {"max_pixels": max(h * w for h, w in grid), "crop": CROP})


FAMILY = LlavaOnevisionFamily()
