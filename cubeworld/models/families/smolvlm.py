"""SmolVLM (Idefics3 architecture): a SigLIP-style encoder over fixed-size tiles, a pixel
shuffle connector, a Llama decoder; images are resized by their longest edge and split.

The released SmolVLM-256M/500M/2.2B-Instruct checkpoints are `Idefics3ForConditionalGeneration`
with `Idefics3Processor` (model type "idefics3"); SmolVLM2 is model type "smolvlm" with the
same image-size semantics. The tiny model is the Idefics3 kind.

Tiny model: `Idefics3ForConditionalGeneration` with a 2-layer Llama decoder (hidden 128)
and a 2-layer vision encoder (hidden 64, 224 px tiles of 14 px patches, pixel shuffle 2:
64 image tokens per tile). Tokenizer: byte-level BPE with SmolLM2's pre-tokenizer (single
digits + GPT-2 byte level) as `GPT2Tokenizer`, SmolVLM's special tokens (`<|im_start|>`
bos, `<end_of_utterance>` eos, `<|im_end|>` pad, `<image>`, `<fake_token_around_image>`,
`<global-img>`, `<row_i_col_j>`) and SmolVLM-Instruct's chat template
(`templates/smolvlm.jinja`): the generation prompt is `Assistant:` with no space, so the
answer token is " Yes" / " No" with its leading space (found from the template).
"""

from __future__ import annotations

import math
from typing import Any

from cubeworld.models.errors import BackendError
from cubeworld.models.families.base import ModelFamily, TinyModel, side_of, template
from cubeworld.models.families.tokenizer import smollm_pre_tokenizer, token_ids, train_bpe

ENDOFTEXT = "<|endoftext|>"
BOS, PAD, EOS = "<|im_start|>", "<|im_end|>", "<end_of_utterance>"
IMAGE_TOKENS = ("<fake_token_around_image>", "<image>", "<global-img>")
ROW_COL_TOKENS = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))
SPECIAL_TOKENS = (BOS, PAD) + IMAGE_TOKENS + (EOS,) + ROW_COL_TOKENS
VOCAB_SIZE = 576  # room for the 43 special tokens next to a vocabulary like Qwen's tiny one

TILE = 224  # the vision encoder's image size: images are fed as tiles of this side
PATCH = 14
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (TILE // PATCH) ** 2 // SCALE_FACTOR**2  # 64 tokens per tile
TEXT_CONFIG = dict(
    model_type="llama",
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=8192,
    tie_word_embeddings=False,
    rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
)
VISION_CONFIG = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, image_size=TILE, patch_size=PATCH
)
ROLE_TEXT = ("User: Will the tower fall?", "Assistant: Yes", "Assistant: No", "User:", "Assistant:")


def _longest_edge(ip: Any, key: str) -> int:
    return int(dict(getattr(ip, key))["longest_edge"])


class SmolVLMFamily(ModelFamily):
    name = "smolvlm"
    model_types = ("idefics3", "smolvlm")
    model_class = "Idefics3ForConditionalGeneration"
    processor_class = "Idefics3Processor"
    image_size_mechanism = (
        "`size.longest_edge`: the longest edge is resized to N (image_size N; max_pixels -> "
        "N = sqrt), rounded down to a multiple of the encoder's tile (`max_image_size`), "
        "then split into tiles plus one global tile"
    )
    caveats = (
        "The generation prompt `Assistant:` has no trailing space: the answer tokens are "
        "' Yes' / ' No' (found from the chat template).",
        "Tiles are fixed-size: an image size below one tile is refused; a larger image "
        "costs (rows x cols + 1) x 64 image tokens at the tiny size.",
        "Batches pad the tile count with all-zero tiles, which the model drops.",
    )

    vision_blocks = "model.vision_model.encoder.layers"
    projectors = (("projector", "model.connector"),)

    def image_rows(self, batch: dict[str, Any], stage: str, config: Any) -> list[int]:
        """One row per tile; batches pad the tile count with all-zero tiles, which the model
        drops before the encoder (as here)."""
        real = (batch["pixel_values"] != 0).flatten(2).any(dim=-1)
        return [int(n) for n in real.sum(dim=1)]

    def set_max_pixels(self, processor: Any, config: Any, max_pixels: int) -> None:
        ip = processor.image_processor
        tile = _longest_edge(ip, "max_image_size")
        side = side_of(max_pixels)
        if side < tile:
            raise BackendError(
                f"image size {side} px is below this model's tile size ({tile} px, "
                "max_image_size): SmolVLM/Idefics3 feeds at least one whole tile"
            )
        if not getattr(ip, "do_image_splitting", True):
            raise BackendError(
                "this processor does not split images (do_image_splitting "
                "is off): its image size is the tile size alone"
            )
        ip.size = {"longest_edge": side // tile * tile}

    def max_pixels_of(self, processor: Any) -> int | None:
        ip = processor.image_processor
        edge = _longest_edge(ip, "size" if getattr(ip, "do_image_splitting", True) else "max_image_size")
        return edge * edge

    def fed_size(self, processor: Any, height: int, width: int) -> tuple[int, int]:
        import numpy as np
        from transformers.models.idefics3.image_processing_pil_idefics3 import (
            get_resize_output_image_size,
        )

        ip = processor.image_processor
        tile = _longest_edge(ip, "max_image_size")
        if not getattr(ip, "do_image_splitting", True):
            return tile, tile
        # The processor's own resize (longest edge -> size.longest_edge), then its
        # `resize_for_vision_encoder` arithmetic: both sides up to multiples of the tile.
        h, w = get_resize_output_image_size(np.empty((0, height, width)), _longest_edge(ip, "size"))
        aspect = w / h
        if w >= h:
            w = math.ceil(w / tile) * tile
            h = math.ceil(int(w / aspect) / tile) * tile
        else:
            h = math.ceil(h / tile) * tile
            w = math.ceil(int(h * aspect) / tile) * tile
        return h, w

    def build_tiny(self, seed: int, vocab_size: int | None) -> TinyModel:
        import torch
        from transformers import (
            GPT2Tokenizer,
            Idefics3Config,
            Idefics3ForConditionalGeneration,
            Idefics3ImageProcessorPil,
            Idefics3Processor,
        )

        vocab, merges = train_bpe(
            (vocab_size or VOCAB_SIZE) - 1 - len(SPECIAL_TOKENS), smollm_pre_tokenizer(), extra=ROLE_TEXT
        )
        tokenizer = GPT2Tokenizer(
            vocab=vocab,
            merges=merges,
            unk_token=ENDOFTEXT,
            bos_token=BOS,
            eos_token=EOS,
            pad_token=PAD,
            add_prefix_space=False,
        )
        tokenizer.backend_tokenizer.pre_tokenizer = smollm_pre_tokenizer()
        tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
        chat_template = template("smolvlm")
        tokenizer.chat_template = chat_template
        ids = token_ids(tokenizer, (BOS, PAD, EOS, "<image>"))
        text_config = dict(
            TEXT_CONFIG, vocab_size=len(tokenizer), bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD]
        )
        config = Idefics3Config(  # type: ignore[call-arg]
            text_config=text_config,
            vision_config=dict(VISION_CONFIG),
            image_token_id=ids["<image>"],
            scale_factor=SCALE_FACTOR,
            tie_word_embeddings=False,
            pad_token_id=ids[PAD],
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Idefics3ForConditionalGeneration(config)
        model.generation_config.eos_token_id = ids[EOS]
        model.generation_config.pad_token_id = ids[PAD]
        model.generation_config.bos_token_id = ids[BOS]
        image_processor = Idefics3ImageProcessorPil(
            size={"longest_edge": TILE},
            max_image_size={"longest_edge": TILE},
            do_image_splitting=True,
            image_mean=[0.5] * 3,
            image_std=[0.5] * 3,
        )
        processor = Idefics3Processor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            image_seq_len=IMAGE_SEQ_LEN,
            chat_template=chat_template,
        )
        return TinyModel(model, processor, {"max_pixels": TILE * TILE, "tile": TILE})


FAMILY = SmolVLMFamily()
