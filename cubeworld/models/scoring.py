"""The study's evaluation: P(Yes) from the Yes/No logits at the first answer position.

P(Yes) = softmax([logit_Yes, logit_No])[0], which equals the study's normalisation of the
two token probabilities (exp of log-probs, then softmax); the answer is the larger one.
Scoring is one forward pass per batch (no generation), under `torch.inference_mode`, in
float32 on the CPU; left padding keeps the answer position last in every row, so batched
and one-by-one scores agree.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Iterable, Sequence

from cubeworld.formats.predictions import PredictionWriter
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.models.errors import ModelsError
from cubeworld.models.inputs import Example, encode_prompts, example_of, prefetch, to_device
from cubeworld.models.loading import ModelBundle, load_model
from cubeworld.formats.answers import NO, YES

FREE_TEXT_TOKENS = 5


def _model_dtype(model) -> Any:
    try:
        return next(p for p in model.parameters() if p.is_floating_point()).dtype
    except StopIteration:
        return None


def score_batch(bundle: ModelBundle, items: Sequence[Example]) -> list[float]:
    """P(Yes) for each item, in one forward pass."""
    return score_encoded(bundle, encode_prompts(bundle.processor, items))


def score_encoded(bundle: ModelBundle, encoded: dict[str, Any]) -> list[float]:
    """P(Yes) for each row of a batch made by `encode_prompts`."""
    import torch

    model = bundle.model
    batch = to_device(encoded, bundle.device)
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_model_dtype(model))
    with torch.inference_mode():
        out = model(**batch, logits_to_keep=1, use_cache=False)
    logits = out.logits[:, -1, :].float()
    pair = torch.stack([logits[:, bundle.yes_id], logits[:, bundle.no_id]], dim=1)
    return torch.softmax(pair, dim=1)[:, 0].tolist()


def free_text_batch(bundle: ModelBundle, items: Sequence[Example],
                    max_new_tokens: int = FREE_TEXT_TOKENS) -> list[str]:
    """A few greedily generated tokens per item (to compare with the probabilities)."""
    import torch

    batch = to_device(encode_prompts(bundle.processor, items), bundle.device)
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_model_dtype(bundle.model))
    with torch.inference_mode():
        out = bundle.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[:, batch["input_ids"].shape[1]:]
    texts = bundle.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
    return [t.strip() for t in texts]


def score_items(bundle: ModelBundle, items: Sequence[Example], batch_size: int = 8) -> list[float]:
    """P(Yes) for many items, `batch_size` at a time."""
    scores: list[float] = []
    for i in range(0, len(items), batch_size):
        scores.extend(score_batch(bundle, items[i : i + batch_size]))
    return scores


def _encode_chunk(processor: Any, chunk: Sequence[tuple[StimulusSet, Any]]) -> dict[str, Any]:
    return encode_prompts(processor, [example_of(s.root, row) for s, row in chunk])


def _as_sets(sets: str | Path | StimulusSet | Iterable[str | Path | StimulusSet]) -> list[StimulusSet]:
    if isinstance(sets, (str, Path, StimulusSet)):
        sets = [sets]
    loaded = [s if isinstance(s, StimulusSet) else load_set(s) for s in sets]
    if not loaded:
        raise ModelsError("no stimulus set given to evaluate")
    names = [s.name for s in loaded]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ModelsError(f"two sets share the name {sorted(dup)[0]!r}; the set column would be ambiguous")
    return loaded


def evaluate(model: str | Path | ModelBundle, sets, out: str | Path, *, adapter: str | Path | None = None,
             batch_size: int = 8, condition: str = "", seed: int | None = None, epoch: int = 0,
             free_text: bool = False, progress: bool = True, max_pixels: int | None = None,
             quantize: str | None = None, device: str | None = None,
             adapter_label: str | None = None, model_label: str | None = None,
             num_workers: int = 0) -> Path:
    """Score every stimulus of `sets` and append one prediction row each to `out`.

    model: a hub id / folder (loaded with `load_model`, with `adapter`, `quantize`,
        `device`, `max_pixels`) or an already loaded `ModelBundle` (then `adapter` is
        ignored for loading).
    out: a `.csv` or `.parquet` prediction table. Rows already in it (same stimulus, set,
        model, adapter, condition, seed, epoch) are skipped, so a killed run resumes.
    adapter_label / model_label: what the `adapter` / `model` columns say (default: the
        adapter path and the model id or folder).
    The image resolution used goes in a `max_pixels` column. `num_workers` > 0 decodes and
    resizes images in that many processes ahead of the model (worth it on a GPU).
    """
    from tqdm.auto import tqdm

    stim_sets = _as_sets(sets)  # validate the sets and the table name before loading a model
    extra = ["max_pixels"] + (["free_text"] if free_text else [])
    writer = PredictionWriter(out, extra_columns=extra)
    loaded = isinstance(model, ModelBundle)
    if model_label is None:
        model_label = model.name if loaded else str(model)
    if adapter_label is None:
        adapter_label = (model.adapter or "") if loaded else (str(adapter) if adapter else "")
    base = {"model": model_label, "adapter": adapter_label, "condition": condition,
            "seed": "" if seed is None else int(seed), "epoch": int(epoch)}
    done = writer.done_keys()
    todo: list[tuple[StimulusSet, Any]] = []
    for s in stim_sets:
        for row in s.rows:
            key = PredictionWriter.key_of({**base, "stimulus_id": row.stimulus_id, "set": s.name})
            if key not in done:
                todo.append((s, row))
    if not todo:  # complete: no need to load the model
        return writer.finish()
    bundle = model if loaded else load_model(
        model, adapter=adapter, quantize=quantize, device=device, max_pixels=max_pixels)
    if loaded and max_pixels is not None:
        from cubeworld.models.loading import set_max_pixels

        set_max_pixels(bundle.processor, max_pixels)
    base["max_pixels"] = bundle.max_pixels or ""
    was_training = bundle.model.training
    bundle.model.eval()
    bar = tqdm(total=len(todo), desc=f"scoring {Path(str(bundle.name)).name}", unit="img",
               disable=not progress)
    try:
        chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        encode = partial(_encode_chunk, bundle.processor)
        for chunk, encoded in prefetch(chunks, encode, num_workers):
            items = [example_of(s.root, row) for s, row in chunk]
            p_yes = score_encoded(bundle, encoded)
            texts = free_text_batch(bundle, items) if free_text else [None] * len(items)
            rows = []
            for (s, row), p, text in zip(chunk, p_yes, texts):
                answer = YES if p >= 0.5 else NO
                rec = {**base, "stimulus_id": row.stimulus_id, "set": s.name, "domain": row.domain,
                       "n_blocks": row.n_blocks, "falls": row.falls, "p_yes": f"{p:.8g}",
                       "answer": answer, "correct": answer == row.answer}
                if free_text:
                    rec["free_text"] = text
                rows.append(rec)
            writer.append(rows)
            bar.update(len(chunk))
    finally:
        bar.close()
        if was_training:
            bundle.model.train()
    return writer.finish()
