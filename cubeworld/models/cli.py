"""Commands of the models stage: `models build-tiny`, `models info`.

(`cubeworld evaluate` and `cubeworld finetune` reach every observer kind, so they are the
observers stage's: `cubeworld.observers.cli`.)

Heavy imports (torch, transformers, peft) happen inside the commands. Bad input ends with
a one-line `error: ...` message and exit code 2, never a traceback.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.errors import check_writable
from cubeworld.typed import with_signature

models_app = typer.Typer(no_args_is_help=True, help="Build and inspect models (tiny offline VLMs of several families).")


def _threads() -> None:
    """One torch thread on a shared few-core CPU (2 threads measured 50x slower), or
    $CUBEWORLD_THREADS; left alone on a GPU machine. Called by every command that runs a model."""
    import os

    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("CUBEWORLD_THREADS", "1")))


def _family_help() -> str:
    from cubeworld.models.families import MODEL_FAMILIES

    return "Model family: " + ", ".join(MODEL_FAMILIES.names()) + "."


@models_app.command("build-tiny")
def build_tiny(
    out: Path = typer.Option(..., "--out", help="Folder to write the model to (new or empty)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the random weights."),
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


def info(model: str, adapter: Path | None, **inputs: Any) -> None:
    """Load a model; print its family, answer tokens, size, image size and LoRA modules."""
    import json

    with user_errors():
        from cubeworld.models.config import VlmInputs
        from cubeworld.models.loading import load_model
        from cubeworld.models.lora import resolve_targets

        size = VlmInputs.parse({k: v for k, v in inputs.items() if v is not None}, "options")
        b = load_model(model, adapter=adapter, image_size=size.image_size, max_pixels=size.max_pixels)
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


def _info_parameters() -> list[inspect.Parameter]:
    """--model and --adapter, and the image-size options of `VlmInputs` (declared there)."""
    from cubeworld.models.config import VlmInputs
    from cubeworld.typed import cli_parameters

    own = [
        inspect.Parameter(
            "model",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(..., "--model", help="Hub id or local folder."),
            annotation=str,
        ),
        inspect.Parameter(
            "adapter",
            inspect.Parameter.KEYWORD_ONLY,
            default=typer.Option(None, "--adapter", help="peft adapter folder."),
            annotation=Path | None,
        ),
    ]
    return own + cli_parameters(VlmInputs, exclude=("dtype", "device", "num_workers"))


models_app.command("info")(with_signature(info, _info_parameters()))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(models_app, name="models")
