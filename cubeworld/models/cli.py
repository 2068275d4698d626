"""Commands of the models stage: `models build-tiny`, `evaluate`, `finetune`.

Heavy imports (torch, transformers, peft) happen inside the commands. Bad input ends with
a one-line `error: ...` message and exit code 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.errors import check_writable

models_app = typer.Typer(no_args_is_help=True, help="Build and inspect models (tiny offline VLMs of several families).")


def _threads() -> None:
    import os

    import torch

    # On a shared few-core CPU, one thread keeps steps steady (2 threads measured 50x slower).
    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("CUBEWORLD_THREADS", "1")))


def _image_size(image_size: int | None, max_pixels: int | None) -> None:
    """The one image-size option: check it before any work (the family maps it later)."""
    if image_size is not None and max_pixels is not None:
        raise typer.BadParameter("give --image-size or --max-pixels, not both")
    if image_size is not None and image_size < 28:
        raise typer.BadParameter(f"--image-size {image_size}: at least 28 px")
    if max_pixels is not None and max_pixels < 28 * 28:
        raise typer.BadParameter(f"--max-pixels {max_pixels}: at least 784 (28 x 28)")


def _family_help() -> str:
    from cubeworld.models.families import MODEL_FAMILIES

    return "Model family: " + ", ".join(MODEL_FAMILIES.names()) + "."


@models_app.command("build-tiny")
def build_tiny(
    out: Path = typer.Option(..., "--out", help="Folder to write the model to (new or empty)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random weights."),
    family: str = typer.Option("qwen2-vl", "--family", help=_family_help()),
) -> None:
    """Build a tiny random VLM of a model family (offline), for tests and the CPU demo."""
    with user_errors():
        from cubeworld.models.families import get_model_family

        get_model_family(family)  # an unknown family is refused before anything is checked or written
        check_writable(out)
        from cubeworld.models.tiny import build_tiny_model

        path = build_tiny_model(out, seed=seed, family=family)
    typer.echo(str(path))


@models_app.command("info")
def info(
    model: str = typer.Option(..., "--model", help="Hub id or local folder."),
    adapter: Path | None = typer.Option(None, "--adapter", help="peft adapter folder."),
    image_size: int | None = typer.Option(None, "--image-size", help="Image size N (N x N pixels)."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", help="Image pixel budget (h x w)."),
) -> None:
    """Load a model; print its family, answer tokens, size, image size and LoRA modules."""
    import json

    _image_size(image_size, max_pixels)
    with user_errors():
        from cubeworld.models.loading import load_model
        from cubeworld.models.lora import resolve_targets

        b = load_model(model, adapter=adapter, image_size=image_size, max_pixels=max_pixels)
        base = b.model.get_base_model() if hasattr(b.model, "get_base_model") else b.model
        targets = resolve_targets(base).summary()
        tok = b.processor.tokenizer
        typer.echo(
            json.dumps(
                {
                    **b.info,
                    "model": b.name,
                    "adapter": b.adapter,
                    "image_size_mechanism": b.family.image_size_mechanism,
                    "yes": [b.yes_id, tok.convert_ids_to_tokens(b.yes_id)],
                    "no": [b.no_id, tok.convert_ids_to_tokens(b.no_id)],
                    "lora_targets": targets,
                },
                indent=2,
                default=str,
            )
        )
        typer.echo(
            f"LoRA modules (target_modules: auto): {targets['count']} "
            f"({targets['vision']} vision, {targets['decoder']} decoder)"
        )


def evaluate_cmd(
    model: str = typer.Option(..., "--model", help="Hub id or local folder."),
    sets: list[Path] = typer.Option(..., "--set", help="Stimulus set folder (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Predictions table (.csv or .parquet); resumes."),
    adapter: Path | None = typer.Option(None, "--adapter", help="peft adapter folder."),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    condition: str = typer.Option("", "--condition", help="Value of the condition column."),
    seed: int | None = typer.Option(None, "--seed", help="Value of the seed column."),
    epoch: int = typer.Option(0, "--epoch", min=0, help="Value of the epoch column."),
    free_text: bool = typer.Option(False, "--free-text", help="Also generate a few tokens."),
    image_size: int | None = typer.Option(None, "--image-size", help="Image size N (a budget of N x N pixels)."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", help="Image pixel budget (h x w)."),
    quantize: str | None = typer.Option(None, "--quantize", help="4bit or 8bit (bitsandbytes)."),
    device: str | None = typer.Option(None, "--device", help="cuda / cpu (default: cuda if there)."),
    dtype: str | None = typer.Option(None, "--dtype", help="float32 / bfloat16 / float16."),
    workers: int = typer.Option(0, "--workers", min=0, help="Processes decoding images ahead."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Score stimulus sets: P(Yes) from the Yes/No logits, one row per stimulus."""
    _image_size(image_size, max_pixels)
    with user_errors():
        check_writable(out, folder=False)
        _threads()
        from cubeworld.models.observers import cli_observer

        kind = cli_observer(model)  # `--model physics`, a CNN checkpoint: another observer kind
        if kind is not None:
            options = dict(
                adapter=adapter,
                quantize=quantize,
                image_size=image_size,
                max_pixels=max_pixels,
                device=device,
                dtype=dtype,
                free_text=free_text or None,
                workers=workers or None,
            )
            typer.echo(
                str(
                    kind.evaluate_command(
                        model,
                        sets,
                        out,
                        condition=condition,
                        seed=seed,
                        epoch=epoch,
                        batch_size=batch_size,
                        progress=progress,
                        options=options,
                    )
                )
            )
            return
        from cubeworld.models.scoring import evaluate

        path = evaluate(
            model,
            sets,
            out,
            adapter=adapter,
            batch_size=batch_size,
            condition=condition,
            seed=seed,
            epoch=epoch,
            free_text=free_text,
            progress=progress,
            image_size=image_size,
            max_pixels=max_pixels,
            quantize=quantize,
            device=device,
            dtype=dtype,
            num_workers=workers,
        )
    typer.echo(str(path))


def finetune_cmd(
    model: str = typer.Option(..., "--model", help="Hub id or local folder."),
    train: Path = typer.Option(..., "--train", help="Training set folder."),
    out: Path = typer.Option(..., "--out", help="Run folder (resumes if it holds the same run)."),
    mix: list[str] = typer.Option([], "--mix", help="DIR:FRACTION, a further set's share (repeatable)."),
    labels: Path | None = typer.Option(None, "--labels", help="Human responses table for --train."),
    label_policy: str | None = typer.Option(None, "--label-policy", help="majority | each."),
    method: str | None = typer.Option(None, "--method", help="auto | qlora | lora | full."),
    backend: str | None = typer.Option(None, "--backend", help="auto | transformers | unsloth."),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    max_items: int | None = typer.Option(None, "--max-items", min=1),
    seed: int | None = typer.Option(None, "--seed"),
    lr: float | None = typer.Option(None, "--lr"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1),
    grad_accum: int | None = typer.Option(None, "--grad-accum", min=1),
    lora_r: int | None = typer.Option(None, "--lora-r", min=1),
    lora_alpha: int | None = typer.Option(None, "--lora-alpha", min=1),
    eval_sets: list[Path] = typer.Option([], "--eval-set", help="Evaluate after each epoch (repeatable)."),
    eval_batch_size: int | None = typer.Option(None, "--eval-batch-size", min=1),
    condition: str | None = typer.Option(None, "--condition", help="condition column of predictions."),
    image_size: int | None = typer.Option(None, "--image-size", help="Image size N (a budget of N x N pixels)."),
    max_pixels: int | None = typer.Option(None, "--max-pixels", help="Image pixel budget (h x w)."),
    target_modules: str | None = typer.Option(
        None, "--target-modules", help="LoRA targets: auto (default), a regex, or names joined by commas."
    ),
    lora_extra: list[str] = typer.Option(
        [], "--lora-extra", help="Also wrap this named group (e.g. projector) or regex (repeatable)."
    ),
    dtype: str | None = typer.Option(None, "--dtype", help="float32 / bfloat16 / float16."),
    device: str | None = typer.Option(None, "--device"),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Processes decoding images ahead."),
    config: Path | None = typer.Option(None, "--config", help="YAML with FinetuneConfig fields."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fine-tune a VLM on Yes/No answers (the study's LoRA/QLoRA procedure), resumable."""
    _image_size(image_size, max_pixels)
    with user_errors():
        check_writable(out)
        from cubeworld.models.config import FinetuneConfig, MixSource

        given = dict(
            model=model,
            train=str(train),
            out=str(out),
            labels=str(labels) if labels else None,
            label_policy=label_policy,
            method=method,
            backend=backend,
            epochs=epochs,
            max_items=max_items,
            seed=seed,
            lr=lr,
            batch_size=batch_size,
            grad_accum=grad_accum,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            eval_batch_size=eval_batch_size,
            condition=condition,
            image_size=image_size,
            max_pixels=max_pixels,
            dtype=dtype,
            device=device,
            num_workers=workers,
            progress=progress,
        )
        fields = {k: v for k, v in given.items() if v is not None}
        if target_modules is not None:
            names = [t.strip() for t in target_modules.split(",") if t.strip()]
            fields["target_modules"] = names if len(names) > 1 else target_modules
        if lora_extra:
            fields["lora_extra"] = list(lora_extra)
        if mix:
            fields["mix"] = [MixSource.parse(m) for m in mix]
        if eval_sets:
            fields["eval_sets"] = [str(s) for s in eval_sets]
        from cubeworld.models.observers import cli_observer

        kind = cli_observer(model)  # `--model cnn`: another observer kind trains itself
        if kind is not None:
            _threads()
            typer.echo(str(kind.finetune_command(fields, config)))
            return
        cfg = FinetuneConfig.from_yaml(config, **fields) if config else FinetuneConfig(**fields)
        _threads()
        from cubeworld.models.training import finetune

        path = finetune(cfg)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate_cmd)
    app.command("finetune")(finetune_cmd)
