"""Qwen2-VL: dynamic resolution under a pixel budget; the toolkit's original tiny model.

Tiny model (~0.65 M parameters): `Qwen2VLForConditionalGeneration` with 2 text layers
(hidden 128) and a 2-block vision tower (embed 64); `mrope_section` sums to head_dim / 2
and the vision `hidden_size` equals the text one. Tokenizer: byte-level BPE with Qwen2's
pre-tokenizer regex as `Qwen2Tokenizer`, Qwen2-VL's special tokens and its chat template
(`templates/qwen2_vl.jinja`, copied from Qwen2-VL-Instruct). Processor:
`VideoFreeQwen2VLProcessor` with the PIL image processor. Same seed, same bytes.
"""

from __future__ import annotations

from typing import Any

from cubeworld.models.families.base import ModelFamily, TinyModel, template
from cubeworld.models.families.tokenizer import qwen2_pre_tokenizer, token_ids, train_bpe

SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
ENDOFTEXT = "<|endoftext|>"
VOCAB_SIZE = 512

# Architecture of the tiny model (facts measured with transformers 5.24).
TEXT_CONFIG = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    rope_parameters={"rope_type": "default", "mrope_section": [4, 6, 6], "rope_theta": 1e6},
)
VISION_CONFIG = dict(depth=2, embed_dim=64, hidden_size=128, num_heads=4, mlp_ratio=2)
# The tiny model sees images at 224 x 224 at most (64 merged image tokens): fast on a CPU.
TINY_MAX_PIXELS = 224 * 224
TINY_MIN_PIXELS = 56 * 56


def qwen_tokenizer(vocab_size: int, special_tokens=SPECIAL_TOKENS):
    """A trained byte-level BPE as `Qwen2Tokenizer`, with Qwen's special tokens."""
    from transformers import Qwen2Tokenizer

    vocab, merges = train_bpe(vocab_size - 1 - len(special_tokens), qwen2_pre_tokenizer())
    tok = Qwen2Tokenizer(
        vocab=vocab, merges=merges, unk_token=ENDOFTEXT, pad_token=ENDOFTEXT, eos_token=ENDOFTEXT, bos_token=None
    )
    tok.add_special_tokens({"additional_special_tokens": list(special_tokens)})
    tok.eos_token = "<|im_end|>"
    return tok


class Qwen2VLFamily(ModelFamily):
    name = "qwen2-vl"
    model_types = ("qwen2_vl",)
    model_class = "Qwen2VLForConditionalGeneration"
    processor_class = "Qwen2VLProcessor (VideoFreeQwen2VLProcessor without torchvision)"
    image_size_mechanism = (
        "`max_pixels` (image_size N = N*N): each image is resized, keeping its aspect, to "
        "multiples of 28 px with min_pixels <= h*w <= max_pixels (dynamic resolution)"
    )
    caveats: tuple[str, ...] = (
        "Batches of images of different sizes give rows with different numbers of "
        "image tokens; left padding keeps the answer position last (tested).",
    )
    video_free_processor = "cubeworld.models.processor:VideoFreeQwen2VLProcessor"
    template_name = "qwen2_vl"

    # -- image size -----------------------------------------------------------------------
    def set_max_pixels(self, processor: Any, config: Any, max_pixels: int) -> None:
        """Qwen resizes each image to a multiple of 28 px with min <= w*h <= max_pixels;
        e.g. `max_pixels=224*224` scores a 448 px stimulus at 224 px (64 image tokens)."""
        ip = processor.image_processor
        size = dict(ip.size)
        size["longest_edge"] = int(max_pixels)
        size["shortest_edge"] = min(size.get("shortest_edge") or TINY_MIN_PIXELS, int(max_pixels))
        ip.size = size
        for attr, key in (("max_pixels", "longest_edge"), ("min_pixels", "shortest_edge")):
            if hasattr(ip, attr):
                setattr(ip, attr, size[key])

    def max_pixels_of(self, processor: Any) -> int | None:
        ip = processor.image_processor
        try:
            return int(ip.size["longest_edge"])
        except (KeyError, TypeError):
            return getattr(ip, "max_pixels", None)

    def fed_size(self, processor: Any, height: int, width: int) -> tuple[int, int]:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        ip = processor.image_processor
        return smart_resize(
            height,
            width,
            factor=ip.patch_size * ip.merge_size,
            min_pixels=ip.size["shortest_edge"],
            max_pixels=ip.size["longest_edge"],
        )

    # -- activation points ----------------------------------------------------------------
    vision_blocks = "model.visual.blocks"
    projectors: tuple[tuple[str, str], ...] = (("projector", "model.visual.merger"),)

    def image_rows(self, batch: dict[str, Any], stage: str, config: Any) -> list[int]:
        """The vision tower runs on every image's patches in one sequence (h x w patches an
        image); the merger's output has one row per image token (2 x 2 patches merged)."""
        patches = batch["image_grid_thw"].prod(dim=-1)
        if stage == "vision":
            return [int(n) for n in patches]
        return [int(n) // config.vision_config.spatial_merge_size**2 for n in patches]

    # -- tiny model -----------------------------------------------------------------------
    # The tiny model's classes and vision tower: Qwen2.5-VL changes only these.
    config_class = "Qwen2VLConfig"
    text_config: dict[str, Any] = TEXT_CONFIG
    vision_config: dict[str, Any] = VISION_CONFIG

    def _config(self, ids: dict[str, int], text_config: dict):
        import transformers

        return getattr(transformers, self.config_class)(
            text_config=text_config,
            vision_config=dict(self.vision_config),
            image_token_id=ids["<|image_pad|>"],
            video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"],
            vision_end_token_id=ids["<|vision_end|>"],
            tie_word_embeddings=False,
        )

    def _model_class(self):
        import transformers

        return getattr(transformers, self.model_class)

    def _processor(self, image_processor, tokenizer):
        import importlib

        module, _, name = self.video_free_processor.partition(":")
        processor_class = getattr(importlib.import_module(module), name)
        return processor_class(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=template(self.template_name)
        )

    def _image_processor(self):
        from transformers import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)

    def build_tiny(self, seed: int, vocab_size: int | None) -> TinyModel:
        import torch

        tokenizer = qwen_tokenizer(vocab_size or VOCAB_SIZE)
        tokenizer.chat_template = template(self.template_name)
        ids = token_ids(tokenizer, SPECIAL_TOKENS)
        pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
        text_config = dict(
            self.text_config,
            vocab_size=len(tokenizer),
            bos_token_id=None,
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=pad_id,
        )
        config = self._config(ids, text_config)
        # Random init under a fixed seed, independent of the caller's global RNG state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self._model_class()(config)
        model.generation_config.eos_token_id = ids["<|im_end|>"]
        model.generation_config.pad_token_id = pad_id
        model.generation_config.bos_token_id = None
        return TinyModel(model, self._processor(self._image_processor(), tokenizer), {"max_pixels": TINY_MAX_PIXELS})


FAMILY = Qwen2VLFamily()
