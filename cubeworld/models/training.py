"""The study's fine-tuning: LoRA / QLoRA (or full) on Yes/No answers, resumable by epoch.

Run folder (contract, see docs/CONTRACTS.md):

    OUT/state.json                      config, training-data summary, last finished epoch
    OUT/log.jsonl                       loss per step and per epoch
    OUT/checkpoints/epoch-K/            adapter (lora/qlora) or full weights + processor
                                        (full), and training_state.pt (optimizer, scheduler,
                                        RNG) to resume from
    OUT/predictions/epoch-K/<set>.csv   predictions on each eval set after epoch K
                                        (epoch 0 = before training)

An epoch is finished when its checkpoint and its predictions are written and state.json
says so. A killed run, called again with the same config, restarts from the last finished
epoch (the order of the pairs in an epoch is fixed by seed and epoch, so the result is the
one an uninterrupted run gives); a finished run, called again, does nothing.
"""

from __future__ import annotations

import math
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import append_jsonl, atomic_write_json, read_jsonl, write_jsonl
from cubeworld.formats.sets import load_set
from cubeworld.models.config import FinetuneConfig
from cubeworld.models.data import TrainingData, build_training_data, epoch_order
from cubeworld.models.errors import BackendError, ModelsError
from cubeworld.models.inputs import encode_training, prefetch, to_device
from cubeworld.models.loading import ModelBundle, default_device, load_model
from cubeworld.models.resume import STATE_FILE, saved_state

LOG_FILE = "log.jsonl"
TRAINING_STATE = "training_state.pt"


def checkpoint_dir(out: Path, epoch: int) -> Path:
    return out / "checkpoints" / f"epoch-{epoch}"


def predictions_path(out: Path, epoch: int, set_name: str) -> Path:
    return out / "predictions" / f"epoch-{epoch}" / f"{set_name}.csv"


def _is_tiny(model: str) -> bool:
    return (Path(model) / "cubeworld_tiny.json").is_file()


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


def _lora_config(config: FinetuneConfig, modules: list[str]):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        bias="none",
        target_modules=modules,
    )


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
        model = get_peft_model(model, _lora_config(config, targets.modules))
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


def _save_checkpoint(bundle: ModelBundle, method: str, dest: Path, training_state: dict) -> None:
    """Write adapter (or full model + processor) and resume state, then move into place."""
    import torch

    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bundle.model.save_pretrained(tmp)
    if method == "full":
        bundle.processor.save_pretrained(tmp)
        tiny = Path(bundle.name) / "cubeworld_tiny.json"
        if tiny.is_file():
            shutil.copy(tiny, tmp / tiny.name)
    torch.save(training_state, tmp / TRAINING_STATE)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _rng_state() -> dict[str, Any]:
    import random

    import numpy as np
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def _evaluate_epoch(bundle: ModelBundle, config: FinetuneConfig, out: Path, epoch: int, adapter_label: str) -> None:
    from cubeworld.models.scoring import evaluate

    for set_dir in config.eval_sets:
        s = load_set(set_dir)
        evaluate(
            bundle,
            [s],
            predictions_path(out, epoch, s.name),
            batch_size=config.eval_batch_size,
            condition=config.condition,
            num_workers=config.num_workers,
            seed=config.seed,
            epoch=epoch,
            progress=config.progress,
            adapter_label=adapter_label,
            model_label=config.model_label or config.model,
        )


def finetune(config: FinetuneConfig) -> Path:
    """Run (or resume, or skip when finished) the fine-tuning described by `config`.

    Returns the run folder. Raises ModelsError subclasses (with one-line messages) on bad
    input: unknown model, set without images, labels with unknown ids, wrong method here.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    out = Path(config.out)
    state_path = out / STATE_FILE
    state = saved_state(out, config, ModelsError)
    if state and state.get("last_epoch", 0) >= config.epochs:
        return out  # finished: nothing to do
    device = config.device or default_device()
    method = resolve_method(config, device)
    backend = resolve_backend(config, device, method)
    data: TrainingData = build_training_data(config)
    for set_dir in config.eval_sets:
        load_set(set_dir)  # fail on a bad eval set before any training
    adapter_label = config.adapter_label if config.adapter_label is not None else out.name
    last_epoch = int(state["last_epoch"]) if state else 0

    def prepare_folder() -> None:
        """Create the run folder (only once the model loaded and its LoRA targets resolved,
        so bad input leaves nothing behind) and tidy what a kill left there."""
        out.mkdir(parents=True, exist_ok=True)
        # A kill mid-epoch leaves log records of the unfinished epoch: drop them.
        if (out / LOG_FILE).exists():
            write_jsonl(out / LOG_FILE, [r for r in read_jsonl(out / LOG_FILE) if int(r.get("epoch", 0)) <= last_epoch])
        for stale in (out / "checkpoints").glob(".epoch-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)

    def write_state(epoch: int) -> None:
        atomic_write_json(
            state_path,
            {
                "config": config.to_dict(),
                "last_epoch": epoch,
                "finished": epoch >= config.epochs,
                "method": method,
                "backend": backend,
                "device": device,
                "data": data.summary,
                "max_pixels": bundle.max_pixels,
                "answer_tokens": {"yes": bundle.yes_id, "no": bundle.no_id},
                "effective": effective_settings(bundle, config, method, backend, device),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    resume_from = checkpoint_dir(out, last_epoch) if last_epoch > 0 else None
    if resume_from is not None and not (resume_from / TRAINING_STATE).is_file():
        raise ModelsError(
            f"{out}: state.json says epoch {last_epoch} is finished, but "
            f"{resume_from} has no {TRAINING_STATE} to resume from"
        )
    torch.manual_seed(config.seed)
    bundle = _load_for_training(config, method, backend, device, resume_from)
    prepare_folder()
    if resume_from is None:
        _evaluate_epoch(bundle, config, out, 0, adapter_label)
        write_state(0)
    else:
        # Predictions of the last finished epoch may be incomplete if the kill came after
        # its checkpoint (they resume; finished tables are skipped row by row).
        _evaluate_epoch(bundle, config, out, last_epoch, adapter_label)

    model = bundle.model
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ModelsError(f"model {config.model!r}: nothing to train (no parameter requires grad)")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    n = len(data.items)
    steps_per_epoch = math.ceil(math.ceil(n / config.batch_size) / config.grad_accum)
    scheduler = get_scheduler(
        config.scheduler,
        optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=steps_per_epoch * config.epochs,
    )
    step = 0
    if resume_from is not None:
        ts = torch.load(resume_from / TRAINING_STATE, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        _set_rng_state(ts["rng"])
        step = int(ts["step"])

    for epoch in range(last_epoch + 1, config.epochs + 1):
        model.train()
        order = epoch_order(n, config.seed, epoch)
        batches = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size)]
        bar = tqdm(total=n, desc=f"epoch {epoch}/{config.epochs}", unit="pair", disable=not config.progress)
        losses: list[float] = []
        optimizer.zero_grad(set_to_none=True)
        chunks = [[data.items[i] for i in idx] for idx in batches]
        encode = partial(encode_training, bundle.processor, yes_id=bundle.yes_id, no_id=bundle.no_id)
        for b, (items, encoded) in enumerate(prefetch(chunks, encode, config.num_workers)):
            batch = to_device(encoded, device)
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(
                    next(p for p in model.parameters() if p.is_floating_point()).dtype
                )
            loss = model(**batch, use_cache=False).loss
            (loss / config.grad_accum).backward()
            losses.append(float(loss.detach()))
            if (b + 1) % config.grad_accum == 0 or b + 1 == len(batches):
                if config.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                append_jsonl(
                    out / LOG_FILE,
                    {
                        "kind": "step",
                        "epoch": epoch,
                        "step": step,
                        "loss": losses[-1],
                        "lr": scheduler.get_last_lr()[0],
                    },
                )
            bar.update(len(items))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
        bar.close()
        append_jsonl(
            out / LOG_FILE, {"kind": "epoch", "epoch": epoch, "step": step, "loss": sum(losses) / max(len(losses), 1)}
        )
        _save_checkpoint(
            bundle,
            method,
            checkpoint_dir(out, epoch),
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": _rng_state(),
                "step": step,
                "epoch": epoch,
            },
        )
        _evaluate_epoch(bundle, config, out, epoch, adapter_label)
        write_state(epoch)
    return out
