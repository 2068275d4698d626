"""The study's evaluation: P(Yes) from the Yes/No logits at the first answer position;
and the prompting contrasts on the same items (free answers, step by step).

P(Yes) = softmax([logit_Yes, logit_No])[0], which equals the study's normalisation of the
two token probabilities (exp of log-probs, then softmax); the answer is the larger one.
Scoring is one forward pass per batch (no generation), under `torch.inference_mode`, in
float32 on the CPU; left padding keeps the answer position last in every row, so batched
and one-by-one scores agree.

The other modes (`VlmScoring.mode`, `cubeworld.models.modes`) generate instead, greedily:
`free` answers the study's prompt, `step` the prompt with the step-by-step suffix. The
answer is read from the text by `extract_answer` (the rule the GRPO reward uses too); a
row records the text (`free_text`), how the reading went (`extraction`) and P(Yes) 1 or 0.
A text without a readable answer is a row without an answer (P(Yes) and the answer
empty, `extraction` "failed: <why>"), never dropped and never guessed. Rows of a
generating mode are labelled "<model>@<mode>" in the `model` column (`mode_label`), so
the modes of one model are different observers of the report.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cubeworld.formats.answers import YES
from cubeworld.formats.predictions import OBSERVER_COLUMNS, PredictionWriter
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.formats.tables import Answer, Emit, Item, fill_tables, versions
from cubeworld.models.config import VlmScoring, default_of
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
from cubeworld.models.modes import DEFAULT_MODE, extract_answer, mode_label, new_tokens, prompt_for

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
    return generate_texts(bundle, encode_prompts(bundle.processor, items), max_new_tokens)


def stop_tokens(bundle: ModelBundle) -> list[int]:
    """Token ids that end an answer: the tokenizer's end of text and the template's end of
    turn (what the chat template writes after an answer)."""
    tokenizer = bundle.processor.tokenizer
    ids = [tokenizer.eos_token_id, *bundle.answer.end_of_turn[:1]]
    return list(dict.fromkeys(i for i in ids if i is not None))


def generate_texts(bundle: ModelBundle, encoded: dict[str, Any], max_new_tokens: int) -> list[str]:
    """Greedy continuations of a batch made by `encode_prompts` (left-padded), decoded
    without special tokens and stripped; generation stops at the end of the turn."""
    import torch

    batch = to_device(encoded, bundle.device)
    if "pixel_values" in batch:
        batch["pixel_values"] = batch["pixel_values"].to(_model_dtype(bundle.model))
    tokenizer = bundle.processor.tokenizer
    with torch.inference_mode():
        out = bundle.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=stop_tokens(bundle),
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[:, batch["input_ids"].shape[1] :]
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


def score_items(bundle: ModelBundle, items: Sequence[Example], batch_size: int = 8) -> list[float]:
    """P(Yes) for many items, `batch_size` at a time."""
    scores: list[float] = []
    for i in range(0, len(items), batch_size):
        scores.extend(score_batch(bundle, items[i : i + batch_size]))
    return scores


def _encode_chunk(processor: Any, family: Any, chunk: Sequence[Item], mode: str = DEFAULT_MODE) -> Encoded:
    """The batch of a chunk of items, each asked as `mode` asks (`prompt_for`)."""
    examples = [example_of(s.root, row) for s, row in chunk]
    if mode != DEFAULT_MODE:
        examples = [dataclasses.replace(e, prompt=prompt_for(e.prompt, mode)) for e in examples]
    return encode_for_scoring(processor, family, examples)


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


def bundle_settings(bundle: ModelBundle) -> dict[str, Any]:
    """The settings that define a table's rows (`SETTINGS_COLUMNS`), as this bundle scores."""
    return {
        "max_pixels": bundle.max_pixels or "",
        "dtype": bundle.dtype,
        "quantize": bundle.quantize or "none",
        "template_sha256": sha256_text(chat_template_of(bundle.processor)),
    }


def settings_without_weights(model: str, scoring: VlmScoring) -> dict[str, Any]:
    """`bundle_settings` of a model not loaded yet: from its config and processor alone."""
    from transformers import AutoConfig

    from cubeworld.models.families import model_family_of
    from cubeworld.models.loading import _check_source, default_device, load_processor, resolve_dtype

    _check_source(model)
    try:
        config = AutoConfig.from_pretrained(model)
    except (OSError, ValueError):
        return {}  # the load that follows gives the clear error
    family = model_family_of(getattr(config, "model_type", None))
    processor = load_processor(model, family)
    if scoring.pixel_budget is not None:
        family.set_max_pixels(processor, config, scoring.pixel_budget)
    return {
        "max_pixels": family.max_pixels_of(processor) or "",
        "dtype": resolve_dtype(scoring.dtype, scoring.device or default_device()),
        "quantize": scoring.quantize or "none",
        "template_sha256": sha256_text(chat_template_of(processor)),
    }


class VlmScorer:
    """A loaded VLM as `fill_tables` uses it. In logprob mode: P(Yes) from the Yes/No logits,
    the full-vocabulary log-probabilities, the mass on other tokens; in free and step mode:
    the generated text and the answer read from it. Always the prompt's hash and the image
    size fed."""

    def __init__(self, bundle: ModelBundle, scoring: VlmScoring):
        self.bundle = bundle
        self.scoring = scoring
        self.mode = scoring.mode
        self.settings = bundle_settings(bundle)
        self.columns = {
            "batch_size": int(scoring.batch_size),
            "mode": self.mode,
            **versions(("torch", "transformers", "peft")),
        }
        self._prompt_hashes: dict[str, str] = {}

    def score(self, items: Sequence[Item], emit: Emit) -> None:
        bundle, bs = self.bundle, self.scoring.batch_size
        was_training = bundle.model.training
        bundle.model.eval()
        try:
            chunks = [items[i : i + bs] for i in range(0, len(items), bs)]
            encode = partial(_encode_chunk, bundle.processor, bundle.family, mode=self.mode)
            for chunk, encoded in prefetch(chunks, encode, self.scoring.num_workers):
                emit(self._answers(chunk, encoded))
        finally:
            if was_training:
                bundle.model.train()

    def _answers(self, chunk: Sequence[Item], encoded: Encoded) -> list[tuple[StimulusSet, Any, Answer]]:
        bundle, scoring = self.bundle, self.scoring
        if self.mode != DEFAULT_MODE:
            texts = generate_texts(bundle, encoded.batch, new_tokens(self.mode, scoring.max_new_tokens))
            return [
                (s, row, self._read(row, fed, text)) for (s, row), fed, text in zip(chunk, encoded.fed_sizes, texts)
            ]
        scores = answer_scores(bundle, encoded.batch)
        extra: list[str | None] = [None] * len(chunk)
        if scoring.free_text:
            tokens = scoring.max_new_tokens or FREE_TEXT_TOKENS
            extra = list(free_text_batch(bundle, [example_of(s.root, row) for s, row in chunk], tokens))
        return [
            (s, row, self._answer(row, sc, fed, text))
            for (s, row), sc, fed, text in zip(chunk, scores, encoded.fed_sizes, extra)
        ]

    def _prompt_hash(self, prompt: str) -> str:
        if prompt not in self._prompt_hashes:
            self._prompt_hashes[prompt] = sha256_text(prompt)
        return self._prompt_hashes[prompt]

    def _answer(self, row: Any, sc: AnswerScore, fed: str, text: str | None) -> Answer:
        columns = {
            "logp_yes": f"{sc.logp_yes:.8g}",
            "logp_no": f"{sc.logp_no:.8g}",
            "p_other": f"{sc.p_other:.8g}",
            "prompt_sha256": self._prompt_hash(row.prompt),
            "image_size": fed,
        }
        if self.scoring.free_text:
            columns["free_text"] = text
        return Answer(sc.p_yes, columns)

    def _read(self, row: Any, fed: str, text: str) -> Answer:
        """A generating mode's row: the answer `extract_answer` reads (P(Yes) 1 or 0), or
        none, with the text and how the reading went."""
        found = extract_answer(text)
        columns = {
            "prompt_sha256": self._prompt_hash(prompt_for(row.prompt, self.mode)),
            "image_size": fed,
            "free_text": text,
            "extraction": found.status,
        }
        p_yes = None if found.answer is None else float(found.answer == YES)
        return Answer(p_yes, columns)


def extra_columns(scoring: VlmScoring) -> list[str]:
    """The columns a VLM table holds beyond the prediction columns."""
    generated = scoring.mode != DEFAULT_MODE
    return (
        list(OBSERVER_COLUMNS)
        + ["quantize", "mode"]
        + (["free_text"] if scoring.free_text or generated else [])
        + (["extraction"] if generated else [])
    )


def load_scorer(model: str | Path, scoring: VlmScoring, adapter: str | Path | None = None) -> VlmScorer:
    """A hub id or folder (with an optional peft adapter) loaded and ready to score."""
    bundle = load_model(
        model,
        adapter=adapter,
        quantize=scoring.quantize,
        device=scoring.device,
        image_size=scoring.image_size,
        max_pixels=scoring.max_pixels,
        dtype=scoring.dtype,
    )
    return VlmScorer(bundle, scoring)


def score_tables(
    model: str | Path | ModelBundle,
    tables: Sequence[tuple[StimulusSet, Path]],
    who: dict[str, Any],
    scoring: VlmScoring,
    *,
    adapter: str | Path | None = None,
    progress: bool = True,
) -> list[Path]:
    """Score each (set, table) with `model` (a hub id or folder, loaded once and only when
    a table lacks rows, with `adapter`; or a loaded bundle): the VLM's path through the one
    table loop, behind `evaluate` and the fine-tuning's per-epoch evaluation (the VLM
    observer kind fills the same loop with `load_scorer`). A generating mode labels its
    rows "<model>@<mode>" (`mode_label`)."""
    who = {**who, "model": mode_label(str(who["model"]), scoring.mode)}
    if isinstance(model, ModelBundle):
        bundle = model
        bundle.set_image_size(scoring.image_size, scoring.max_pixels)
        return fill_tables(
            tables,
            who,
            kind=KIND,
            open_scorer=lambda: VlmScorer(bundle, scoring),
            extra_columns=extra_columns(scoring),
            expected_settings=lambda: bundle_settings(bundle),
            progress=progress,
            desc=f"scoring {Path(bundle.name).name}",
        )
    return fill_tables(
        tables,
        who,
        kind=KIND,
        open_scorer=lambda: load_scorer(model, scoring, adapter),
        extra_columns=extra_columns(scoring),
        expected_settings=lambda: settings_without_weights(str(model), scoring),
        progress=progress,
        desc=f"scoring {Path(str(model)).name}",
    )


def evaluate(
    model: str | Path | ModelBundle,
    sets,
    out: str | Path,
    *,
    adapter: str | Path | None = None,
    batch_size: int = default_of(VlmScoring, "batch_size"),
    condition: str = "",
    seed: int | None = None,
    epoch: int = 0,
    mode: str = DEFAULT_MODE,
    max_new_tokens: int | None = None,
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
        adapter path and the model id or folder; a generating mode adds "@<mode>").
    mode: logprob (the study's P(Yes)), free or step (generate up to `max_new_tokens`,
        then read the answer; `cubeworld.models.modes`).
    Every row records the answer's log-probabilities, the mass on other tokens and the
    provenance columns (`cubeworld.formats.predictions.OBSERVER_COLUMNS`). `num_workers` > 0
    decodes and resizes images in that many processes ahead of the model. The settings
    are `VlmScoring`'s, checked before anything is read or written.
    """
    scoring = VlmScoring.parse(
        {
            "batch_size": batch_size,
            "mode": mode,
            "max_new_tokens": max_new_tokens,
            "free_text": free_text,
            "image_size": image_size,
            "max_pixels": max_pixels,
            "quantize": quantize,
            "device": device,
            "dtype": dtype,
            "num_workers": num_workers,
        },
        "evaluate",
    )
    stim_sets = _as_sets(sets)  # validate the sets and the table name before loading a model
    PredictionWriter(out)  # a table of another suffix is refused before any work
    loaded = isinstance(model, ModelBundle)
    if model_label is None:
        model_label = model.name if loaded else str(model)
    if adapter_label is None:
        adapter_label = (model.adapter or "") if loaded else (str(adapter) if adapter else "")
    who = {"model": model_label, "adapter": adapter_label, "condition": condition, "seed": seed, "epoch": int(epoch)}
    score_tables(model, [(s, Path(out)) for s in stim_sets], who, scoring, adapter=adapter, progress=progress)
    return Path(out)
