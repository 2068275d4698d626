"""`cubeworld evaluate` and `cubeworld finetune`: any observer kind, from the command line.

The settings' options are generated from the typed configs (`cubeworld.typed.cli_parameters`:
`VlmScoring` and `PhysicsScoring` (its options not already a VLM's) for evaluate, `FinetuneConfig` for finetune), so each setting's name, help
and bounds are declared once, in its dataclass. Every option defaults to "not given": the
kind `--model` names (a VLM id or folder, `physics`, `cnn`, a CNN checkpoint) applies its
own defaults and refuses an option it has no use for. Heavy imports (torch, transformers)
happen inside the commands; bad input is one `error: ...` line and exit code 2.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.errors import check_writable
from cubeworld.models.cli import _threads
from cubeworld.models.config import FinetuneConfig, VlmScoring
from cubeworld.observers.noisy_newton import PhysicsScoring
from cubeworld.typed import cli_parameters, with_signature

MOST_SEED = 2**32 - 1
MOST_EPOCH = 10_000


def _not_given(cls: type, exclude: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """The typed config's options, each defaulting to None ("not given")."""
    names = [f.name for f in dataclasses.fields(cls)]
    return cli_parameters(cls, exclude=exclude, defaults=dict.fromkeys(names))


def _option(name: str, default: Any, annotation: Any, *flags: str, **kw: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(default, *flags, **kw), annotation=annotation
    )


def _given(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in options.items() if v not in (None, [], ())}


EVALUATE_OWN = [
    _option("model", ..., str, "--model", help="Hub id or local folder; physics; a CNN checkpoint folder."),
    _option("sets", ..., list[Path], "--set", help="Stimulus set folder (repeatable)."),
    _option("out", ..., Path, "--out", help="Predictions table (.csv or .parquet); resumes."),
    _option("adapter", None, Path | None, "--adapter", help="peft adapter folder (a VLM's)."),
    _option("condition", "", str, "--condition", help="Value of the condition column."),
    _option("seed", None, int | None, "--seed", min=0, max=MOST_SEED, help="Value of the seed column."),
    _option("epoch", 0, int, "--epoch", min=0, max=MOST_EPOCH, help="Value of the epoch column."),
    _option("progress", True, bool, "--progress/--no-progress"),
]


def evaluate_cmd(**options: Any) -> None:
    """Score stimulus sets: one row per stimulus with P(Yes) (a VLM: from the Yes/No logits)."""
    own = {p.name: options.pop(p.name) for p in EVALUATE_OWN}
    with user_errors():
        check_writable(own["out"], folder=False)
        _threads()
        from cubeworld.observers import cli_observer

        kind = cli_observer(own["model"])
        path = kind.evaluate_command(
            own["model"],
            own["sets"],
            own["out"],
            scoring=_given(options),
            adapter=own["adapter"],
            condition=own["condition"],
            seed=own["seed"],
            epoch=own["epoch"],
            progress=own["progress"],
        )
    typer.echo(str(path))


FINETUNE_OWN = [
    _option("model", ..., str, "--model", help="Hub id or local folder; cnn (a CNN from scratch)."),
    _option("train", ..., Path, "--train", help="Training set folder."),
    _option("out", ..., Path, "--out", help="Run folder (resumes if it holds the same run)."),
    _option("mix", [], list[str], "--mix", help="DIR:FRACTION, a further set's share (repeatable)."),
    _option(
        "target_modules",
        None,
        str | None,
        "--target-modules",
        help="LoRA targets: auto (default), a regex, or names joined by commas.",
    ),
    _option("config", None, Path | None, "--config", help="YAML with the run's settings (FinetuneConfig fields)."),
    _option("progress", True, bool, "--progress/--no-progress"),
]


def finetune_cmd(**options: Any) -> None:
    """Fine-tune an observer (a VLM on Yes/No answers: the study's LoRA/QLoRA procedure), resumable."""
    own = {p.name: options.pop(p.name) for p in FINETUNE_OWN}
    with user_errors():
        check_writable(own["out"])
        from cubeworld.observers import cli_observer
        from cubeworld.trainer.data import MixSource
        from cubeworld.typed import to_plain

        given = _given(options)
        given.update(model=own["model"], train=str(own["train"]), out=str(own["out"]), progress=own["progress"])
        if own["target_modules"] is not None:
            names = [t.strip() for t in own["target_modules"].split(",") if t.strip()]
            given["target_modules"] = names if len(names) > 1 else own["target_modules"]
        if own["mix"]:
            given["mix"] = [to_plain(MixSource.parse(m)) for m in own["mix"]]
        kind = cli_observer(own["model"])  # `--model cnn`: another observer kind trains itself
        _threads()
        path = kind.finetune_command(given, own["config"])
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    vlm = _not_given(VlmScoring)
    taken = {p.name for p in [*EVALUATE_OWN, *vlm]}
    physics = [p for p in _not_given(PhysicsScoring, exclude=("physics", "workers")) if p.name not in taken]
    evaluate = with_signature(evaluate_cmd, [*EVALUATE_OWN, *vlm, *physics])
    finetune = with_signature(
        finetune_cmd,
        [
            *FINETUNE_OWN,
            *_not_given(FinetuneConfig, exclude=("model", "train", "out", "progress", "target_modules")),
        ],
    )
    app.command("evaluate", help=evaluate_cmd.__doc__)(evaluate)
    app.command("finetune", help=finetune_cmd.__doc__)(finetune)
