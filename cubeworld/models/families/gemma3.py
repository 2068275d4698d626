"""Gemma 3: a SigLIP encoder at one fixed square size, a projector that average-pools the
patch grid to a fixed number of soft tokens (256 at 896 px), and a Gemma 3 decoder with
interleaved sliding-window and global attention layers; image tokens attend to each other
both ways (`token_type_ids`).

Chosen as the second non-Qwen family (the issue named InternVL or Gemma 3) because its
processor (`Gemma3Processor`) has no video processor and `Gemma3ImageProcessorPil` needs no
torchvision: it builds offline as it is. InternVL's processor builds a torchvision video
processor and would need another video-free subclass.

Tiny model: `Gemma3ForConditionalGeneration` with a 2-layer Gemma 3 text model (hidden 128,
one sliding-window and one global layer, the released 4B's RoPE settings) and a 2-layer
SigLIP tower (hidden 64, 224 px, 14 px patches: a 16 x 16 grid pooled 2 x 2 to 64 soft
tokens). Tokenizer: `GemmaTokenizer` over a SentencePiece-style BPE trained offline (spaces
as "▁", 256 byte-fallback pieces, `<pad> <eos> <bos> <unk> <mask>` at ids 0..4 as in Gemma's
vocabulary) with Gemma 3's turn and image tokens (`<start_of_turn>`, `<end_of_turn>`,
`<start_of_image>`, `<end_of_image>`, `<image_soft_token>`); it adds `<bos>` like the real
one. Chat template: gemma-3-it's (`templates/gemma3.jinja`), which writes `<bos>` itself.
"""

from __future__ import annotations

from typing import Any

from cubeworld.models.errors import BackendError
from cubeworld.models.families.base import ModelFamily, TinyModel, template
from cubeworld.models.families.tokenizer import token_ids, train_spiece_bpe

LEADING = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")  # ids 0..4, as in Gemma's vocabulary
TURN_TOKENS = ("<start_of_turn>", "<end_of_turn>")
BOI, EOI, IMAGE = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
SPECIAL_TOKENS = TURN_TOKENS + (BOI, EOI, IMAGE)
VOCAB_SIZE = 768  # room for the 256 byte pieces next to a vocabulary like the others' tiny ones
ROLE_TEXT = ("user\nWill the tower fall?", "model\nYes", "model\nNo")

SIZE = 224  # the encoder's one input size (the released checkpoints: 896)
PATCH = 14
TOKENS_PER_IMAGE = 64  # soft tokens per image: the 16 x 16 patch grid average-pooled 2 x 2
TEXT_CONFIG = dict(
    model_type="gemma3_text",
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=32,
    query_pre_attn_scalar=32,
    max_position_embeddings=8192,
    sliding_window=512,
    layer_types=["sliding_attention", "full_attention"],
    rope_parameters={
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
        "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
    },
)
VISION_CONFIG = dict(
    model_type="siglip_vision_model",
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    image_size=SIZE,
    patch_size=PATCH,
    vision_use_head=False,
)


def _fixed_size(processor: Any) -> tuple[int, int]:
    size = dict(processor.image_processor.size)
    return int(size["height"]), int(size["width"])


class Gemma3Family(ModelFamily):
    name = "gemma3"
    model_types = ("gemma3",)
    model_class = "Gemma3ForConditionalGeneration"
    processor_class = "Gemma3Processor"
    image_size_mechanism = (
        "none to set: every image is resized (aspect not kept) to the encoder's one size "
        "(896 x 896 released, 224 x 224 tiny); image_size equal to it is accepted, any "
        "other size is refused"
    )
    caveats = (
        "The vision tower's position embeddings are fixed, so the image size cannot change; "
        "pan-and-scan crops (off by default, as released) are not used.",
        "The chat template writes `<bos>` and the tokenizer adds one too: prompts are "
        "tokenised without special tokens when the rendered text already starts with it.",
        "The projector is a bare weight matrix (`mm_input_projection_weight`), not a "
        "linear layer: there is no projector LoRA extra.",
        "transformers initialises the projector to zeros (for training from scratch), which "
        "would hide the image from a random model: the tiny builder draws it at random.",
    )

    vision_blocks = "model.vision_tower.encoder.layers"
    projectors = (("projector", "model.multi_modal_projector"),)

    def image_rows(self, batch: dict[str, Any], stage: str, config: Any) -> list[int]:
        """One row per image: the encoder sees each image once, at its one size."""
        return [1] * int(batch["pixel_values"].shape[0])

    def set_max_pixels(self, processor: Any, config: Any, max_pixels: int) -> None:
        h, w = _fixed_size(processor)
        if int(max_pixels) != h * w:
            raise BackendError(
                f"Gemma 3 feeds every image at its encoder's fixed {h}x{w} (max_pixels {h * w}); "
                f"an image size of {int(max_pixels)} pixels cannot be honoured: leave it unset or give {h}"
            )

    def max_pixels_of(self, processor: Any) -> int | None:
        h, w = _fixed_size(processor)
        return h * w

    def fed_size(self, processor: Any, height: int, width: int) -> tuple[int, int]:
        return _fixed_size(processor)

    def build_tiny(self, seed: int, vocab_size: int | None) -> TinyModel:
        import torch
        from transformers import (
            Gemma3Config,
            Gemma3ForConditionalGeneration,
            Gemma3ImageProcessorPil,
            Gemma3Processor,
            GemmaTokenizer,
        )

        n_tokens = (vocab_size or VOCAB_SIZE) - len(SPECIAL_TOKENS)
        vocab, merges = train_spiece_bpe(n_tokens, LEADING, extra=ROLE_TEXT)
        tokenizer = GemmaTokenizer(
            vocab=vocab,
            merges=merges,
            add_bos_token=True,
            boi_token=BOI,
            eoi_token=EOI,
            image_token=IMAGE,
        )
        tokenizer.add_special_tokens({"extra_special_tokens": list(SPECIAL_TOKENS)})
        chat_template = template("gemma3")
        tokenizer.chat_template = chat_template
        ids = token_ids(tokenizer, LEADING + SPECIAL_TOKENS)
        text_config = dict(
            TEXT_CONFIG,
            vocab_size=len(tokenizer),
            pad_token_id=ids["<pad>"],
            eos_token_id=ids["<eos>"],
            bos_token_id=ids["<bos>"],
        )
        config = Gemma3Config(
            text_config=text_config,
            vision_config=dict(VISION_CONFIG),
            mm_tokens_per_image=TOKENS_PER_IMAGE,
            boi_token_index=ids[BOI],
            eoi_token_index=ids[EOI],
            image_token_index=ids[IMAGE],
            tie_word_embeddings=True,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Gemma3ForConditionalGeneration(config)
            projector = model.model.multi_modal_projector.mm_input_projection_weight
            with torch.no_grad():
                projector.normal_(0.0, config.get_text_config().initializer_range)
        model.generation_config.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
        model.generation_config.pad_token_id = ids["<pad>"]
        model.generation_config.bos_token_id = ids["<bos>"]
        image_processor = Gemma3ImageProcessorPil(
            size={"height": SIZE, "width": SIZE}, image_mean=[0.5] * 3, image_std=[0.5] * 3
        )
        processor = Gemma3Processor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            chat_template=chat_template,
            image_seq_length=TOKENS_PER_IMAGE,
        )
        return TinyModel(model, processor, {"max_pixels": SIZE * SIZE, "size": SIZE})


FAMILY = Gemma3Family()
