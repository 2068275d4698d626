"""Turn stimulus rows into model inputs: the study's prompt + image through the chat template.

One function builds the prompt batch for scoring; training appends the answer token to the
very same batch, so what is trained is exactly what is scored: the logits at the first
assistant position. Padding is on the left, so that position is the last one of every row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubeworld.models.errors import ModelsError
from cubeworld.trainer.data import Example, example_of

IGNORE_INDEX = -100

__all__ = ["Example", "example_of", "encode_prompts", "encode_training", "prefetch", "to_device"]


def messages_for(prompt: str) -> list[dict[str, Any]]:
    """The study's single user turn: the image, then the prompt text."""
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]


def open_image(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, ValueError) as e:
        raise ModelsError(f"{path}: cannot read the image ({e})") from None


def encode_prompts(processor: Any, items: Sequence[Example]) -> dict[str, Any]:
    """Left-padded batch of chat-templated prompts with their images (generation prompt on)."""
    return encode_images(processor, items, [open_image(it.image) for it in items])


def encode_images(processor: Any, items: Sequence[Example], images: Sequence[Any]) -> dict[str, Any]:
    """`encode_prompts` with the images already opened."""
    texts = [
        processor.apply_chat_template(messages_for(it.prompt), tokenize=False, add_generation_prompt=True)
        for it in items
    ]
    tokenizer = processor.tokenizer
    # A template that writes the BOS token itself (Gemma's) would get a second one from a
    # tokenizer that adds it; transformers' own apply_chat_template makes the same check.
    bos = getattr(tokenizer, "bos_token", None)
    special = {"add_special_tokens": False} if bos and all(t.startswith(bos) for t in texts) else {}
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = processor(text=texts, images=[[im] for im in images], padding=True, return_tensors="pt", **special)
    finally:
        tokenizer.padding_side = old_side
    return dict(batch)


@dataclass
class Encoded:
    """A scoring batch and, per item, the size its image is fed at ("HxW", "" if unknown)."""

    batch: dict[str, Any]
    fed_sizes: list[str]


def encode_for_scoring(processor: Any, family: Any, items: Sequence[Example]) -> Encoded:
    """The batch `encode_prompts` makes, plus the image size each item is fed at."""
    images = [open_image(it.image) for it in items]
    sizes = []
    for im in images:
        hw = family.fed_size(processor, im.height, im.width)
        sizes.append(f"{hw[0]}x{hw[1]}" if hw else "")
    return Encoded(encode_images(processor, items, images), sizes)


def encode_training(processor: Any, items: Sequence[Example], yes_id: int, no_id: int) -> dict[str, Any]:
    """Prompt batch + one answer token per row; labels are -100 except at that token.

    The end-of-turn tokens the template would put after the answer are not appended: they
    are not trained (nothing after the first answer position is ever scored), so the loss
    is the cross-entropy of the answer token alone.
    """
    import torch

    if any(it.label is None for it in items):
        raise ValueError("encode_training needs a label for every item")
    batch = encode_prompts(processor, items)
    answers = torch.tensor([[yes_id if it.label else no_id] for it in items], dtype=batch["input_ids"].dtype)
    ones = torch.ones_like(answers)
    batch["input_ids"] = torch.cat([batch["input_ids"], answers], dim=1)
    batch["attention_mask"] = torch.cat([batch["attention_mask"], ones.to(batch["attention_mask"].dtype)], dim=1)
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in batch and batch[key] is not None:
            batch[key] = torch.cat([batch[key], torch.zeros_like(answers).to(batch[key].dtype)], dim=1)
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    labels[:, -1] = answers[:, 0]
    batch["labels"] = labels
    return batch


def to_device(batch: dict[str, Any], device: str, dtype=None) -> dict[str, Any]:
    import torch

    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device)
            if dtype is not None and v.is_floating_point():
                v = v.to(dtype)
        out[k] = v
    return out


_WORKER_ENCODE = None


def _init_worker(encode) -> None:
    global _WORKER_ENCODE
    from cubeworld.pools import exit_with_parent

    exit_with_parent()  # first: a worker never outlives the command that started it
    if "torch" in sys.modules:  # unpickling a processor brought it: one thread per worker
        sys.modules["torch"].set_num_threads(1)
    else:  # read when torch is first imported here
        os.environ["OMP_NUM_THREADS"] = "1"
    _WORKER_ENCODE = encode


def _encode_in_worker(chunk):
    return _WORKER_ENCODE(chunk)


def item_name(item: Any) -> str:
    """A short name of an item for messages: its stimulus id (also inside a (set, row)
    pair), else the start of its text."""
    for part in item if isinstance(item, tuple) else (item,):
        sid = getattr(part, "stimulus_id", None)
        if sid:
            return str(sid)
    text = str(item)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(chunks: Sequence[Sequence[Any]], name_of: Callable[[Any], str] = item_name) -> str:
    """At most five items by name, and how many there are (never the items themselves)."""
    names = [name_of(it) for c in chunks for it in c]
    shown = ", ".join(names[:5])
    return f"{len(names)} item(s): {shown}{', ...' if len(names) > 5 else ''}"


def prefetch(chunks: Sequence[Sequence[Any]], encode, num_workers: int = 0, *, retries: int = 1):
    """Yield `(chunk, encode(chunk))` in order, encoding in `num_workers` processes ahead.

    Decoding PNGs and resizing them is CPU work that a GPU otherwise waits for; with
    workers it overlaps the forward passes. With 0 workers it encodes in this process.

    The workers are a spawned `ProcessPoolExecutor` (the processor is handed over once,
    when a worker starts; nothing of the parent's torch state is inherited), never a
    `multiprocessing.Pool`: a worker that dies (killed, out of memory, a crash in native
    code) breaks the pool with `BrokenProcessPool` instead of hanging. The chunks it lost
    are encoded again in a fresh pool (`retries` times); if the pool breaks again, a
    `ModelsError` names a few of the items that could not be encoded and their count.
    Workers end with this process, however it ends (`cubeworld.pools.exit_with_parent`).
    """
    if num_workers <= 0:
        for chunk in chunks:
            yield chunk, encode(chunk)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    chunks = list(chunks)
    ahead = max(2, 2 * num_workers)
    start, attempts = 0, 0
    while start < len(chunks):
        pool = ProcessPoolExecutor(
            max_workers=num_workers, initializer=_init_worker, initargs=(encode,), mp_context=mp.get_context("spawn")
        )
        pending = {}
        try:
            i = start
            while i < len(chunks):
                for j in range(i, min(i + ahead, len(chunks))):
                    if j not in pending:
                        pending[j] = pool.submit(_encode_in_worker, chunks[j])
                result = pending.pop(i).result()
                yield chunks[i], result
                i += 1
                start = i
            pool.shutdown(wait=True)
            return
        except BrokenProcessPool:
            pool.shutdown(wait=False, cancel_futures=True)
            attempts += 1
            if attempts > retries:
                raise ModelsError(
                    f"a worker process encoding images died (killed, or out of memory) "
                    f"{attempts} time(s); could not encode {_describe(chunks[start : start + ahead])}"
                    " -- rows written so far are kept; run again to resume"
                ) from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
