"""Build a tiny random Qwen2-VL offline: the default model for tests and the CPU demo.

Why: no model hub is reachable here, yet every code path (Auto classes, chat template,
processor, LoRA targets, checkpoints) must be the one a real Qwen2-VL takes. So the toolkit
builds a ~0.6 M-parameter `Qwen2VLForConditionalGeneration` with the very same classes:

- tokenizer: a byte-level BPE trained with `tokenizers` on the study's prompts and a little
  English, with Qwen2's pre-tokenizer regex, wrapped as `Qwen2Tokenizer`, plus Qwen2-VL's
  special tokens and its chat template (`chat_template.jinja`, copied from Qwen2-VL-Instruct);
- config: Qwen2-VL with 2 text layers (hidden 128) and a 2-block vision tower (embed 64);
  `mrope_section` sums to head_dim / 2 and the vision `hidden_size` equals the text one;
- processor: `VideoFreeQwen2VLProcessor` with the PIL image processor (no torchvision).

The folder loads afterwards with `AutoModelForImageTextToText.from_pretrained` and
`AutoProcessor.from_pretrained` (after `import cubeworld.models`), like a real checkpoint.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from cubeworld.models.errors import ModelsError
from cubeworld.formats.answers import NO, YES
from cubeworld.stimuli.families import PYRAMID, TOWER, get_family

CHAT_TEMPLATE_FILE = Path(__file__).with_name("chat_template.jinja")

# Qwen2's pre-tokenizer split pattern (from Qwen2-VL's tokenizer.json).
QWEN2_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
ENDOFTEXT = "<|endoftext|>"

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
VOCAB_SIZE = 512
# The tiny model sees images at 224 x 224 at most (64 merged image tokens): fast on a CPU.
TINY_MAX_PIXELS = 224 * 224
TINY_MIN_PIXELS = 56 * 56

_CORPUS = (
    get_family(TOWER).prompt,
    get_family(PYRAMID).prompt,
    "system\nYou are a helpful assistant.",
    "user\nDescribe the image.",
    f"assistant\n{YES}",
    f"assistant\n{NO}",
    "The quick brown fox jumps over the lazy dog. A stack of wooden blocks stands on a table.",
    "Is the red block on top? How many blocks are there? One, two, three, four, five, six.",
)


def _train_tokenizer(vocab_size: int):
    """A byte-level BPE trained on the corpus, returned as a `Qwen2Tokenizer`."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1 - len(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The answers are frequent, so "Yes" and "No" become single tokens, as in Qwen2's vocab.
    tok.train_from_iterator(list(_CORPUS) * 20 + [YES, NO, f" {YES}", f" {NO}"] * 50, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    qt = Qwen2Tokenizer(vocab=model["vocab"], merges=merges, unk_token=ENDOFTEXT,
                        pad_token=ENDOFTEXT, eos_token=ENDOFTEXT, bos_token=None)
    qt.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    qt.eos_token = "<|im_end|>"
    qt.chat_template = CHAT_TEMPLATE_FILE.read_text(encoding="utf-8")
    return qt


def build_tiny_model(out: str | Path, seed: int = 0, *, vocab_size: int = VOCAB_SIZE,
                     max_pixels: int = TINY_MAX_PIXELS) -> Path:
    """Write a random tiny Qwen2-VL (config, weights, tokenizer, processor) to `out`.

    The same `seed` gives the same weights. The folder is written beside `out` and moved
    into place at the end, so a kill never leaves a half-built model.
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    from cubeworld.models.processor import VideoFreeQwen2VLProcessor

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ModelsError(f"{out}: folder exists and is not empty")
    tokenizer = _train_tokenizer(vocab_size)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    text_config = dict(TEXT_CONFIG, vocab_size=len(tokenizer), bos_token_id=None,
                       eos_token_id=ids["<|im_end|>"], pad_token_id=pad_id)
    config = Qwen2VLConfig(
        text_config=text_config,
        vision_config=dict(VISION_CONFIG),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    # Random init under a fixed seed, independent of the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = pad_id
    model.generation_config.bos_token_id = None
    image_processor = Qwen2VLImageProcessorPil(min_pixels=TINY_MIN_PIXELS, max_pixels=max_pixels)
    processor = VideoFreeQwen2VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE_FILE.read_text(encoding="utf-8"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "cubeworld_tiny.json").write_text(
            json.dumps({"builder": "cubeworld.models.build_tiny_model", "seed": seed,
                        "vocab_size": vocab_size, "max_pixels": max_pixels}, indent=2) + "\n"
        )
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
