"""Turn stimulus rows into model inputs: the study's prompt + image through the chat template.

One function builds the prompt batch for scoring; training appends the answer token to the
very same batch, so what is trained is exactly what is scored: the logits at the first
assistant position. Padding is on the left, so that position is the last one of every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cubeworld.formats.sets import StimulusRow
from cubeworld.models.errors import ModelsError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """One image-question pair (and the answer to train on, when training)."""

    stimulus_id: str
    image: Path
    prompt: str
    label: bool | None = None  # True = "Yes" (falls); None when only scoring


def example_of(root: Path, row: StimulusRow, label: bool | None = None) -> Example:
    return Example(row.stimulus_id, root / row.file_name, row.prompt, label)


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
    texts = [
        processor.apply_chat_template(messages_for(it.prompt), tokenize=False,
                                      add_generation_prompt=True)
        for it in items
    ]
    images = [open_image(it.image) for it in items]
    tokenizer = processor.tokenizer
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = processor(text=texts, images=images, padding=True, return_tensors="pt")
    finally:
        tokenizer.padding_side = old_side
    return dict(batch)


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
    answers = torch.tensor([[yes_id if it.label else no_id] for it in items],
                           dtype=batch["input_ids"].dtype)
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


def prefetch(chunks: Sequence[Sequence[Any]], encode, num_workers: int = 0):
    """Yield `(chunk, encode(chunk))` in order, encoding in `num_workers` processes ahead.

    Decoding PNGs and resizing them is CPU work that a GPU otherwise waits for; with
    workers it overlaps the forward passes (a torch DataLoader, one chunk per item).
    With 0 workers it encodes in this process, in order.
    """
    if num_workers <= 0:
        for chunk in chunks:
            yield chunk, encode(chunk)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(list(chunks), batch_size=None, shuffle=False, num_workers=num_workers,
                        collate_fn=encode, prefetch_factor=2, persistent_workers=False)
    yield from zip(chunks, loader)
