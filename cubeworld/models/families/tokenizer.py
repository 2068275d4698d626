"""A byte-level BPE vocabulary trained offline, for the tiny models of every family.

Why: no tokenizer can be downloaded here, yet the tiny models must tokenise like the real
ones: byte-level BPE, the family's own pre-tokenizer, its special tokens, and "Yes" / "No"
(with or without a leading space, as the family's template puts them) as single tokens.
So each tiny model trains a small vocabulary on the study's prompts and a little English,
with the answers frequent enough to be merged, and wraps it in the family's tokenizer class.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from cubeworld.formats.answers import NO, YES
from cubeworld.stimuli.families import FAMILIES as STIMULUS_FAMILIES

# Qwen2's pre-tokenizer split pattern (from Qwen2-VL's tokenizer.json).
QWEN2_PRETOKENIZE_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# The tiny tokenizers' training text: the study's two prompts, fixed (not every registered
# family's), so that adding a stimulus family never changes a tiny model's bytes; another
# family's prompt still tokenises, only less compactly.
CORPUS = (
    STIMULUS_FAMILIES.get("tower").prompt,
    STIMULUS_FAMILIES.get("pyramid").prompt,
    "system\nYou are a helpful assistant.",
    "user\nDescribe the image.",
    f"assistant\n{YES}",
    f"assistant\n{NO}",
    "The quick brown fox jumps over the lazy dog. A stack of wooden blocks stands on a table.",
    "Is the red block on top? How many blocks are there? One, two, three, four, five, six.",
)


def qwen2_pre_tokenizer():
    """Qwen2's pre-tokenizer: its split regex, then byte-level without its own regex."""
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def smollm_pre_tokenizer():
    """SmolLM2's (SmolVLM's text model) pre-tokenizer: single digits, then GPT-2 byte-level."""
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )


def train_bpe(n_tokens: int, pre_tokenizer, extra: Sequence[str] = ()) -> tuple[dict, list]:
    """(vocab, merges) of a byte-level BPE with `n_tokens` entries, trained on the corpus.

    The answers are frequent, so "Yes" and "No" (and " Yes", " No") become single tokens,
    as in the real vocabularies. `extra` adds family-specific text (role names and so on).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=n_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts: list[str] = list(CORPUS) * 20 + list(extra) * 20
    tok.train_from_iterator(texts + [YES, NO, f" {YES}", f" {NO}"] * 50, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


def token_ids(tokenizer, tokens: Iterable[str]) -> dict[str, int]:
    return {t: tokenizer.convert_tokens_to_ids(t) for t in tokens}


SPIECE_SPACE = "\u2581"  # SentencePiece's "▁": a space, as the tokenizer sees it
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))  # byte fallback pieces, as in Gemma's vocabulary


def train_spiece_bpe(n_tokens: int, leading: Sequence[str], extra: Sequence[str] = ()) -> tuple[dict, list]:
    """(vocab, merges) of a SentencePiece-style BPE (Gemma's): spaces as "▁", byte fallback.

    `leading` tokens (pad, eos, bos, unk, mask, in the family's order) take the first ids,
    then the 256 byte-fallback pieces `<0x00>`..`<0xFF>`, then characters and merges. A
    word boundary is kept in training (a piece never spans "▁"-words or a newline), so a
    prompt's tokens are a prefix of the same prompt answered, as with the real vocabulary.
    """
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(byte_fallback=True, unk_token=str(leading[3]) if len(leading) > 3 else None))
    tok.normalizer = normalizers.Replace(" ", SPIECE_SPACE)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n+"), behavior="isolated"),
            pre_tokenizers.Split(SPIECE_SPACE, behavior="merged_with_next"),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=n_tokens, special_tokens=list(leading) + list(BYTE_TOKENS), show_progress=False
    )
    texts: list[str] = list(CORPUS) * 20 + list(extra) * 20
    tok.train_from_iterator(texts + [YES, NO, f" {YES}", f" {NO}"] * 50, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges
