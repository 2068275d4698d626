"""`cubeworld probe`: probes of a model's internals beside its answers (decodable vs used).

The probe settings are `ProbeConfig`'s fields, turned into options by `cli_parameters`
(one declaration: name, default, help, bounds); the command adds what to probe and where.
Heavy imports happen inside the command, so `cubeworld --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import typer

from cubeworld.cli_errors import user_errors, warn
from cubeworld.errors import check_writable
from cubeworld.typed import cli_parameters, with_signature

MAX_SIDE = 8192  # pixels: an image size or budget beyond 8192 x 8192 is a typo


def probe(
    model: str,
    sets: list[Path],
    out: Path,
    adapter: Path | None,
    activations: Path | None,
    predictions: Path | None,
    batch_size: int,
    image_size: int | None,
    max_pixels: int | None,
    quantize: str | None,
    device: str | None,
    dtype: str | None,
    progress: bool,
    **settings: Any,
) -> None:
    """Probe a model's activations (vision blocks, projector, decoder layers) for the label
    and the stability margin, with cross-validated probes grouped by stimulus, next to the
    model's own accuracy and kappa on the same items: decodable vs used."""
    with user_errors():
        from cubeworld.probes.command import probe_model

        config = _config(settings)
        check_writable(out)
        if activations is not None:
            check_writable(activations)
        _threads()
        results, paths = probe_model(
            model,
            sets,
            out,
            config,
            adapter=adapter,
            activations=activations,
            predictions=predictions,
            batch_size=batch_size,
            image_size=image_size,
            max_pixels=max_pixels,
            quantize=quantize,
            device=device,
            dtype=dtype,
            progress=progress,
        )
    for note in results.skipped:
        warn(note)
    for line in summary_lines(results):
        typer.echo(line)
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")


def _threads() -> None:
    from cubeworld.models.cli import _threads as one_torch_thread

    one_torch_thread()


def _config(settings: dict[str, Any]) -> Any:
    """The options as a `ProbeConfig` (an empty repeatable option keeps the default); a
    problem names the option."""
    from cubeworld.probes.config import ProbeConfig
    from cubeworld.probes.errors import ProbeError
    from cubeworld.typed import from_plain

    given = {k: v for k, v in settings.items() if v is not None and v != []}
    try:
        return from_plain(ProbeConfig, given, "", ProbeError)
    except ProbeError as e:
        message = str(e)
        for f in dataclasses.fields(ProbeConfig):
            if message.startswith(f"{f.name}:"):
                flag = f.metadata.get("cli", True)
                flag = flag if isinstance(flag, str) else "--" + f.name.replace("_", "-")
                raise ProbeError(f"{flag}{message[len(f.name) :]}") from None
        raise


def summary_lines(results: Any) -> list[str]:
    """One line per task: its best decodable probe and the observer's use of the label."""
    lines = []
    for task in results.tasks:
        mine = [r for r in results.rows if r.target == task.target and r.domain == task.domain]
        best = results.best(task.target, task.domain)
        n_decodable = sum(r.decodable for r in mine)
        head = f"{task.key} ({mine[0].items} items): decodable at {n_decodable} of {len(mine)} probes"
        if best is not None:
            head += (
                f"; best {best.point}@{best.pool} {best.metric} {best.score:.3f} "
                f"[{best.score_low:.3f}, {best.score_high:.3f}] vs chance {best.reference:.3f}"
            )
        first = mine[0]
        if first.behaviour_accuracy == first.behaviour_accuracy:  # not NaN
            head += (
                f"; the model's answers: accuracy {first.behaviour_accuracy:.3f} "
                f"[{first.behaviour_low:.3f}, {first.behaviour_high:.3f}], kappa {first.behaviour_kappa:.3f}"
                + (" (one answer to every item)" if first.behaviour_degenerate else "")
            )
        lines.append(head)
    return lines


def _parameters() -> list[inspect.Parameter]:
    """The command's options: what to probe and where, the model's loading options, then one
    per `ProbeConfig` setting (`--points` also answers to `--layers`)."""
    from cubeworld.probes.config import ProbeConfig

    def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    settings = cli_parameters(ProbeConfig)
    for p in settings:
        if p.name == "points":
            p.default.param_decls = (*p.default.param_decls, "--layers")
    return [
        option("model", str, typer.Option(..., "--model", help="Hub id or local folder of the VLM.")),
        option("sets", list[Path], typer.Option(..., "--set", help="Stimulus set folder (repeatable).")),
        option("out", Path, typer.Option(..., "--out", help="Folder for the probe's table, figure and caches.")),
        option("adapter", Path | None, typer.Option(None, "--adapter", help="peft adapter folder.")),
        option(
            "activations",
            Path | None,
            typer.Option(None, "--activations", help="Activations cache to use or fill (default: OUT/activations)."),
        ),
        option(
            "predictions",
            Path | None,
            typer.Option(
                None,
                "--predictions",
                help="Prediction table with the model's answers on these items (default: score them into "
                "OUT/predictions.csv).",
            ),
        ),
        option("batch_size", int, typer.Option(8, "--batch-size", min=1, max=1024, help="Items per forward pass.")),
        option(
            "image_size",
            int | None,
            typer.Option(None, "--image-size", min=28, max=MAX_SIDE, help="Image size N (N x N pixels)."),
        ),
        option(
            "max_pixels",
            int | None,
            typer.Option(None, "--max-pixels", min=28 * 28, max=MAX_SIDE**2, help="Image pixel budget (h x w)."),
        ),
        option("quantize", str | None, typer.Option(None, "--quantize", help="4bit or 8bit (bitsandbytes).")),
        option("device", str | None, typer.Option(None, "--device", help="cuda / cpu (default: cuda if there).")),
        option("dtype", str | None, typer.Option(None, "--dtype", help="float32 / bfloat16 / float16.")),
        option("progress", bool, typer.Option(True, "--progress/--no-progress")),
        *settings,
    ]


def register(app: typer.Typer) -> None:
    """Add `cubeworld probe` to the root app."""
    app.command("probe")(with_signature(probe, _parameters()))
