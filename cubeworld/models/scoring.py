"""The study's evaluation: P(Yes) from the Yes/No logits at the first answer position.

P(Yes) = softmax([logit_Yes, logit_No])[0], which equals the study's normalisation of the
two token probabilities (exp of log-probs, then softmax); the answer is the larger one.
Scoring is one forward pass per batch (no generation), under `torch.inference_mode`, in
float32 on the CPU; left padding keeps the answer position last in every row, so batched
and one-by-one scores agree.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import NO, YES
from cubeworld.formats.predictions import OBSERVER_COLUMNS, PredictionWriter
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.models.errors import ModelsError
from cubeworld.models.inputs import (
    Encoded,
    Example,
    encode_for_scoring,
    encode_prompts,
    example_of,
    prefetch,
    to_device,
)
from cubeworld.models.loading import ModelBundle, chat_template_of, load_model

FREE_TEXT_TOKENS = 5
KIND = "vlm"  # the observer kind of every row this module writes


@dataclass(frozen=True)
class AnswerScore:
    """The answer position of one item: P(Yes) between the two answers, and the full picture.

    p_yes = softmax([logit_Yes, logit_No])[0] (the study's normalisation); logp_yes /
    logp_no are natural-log probabilities over the whole vocabulary; p_other is the mass on
    every other token, 1 - P(Yes) - P(No). A model that "wants to say something else" has a
    large p_other, which the normalised p_yes hides.
    """

    p_yes: float
    logp_yes: float
    logp_no: float

    @property
    def p_other(self) -> float:
        # 1 - exp(ly) - exp(ln), computed without cancellation.
        both = max(self.logp_yes, self.logp_no) + math.log1p(math.exp(-abs(self.logp_yes - self.logp_no)))
        return max(0.0, -math.expm1(both))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def versions() -> dict[str, str]:
    """torch / transformers / peft versions, for the provenance columns ("" if missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("torch", "transformers", "peft"):
        try:
            out[f"{package}_version"] = version(package)
        except PackageNotFoundError:
            out[f"{package}_version"] = ""
    return out


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
    return [s.p_yes for s in answer_scores(bundle, encoded)]


def answer_scores(bundle: ModelBundle, encoded: dict[str, Any]) -> list[AnswerScore]:
    """`AnswerScore` for each row of a batch made by `encode_prompts` (one forward pass)."""
    import torch

    model = bundle.model
    batch = to_device(encoded, bundle.device)
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_model_dtype(model))
    with torch.inference_mode():
        out = model(**batch, logits_to_keep=1, use_cache=False)
    logits = out.logits[:, -1, :].float()
    pair = torch.stack([logits[:, bundle.yes_id], logits[:, bundle.no_id]], dim=1)
    p_yes = torch.softmax(pair, dim=1)[:, 0].tolist()
    logp = torch.log_softmax(logits, dim=-1)
    ly, ln = logp[:, bundle.yes_id].tolist(), logp[:, bundle.no_id].tolist()
    return [AnswerScore(p, y, n) for p, y, n in zip(p_yes, ly, ln)]


def free_text_batch(bundle: ModelBundle, items: Sequence[Example], max_new_tokens: int = FREE_TEXT_TOKENS) -> list[str]:
    """A few greedily generated tokens per item (to compare with the probabilities)."""
    import torch

    batch = to_device(encode_prompts(bundle.processor, items), bundle.device)
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_model_dtype(bundle.model))
    with torch.inference_mode():
        out = bundle.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    new = out[:, batch["input_ids"].shape[1] :]
    texts = bundle.processor.tokenizer.batch_decode(new, skip_special_tokens=True)
    return [t.strip() for t in texts]


def score_items(bundle: ModelBundle, items: Sequence[Example], batch_size: int = 8) -> list[float]:
    """P(Yes) for many items, `batch_size` at a time."""
    scores: list[float] = []
    for i in range(0, len(items), batch_size):
        scores.extend(score_batch(bundle, items[i : i + batch_size]))
    return scores


def _encode_chunk(processor: Any, family: Any, chunk: Sequence[tuple[StimulusSet, Any]]) -> Encoded:
    return encode_for_scoring(processor, family, [example_of(s.root, row) for s, row in chunk])


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


def _request_settings(bundle: ModelBundle) -> dict[str, Any]:
    """The settings that define a table's rows (`SETTINGS_COLUMNS`), as this bundle scores."""
    return {
        "kind": KIND,
        "max_pixels": bundle.max_pixels or "",
        "dtype": bundle.dtype,
        "quantize": bundle.quantize or "none",
        "template_sha256": sha256_text(chat_template_of(bundle.processor)),
    }


def _settings_without_weights(model: str, *, image_size, max_pixels, quantize, device, dtype) -> dict[str, Any]:
    """`_request_settings` of a model not loaded yet: from its config and processor alone."""
    from transformers import AutoConfig

    from cubeworld.models.families import model_family_of
    from cubeworld.models.loading import (
        _check_source,
        default_device,
        load_processor,
        pixel_budget,
        resolve_dtype,
    )

    _check_source(model)
    budget = pixel_budget(image_size, max_pixels)
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError):
        return {}  # the load that follows gives the clear error
    family = model_family_of(getattr(config, "model_type", None))
    processor = load_processor(model, family)
    if budget is not None:
        family.set_max_pixels(processor, config, budget)
    return {
        "kind": KIND,
        "max_pixels": family.max_pixels_of(processor) or "",
        "dtype": resolve_dtype(dtype, device or default_device()),
        "quantize": quantize or "none",
        "template_sha256": sha256_text(chat_template_of(processor)),
    }


def evaluate(
    model: str | Path | ModelBundle,
    sets,
    out: str | Path,
    *,
    adapter: str | Path | None = None,
    batch_size: int = 8,
    condition: str = "",
    seed: int | None = None,
    epoch: int = 0,
    free_text: bool = False,
    progress: bool = True,
    image_size: int | None = None,
    max_pixels: int | None = None,
    quantize: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    adapter_label: str | None = None,
    model_label: str | None = None,
    num_workers: int = 0,
) -> Path:
    """Score every stimulus of `sets` and append one prediction row each to `out`.

    model: a hub id / folder (loaded with `load_model`, with `adapter`, `quantize`,
        `device`, `dtype` and the image size) or an already loaded `ModelBundle` (then
        `adapter`, `quantize`, `device` and `dtype` are its own; an image size is applied to it).
    out: a `.csv` or `.parquet` prediction table. Rows already in it (same stimulus, set,
        model, adapter, condition, seed, epoch) are skipped, so a killed run resumes. Rows
        of this model already there under other settings (image size, dtype, quantization,
        chat template) are refused, naming the settings that differ.
    image_size / max_pixels: the one image-size option (N = N x N pixels), see `load_model`.
    adapter_label / model_label: what the `adapter` / `model` columns say (default: the
        adapter path and the model id or folder).
    Every row records the answer's log-probabilities, the mass on other tokens and the
    provenance columns (`cubeworld.formats.predictions.OBSERVER_COLUMNS`). `num_workers` > 0
    decodes and resizes images in that many processes ahead of the model.
    """
    from tqdm.auto import tqdm

    if int(batch_size) < 1:
        raise ModelsError(f"batch_size must be at least 1, got {batch_size}")
    stim_sets = _as_sets(sets)  # validate the sets and the table name before loading a model
    extra = list(OBSERVER_COLUMNS) + ["quantize"] + (["free_text"] if free_text else [])
    writer = PredictionWriter(out, extra_columns=extra)
    loaded = isinstance(model, ModelBundle)
    if model_label is None:
        model_label = model.name if loaded else str(model)
    if adapter_label is None:
        adapter_label = (model.adapter or "") if loaded else (str(adapter) if adapter else "")
    base = {
        "model": model_label,
        "adapter": adapter_label,
        "condition": condition,
        "seed": "" if seed is None else int(seed),
        "epoch": int(epoch),
    }
    if loaded:
        model.set_image_size(image_size, max_pixels)
    if not writer.existing().empty:  # refuse other settings before loading any weights
        settings = (
            _request_settings(model)
            if loaded
            else _settings_without_weights(
                str(model), image_size=image_size, max_pixels=max_pixels, quantize=quantize, device=device, dtype=dtype
            )
        )
        writer.check_settings(base, settings)
    done = writer.done_keys()
    todo: list[tuple[StimulusSet, Any]] = []
    for s in stim_sets:
        for row in s.rows:
            key = PredictionWriter.key_of({**base, "stimulus_id": row.stimulus_id, "set": s.name})
            if key not in done:
                todo.append((s, row))
    if not todo:  # complete: no need to load the model
        return writer.finish()
    bundle = (
        model
        if loaded
        else load_model(
            model,
            adapter=adapter,
            quantize=quantize,
            device=device,
            image_size=image_size,
            max_pixels=max_pixels,
            dtype=dtype,
        )
    )
    settings = _request_settings(bundle)
    writer.check_settings(base, settings)
    base.update(settings, batch_size=int(batch_size), **versions())
    prompt_hashes: dict[str, str] = {}
    was_training = bundle.model.training
    bundle.model.eval()
    bar = tqdm(total=len(todo), desc=f"scoring {Path(str(bundle.name)).name}", unit="img", disable=not progress)
    try:
        chunks = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        encode = partial(_encode_chunk, bundle.processor, bundle.family)
        for chunk, encoded in prefetch(chunks, encode, num_workers):
            items = [example_of(s.root, row) for s, row in chunk]
            scores = answer_scores(bundle, encoded.batch)
            texts = free_text_batch(bundle, items) if free_text else [None] * len(items)
            rows = []
            for (s, row), sc, fed, text in zip(chunk, scores, encoded.fed_sizes, texts):
                answer = YES if sc.p_yes >= 0.5 else NO
                if row.prompt not in prompt_hashes:
                    prompt_hashes[row.prompt] = sha256_text(row.prompt)
                rec = {
                    **base,
                    "stimulus_id": row.stimulus_id,
                    "set": s.name,
                    "domain": row.domain,
                    "n_blocks": row.n_blocks,
                    "falls": row.falls,
                    "p_yes": f"{sc.p_yes:.8g}",
                    "answer": answer,
                    "correct": answer == row.answer,
                    "logp_yes": f"{sc.logp_yes:.8g}",
                    "logp_no": f"{sc.logp_no:.8g}",
                    "p_other": f"{sc.p_other:.8g}",
                    "prompt_sha256": prompt_hashes[row.prompt],
                    "image_size": fed,
                }
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
