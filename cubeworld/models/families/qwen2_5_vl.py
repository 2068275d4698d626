"""Qwen2.5-VL: Qwen2-VL's processor and pixel budget, a new vision tower (window attention,
SwiGLU MLP in the vision blocks, RMSNorm).

Tiny model: `Qwen2_5_VLForConditionalGeneration` with Qwen2-VL's tiny text model and a
2-block vision tower (hidden 64, one full-attention block and one windowed block, so both
attention paths run). Tokenizer, special tokens and chat template are Qwen2-VL's (the
released Qwen2.5-VL-Instruct checkpoints ship the same template). Processor:
`VideoFreeQwen2_5_VLProcessor` with Qwen2-VL's PIL image processor.
"""

from __future__ import annotations

from cubeworld.models.families.qwen2_vl import Qwen2VLFamily

VISION_CONFIG = dict(
    depth=2,
    hidden_size=64,
    intermediate_size=128,
    num_heads=4,
    out_hidden_size=128,
    fullatt_block_indexes=[1],
    window_size=112,
)


class Qwen2_5_VLFamily(Qwen2VLFamily):
    name = "qwen2.5-vl"
    model_types = ("qwen2_5_vl",)
    model_class = "Qwen2_5_VLForConditionalGeneration"
    processor_class = "Qwen2_5_VLProcessor (VideoFreeQwen2_5_VLProcessor without torchvision)"
    caveats = Qwen2VLFamily.caveats + (
        "The vision MLP is gate/up/down_proj (SwiGLU), not Qwen2-VL's fc1/fc2: a LoRA regex "
        "written for one of the two misses the other; the module walk finds both.",
    )
    video_free_processor = "cubeworld.models.processor:VideoFreeQwen2_5_VLProcessor"

    config_class = "Qwen2_5_VLConfig"
    vision_config = VISION_CONFIG


FAMILY = Qwen2_5_VLFamily()
