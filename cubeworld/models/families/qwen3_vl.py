"""Qwen3-VL: Qwen's pixel budget at 16 px patches (32 px per merged token), a vision tower
with learned, interpolated position embeddings, and DeepStack: features of chosen vision
blocks are merged by their own mergers and added to the first decoder layers' hidden states
at the image positions.

Tiny model: `Qwen3VLForConditionalGeneration` with a 2-layer Qwen3 text model (hidden 128,
head_dim 32, q/k RMSNorm, interleaved M-RoPE as the released checkpoints) and a 2-block
vision tower (hidden 64, 16 px patches, a 16 x 16 learned position grid) with one
DeepStack level (after vision block 0, added after decoder layer 0). At the tiny 224 x 224
budget an image is 7 x 7 = 49 tokens. Tokenizer: Qwen2-VL's special tokens (Qwen3-VL keeps
them); chat template: Qwen3-VL-Instruct's (`templates/qwen3_vl.jinja`: no default system
prompt, no thinking block). Processor: `VideoFreeQwen3VLProcessor` with Qwen2-VL's PIL image
processor at patch 16 and mean/std 0.5, as the released `preprocessor_config.json`.
"""

from __future__ import annotations

from typing import Any

from cubeworld.models.families.qwen2_vl import TINY_MAX_PIXELS, Qwen2VLFamily

TEXT_CONFIG = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    max_position_embeddings=4096,
    rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6], "mrope_interleaved": True, "rope_theta": 5e6},
)
VISION_CONFIG = dict(
    depth=2,
    hidden_size=64,
    intermediate_size=128,
    num_heads=4,
    patch_size=16,
    out_hidden_size=128,
    num_position_embeddings=256,
    deepstack_visual_indexes=[0],
)
PATCH = 16
# Qwen3-VL's smallest budget is 256 x 256 in the released processor (min_pixels 65536); the
# tiny one keeps Qwen2-VL's small floor so that the 112 px test images stay small.
TINY_MIN_PIXELS = 64 * 64


class Qwen3VLFamily(Qwen2VLFamily):
    name = "qwen3-vl"
    model_types = ("qwen3_vl",)
    model_class = "Qwen3VLForConditionalGeneration"
    processor_class = "Qwen3VLProcessor (VideoFreeQwen3VLProcessor without torchvision)"
    image_size_mechanism = (
        "`max_pixels` (image_size N = N*N): each image is resized, keeping its aspect, to "
        "multiples of 32 px (16 px patches, 2 x 2 merged) with min_pixels <= h*w <= max_pixels"
    )
    caveats = Qwen2VLFamily.caveats + (
        "Patches are 16 px (Qwen2-VL: 14), so a budget gives fewer tokens: 224 x 224 is 49.",
        "DeepStack: `visual.deepstack_merger_list` merges the features of chosen vision "
        "blocks and adds them after the first decoder layers at the image positions. The "
        "mergers are not LoRA targets by default (projectors, like the main merger); "
        "`lora_extra: [deepstack]` adds them.",
        "A decoder layer's output (output_hidden_states and the activation points) is read "
        "before the DeepStack addition that follows it; at the answer position it is the same.",
    )
    video_free_processor = "cubeworld.models.processor:VideoFreeQwen3VLProcessor"
    template_name = "qwen3_vl"

    projectors = (("projector", "model.visual.merger"), ("deepstack", "model.visual.deepstack_merger_list"))

    config_class = "Qwen3VLConfig"
    text_config = TEXT_CONFIG
    vision_config = VISION_CONFIG

    def _image_processor(self) -> Any:
        from transformers import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(
            min_pixels=TINY_MIN_PIXELS,
            max_pixels=TINY_MAX_PIXELS,
            patch_size=PATCH,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        )


FAMILY = Qwen3VLFamily()
