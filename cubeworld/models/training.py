"""The study's fine-tuning: LoRA / QLoRA (or full) on Yes/No answers, resumable by epoch.

`SftTrainer` is the VLM's plug-in to the one epoch loop (`cubeworld.trainer.EpochTrainer`):
it loads the model and wraps it for training (LoRA targets from the architecture, a 4-bit
base for QLoRA, or every weight), trains an epoch on the drawn pairs (cross-entropy of the
answer token, gradient accumulation and clipping, AdamW and a transformers schedule) and
scores the evaluation sets with `cubeworld.models.scoring`. The run folder, resuming, the
checkpoints and state.json are the base's (`cubeworld.trainer.layout`).

A checkpoint holds the adapter (lora / qlora) or the full weights and the processor
(full); its training_state.pt the optimiser, the scheduler and the RNG states.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from cubeworld.formats.sets import StimulusSet
from cubeworld.models.config import FinetuneConfig, lora_config
from cubeworld.models.errors import BackendError, ModelsError
from cubeworld.models.inputs import encode_training, prefetch, to_device
from cubeworld.models.loading import ModelBundle, default_device, load_model
from cubeworld.trainer.data import TrainingData, build_training_data, epoch_order
from cubeworld.trainer.loop import EpochTrainer

TINY_FILE = "cubeworld_tiny.json"


def _is_tiny(model: str) -> bool:
    return (Path(model) / TINY_FILE).is_file()


def resolve_method(config: FinetuneConfig, device: str) -> str:
    """auto: QLoRA on CUDA (the study); on CPU full fine-tuning for the tiny model, else LoRA."""
    if config.method != "auto":
        return config.method
    if device.startswith("cuda"):
        return "qlora"
    return "full" if _is_tiny(config.model) else "lora"


def resolve_backend(config: FinetuneConfig, device: str, method: str) -> str:
    if config.backend != "unsloth":
        return "transformers"
    if not device.startswith("cuda"):
        raise BackendError("backend unsloth needs a CUDA GPU (unsloth refuses vision models on the CPU)")
    if method == "full":
        raise BackendError("backend unsloth is used here for lora/qlora only; use --backend transformers")
    try:
        import unsloth  # noqa: F401
    except ImportError:
        raise BackendError("backend unsloth asked for, but unsloth is not installed (pip install unsloth)") from None
    return "unsloth"


def _prepare_4bit(model):
    """peft's k-bit preparation with non-reentrant checkpointing (torch warns that the
    implicit reentrant default is going away). The base was loaded by `load_model`, which
    keeps bitsandbytes' CPU inference repacking off: a run scores its eval sets between
    epochs, and a repacked weight cannot be trained through (measured with bitsandbytes
    0.50: a 2-epoch CPU QLoRA run failed at the start of epoch 2 before this).
    """
    from peft import prepare_model_for_kbit_training

    from cubeworld.models.loading import keep_4bit_unpacked

    keep_4bit_unpacked(model)
    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
    )


def _wrap_for_training(bundle: ModelBundle, config: FinetuneConfig, method: str) -> ModelBundle:
    """Make the loaded base trainable: LoRA adapters (seeded init) or all weights.

    LoRA targets come from the architecture (`cubeworld.models.lora`); the modules peft
    actually wrapped are recorded in `bundle.info["lora_targets"]` (the run's state.json).
    """
    import torch

    model = bundle.model
    if method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        bundle.info["trainable_parameters"] = sum(p.numel() for p in model.parameters())
        return bundle
    from peft import get_peft_model

    from cubeworld.models.lora import resolve_targets

    targets = resolve_targets(model, config.target_modules, config.lora_extra, config.lora_exclude)
    if method == "qlora":
        model = _prepare_4bit(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # the seed sets the LoRA initialisation
        model = get_peft_model(model, lora_config(config, targets.modules))
    bundle.model = model
    _record_lora(bundle, targets.summary())
    return bundle


def _record_lora(bundle: ModelBundle, summary: dict[str, Any]) -> None:
    from cubeworld.models.lora import wrapped_modules

    wrapped = wrapped_modules(bundle.model)
    summary = dict(summary, modules=wrapped, count=len(wrapped))
    bundle.info["lora_targets"] = summary
    bundle.info["trainable_parameters"] = sum(p.numel() for p in bundle.model.parameters() if p.requires_grad)


def _load_unsloth(config: FinetuneConfig, method: str, resume_from: Path | None, device: str) -> ModelBundle:
    """unsloth's FastVisionModel (CUDA only): the study's own training library."""
    from unsloth import FastVisionModel

    from cubeworld.models.families import model_family_of
    from cubeworld.models.loading import find_answer_tokens

    source = str(resume_from) if resume_from else config.model
    model, processor = FastVisionModel.from_pretrained(
        source, load_in_4bit=(method == "qlora"), use_gradient_checkpointing="unsloth"
    )
    if resume_from is None:
        model = FastVisionModel.get_peft_model(
            model,
            finetune_vision_layers=True,
            finetune_language_layers=True,
            finetune_attention_modules=True,
            finetune_mlp_modules=True,
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            bias="none",
            random_state=config.seed,
        )
    FastVisionModel.for_training(model)
    family = model_family_of(getattr(model.config, "model_type", None))
    bundle = ModelBundle(
        model=model,
        processor=processor,
        answer=find_answer_tokens(processor, config.model),
        name=config.model,
        device=device,
        info={
            "backend": "unsloth",
            "dtype": str(model.dtype).split(".")[-1],
            "quantize": "4bit" if method == "qlora" else "",
        },
        family=family,
    )
    bundle.set_image_size(max_pixels=config.pixel_budget)
    _record_lora(bundle, {"source": "unsloth", "extra": []})
    return bundle


def _load_for_training(
    config: FinetuneConfig, method: str, backend: str, device: str, resume_from: Path | None
) -> ModelBundle:
    if backend == "unsloth":
        return _load_unsloth(config, method, resume_from, device)
    quantize = "4bit" if method == "qlora" else None
    if method == "full":
        source = str(resume_from) if resume_from else config.model
        bundle = load_model(source, device=device, max_pixels=config.pixel_budget, dtype=config.dtype)
        bundle.name = config.model
        if resume_from is not None:
            # The processor of the base model, as an uninterrupted run has it: one loaded from
            # a checkpoint and saved again gains keys (padding side, ...), so checkpoints of a
            # resumed run would differ from an uninterrupted run's.
            from cubeworld.models.loading import give_pad_token, load_processor

            bundle.processor = load_processor(config.model, bundle.family)
            give_pad_token(bundle.processor)
            bundle.set_image_size(max_pixels=config.pixel_budget)
        return _wrap_for_training(bundle, config, method)
    bundle = load_model(
        config.model, quantize=quantize, device=device, max_pixels=config.pixel_budget, dtype=config.dtype
    )
    if resume_from is None:
        return _wrap_for_training(bundle, config, method)
    from peft import PeftModel

    from cubeworld.models.lora import resolve_targets

    targets = resolve_targets(bundle.model, config.target_modules, config.lora_extra, config.lora_exclude)
    model = bundle.model
    if method == "qlora":
        model = _prepare_4bit(model)
    bundle.model = PeftModel.from_pretrained(model, str(resume_from), is_trainable=True)
    _record_lora(bundle, targets.summary())
    return bundle


def effective_settings(
    bundle: ModelBundle, config: FinetuneConfig, method: str, backend: str, device: str
) -> dict[str, Any]:
    """What the run actually used, after every default was resolved (for state.json):
    method, backend, device, dtype, quantization, model family, image size, the LoRA
    modules (names and counts) and the trainable parameter count, and the scoring
    settings of its per-epoch evaluation."""
    return {
        "method": method,
        "backend": backend,
        "device": device,
        "dtype": bundle.dtype,
        "quantize": bundle.quantize,
        "family": bundle.family.name,
        "model_type": bundle.info.get("model_type", ""),
        "image_size": config.image_size,
        "max_pixels": bundle.max_pixels,
        "lora_targets": bundle.info.get("lora_targets"),
        "trainable_parameters": bundle.info.get("trainable_parameters"),
        "scoring": {
            "batch_size": config.eval_batch_size,
            "num_workers": config.num_workers,
            "dtype": bundle.dtype,
            "quantize": bundle.quantize,
            "max_pixels": bundle.max_pixels,
        },
    }


def check_adapter_use(config: FinetuneConfig, method: str) -> None:
    """LoRA settings given to a run that trains every weight are refused, never ignored."""
    if method != "full":
        return
    given = [
        name
        for name, value in (
            ("target_modules", config.target_modules != "auto"),
            ("lora_extra", bool(config.lora_extra)),
            ("lora_exclude", bool(config.lora_exclude)),
        )
        if value
    ]
    if given:
        why = "method auto on the CPU fine-tunes a tiny model in full" if config.method == "auto" else "method full"
        raise ModelsError(
            f"{', '.join(given)}: LoRA settings, but this run trains every weight ({why}); give --method lora"
        )


def score_run_epoch(
    bundle: ModelBundle,
    config: FinetuneConfig,
    adapter_label: str,
    epoch: int,
    tables: Sequence[tuple[StimulusSet, Path]],
) -> None:
    """A run's per-epoch evaluation (every VLM plug-in's): the model as trained so far
    scores each set into its table, P(Yes) from the logits, under the run's labels."""
    from cubeworld.models.scoring import score_tables

    who = {
        "model": config.model_label or config.model,
        "adapter": adapter_label,
        "condition": config.condition,
        "seed": config.seed,
        "epoch": epoch,
    }
    score_tables(bundle, tables, who, config.scoring(), progress=config.progress)


class SftTrainer(EpochTrainer):
    """Supervised fine-tuning of a VLM on the answer token: the VLM's trainer plug-in."""

    error = ModelsError

    def __init__(self, config: FinetuneConfig):
        super().__init__(config)
        self.config: FinetuneConfig = config
        self.device = config.device or default_device()

    def prepare(self) -> None:
        cfg = self.config
        self.method = resolve_method(cfg, self.device)
        self.backend = resolve_backend(cfg, self.device, self.method)
        check_adapter_use(cfg, self.method)
        self.data: TrainingData = build_training_data(cfg, cfg.label_policy)

    def build(self, resume_from: Path | None) -> None:
        import torch
        from transformers import get_scheduler

        cfg = self.config
        self.bundle = _load_for_training(cfg, self.method, self.backend, self.device, resume_from)
        self.params = [p for p in self.bundle.model.parameters() if p.requires_grad]
        if not self.params:
            raise ModelsError(f"model {cfg.model!r}: nothing to train (no parameter requires grad)")
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = len(self.data.items)
        steps_per_epoch = math.ceil(math.ceil(n / cfg.batch_size) / cfg.grad_accum)
        self.scheduler = get_scheduler(
            cfg.scheduler,
            self.optimizer,
            num_warmup_steps=cfg.warmup_steps,
            num_training_steps=steps_per_epoch * cfg.epochs,
        )

    def train_epoch(self, epoch: int) -> float:
        import torch
        from tqdm.auto import tqdm

        cfg, bundle, model = self.config, self.bundle, self.bundle.model
        n = len(self.data.items)
        model.train()
        order = epoch_order(n, cfg.seed, epoch)
        batches = [order[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size)]
        bar = tqdm(total=n, desc=f"epoch {epoch}/{cfg.epochs}", unit="pair", disable=not cfg.progress)
        losses: list[float] = []
        self.optimizer.zero_grad(set_to_none=True)
        chunks = [[self.data.items[i] for i in idx] for idx in batches]
        encode = partial(encode_training, bundle.processor, yes_id=bundle.yes_id, no_id=bundle.no_id)
        for b, (items, encoded) in enumerate(prefetch(chunks, encode, cfg.num_workers)):
            batch = to_device(encoded, self.device)
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(
                    next(p for p in model.parameters() if p.is_floating_point()).dtype
                )
            loss = model(**batch, use_cache=False).loss
            (loss / cfg.grad_accum).backward()
            losses.append(float(loss.detach()))
            if (b + 1) % cfg.grad_accum == 0 or b + 1 == len(batches):
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.log_step(epoch, losses[-1], self.scheduler.get_last_lr()[0])
            bar.update(len(items))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        bar.close()
        return sum(losses) / max(len(losses), 1)

    def save(self, folder: Path, epoch: int) -> None:
        """The adapter (lora / qlora), or the full weights with the processor and the tiny
        model's marker (full): a checkpoint that loads like a model."""
        bundle = self.bundle
        bundle.model.save_pretrained(folder)
        if self.method == "full":
            bundle.processor.save_pretrained(folder)
            tiny = Path(bundle.name) / TINY_FILE
            if tiny.is_file():
                shutil.copy(tiny, folder / tiny.name)

    def training_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def evaluate(self, epoch: int, tables: Sequence[tuple[StimulusSet, Path]]) -> None:
        score_run_epoch(self.bundle, self.config, self.adapter_label, epoch, tables)

    def state_record(self) -> dict[str, Any]:
        bundle = self.bundle
        return {
            "method": self.method,
            "backend": self.backend,
            "device": self.device,
            "data": self.data.summary,
            "max_pixels": bundle.max_pixels,
            "answer_tokens": {"yes": bundle.yes_id, "no": bundle.no_id},
            "effective": effective_settings(bundle, self.config, self.method, self.backend, self.device),
        }
