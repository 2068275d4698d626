"""Commands of the stimuli stage: `generate <family>` for every registered stimulus family,
`generate preset|presets|from|subset|demo`, and `sheet`.

Heavy modules (mujoco, numpy, PIL) are imported inside the commands so `cubeworld --help`
stays fast. Bad input ends with a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.stimuli.families import FAMILIES
from cubeworld.stimuli.families.base import StimulusFamily, format_sizes

generate_app = typer.Typer(no_args_is_help=True, help="Generate stimulus sets (one command per stimulus family, the study's presets).")

OUT = typer.Option(..., "--out", help="Output set folder (created; a killed run resumes in it).")
WORKERS = typer.Option(None, "--workers", help="Worker processes (default: all cores).")
RESOLUTION = typer.Option(448, "--resolution", help="Image width and height in pixels.")
QUIET = typer.Option(False, "--quiet", help="No progress bar.")


def _generate(domain: str, sizes: str, per_size: int, seed: int, out: Path, workers, resolution: int, name, quiet: bool) -> None:
    from cubeworld.stimuli.generate import generate_set

    with user_errors():
        path = generate_set(domain, sizes, per_size, seed, out, resolution=resolution, workers=workers, progress=not quiet, name=name)
    typer.echo(f"wrote {path}")


def family_command(family: StimulusFamily):
    """The `cubeworld generate <family.command>` command of one stimulus family."""
    allowed = format_sizes(family.sizes)

    def command(
        sizes: str = typer.Option(allowed, "--sizes", help=f"Block counts among {allowed}, e.g. {allowed}."),
        per_size: int = typer.Option(..., "--per-size", help="Stimuli per size (even: half Yes, half No)."),
        seed: int = typer.Option(..., "--seed", help="Seed; sets with different seeds never share a scene."),
        out: Path = OUT,
        workers: Optional[int] = WORKERS,
        resolution: int = RESOLUTION,
        name: Optional[str] = typer.Option(None, "--name", help="Set name in the card (default: from the arguments)."),
        quiet: bool = QUIET,
    ) -> None:
        _generate(family.domain, sizes, per_size, seed, out, workers, resolution, name, quiet)

    command.__doc__ = family.description
    return command


FIXED_COMMANDS = ("preset", "presets", "from", "subset", "demo")


def add_family_commands(app: typer.Typer) -> None:
    """One `generate` subcommand per registered family, named by the family."""
    for domain, family in FAMILIES.items():
        if family.command in FIXED_COMMANDS:
            raise ValueError(f"the {domain} family's command {family.command!r} is taken by `cubeworld generate {family.command}`")
        app.command(family.command, help=family.description)(family_command(family))


@generate_app.command("preset")
def preset(
    name: str = typer.Argument(..., help="Preset name (see `cubeworld generate presets`)."),
    out: Path = OUT,
    workers: Optional[int] = WORKERS,
    parent: Optional[Path] = typer.Option(None, "--parent", help="Parent set of a subset preset (default: sibling folder named after it)."),
    quiet: bool = QUIET,
) -> None:
    """Generate one of the study's sets."""
    from cubeworld.stimuli.presets import generate_preset

    with user_errors():
        path = generate_preset(name, out, workers=workers, progress=not quiet, parent=parent)
    typer.echo(f"wrote {path}")


@generate_app.command("presets")
def presets(as_json: bool = typer.Option(False, "--json", help="Print the definitions as JSON.")) -> None:
    """List the study's sets."""
    from cubeworld.stimuli.presets import list_presets

    items = list_presets()
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    for name, spec in items.items():
        typer.echo(f"{name:16s} {spec['total']:>6d}  {spec['description']}")


@generate_app.command("from")
def from_card(
    card: Path = typer.Argument(..., help="A set's dataset.json (or its folder)."),
    out: Path = OUT,
    workers: Optional[int] = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """Rebuild a set from its card, byte for byte."""
    from cubeworld.stimuli.regenerate import regenerate

    with user_errors():
        path = regenerate(card, out, workers=workers, progress=not quiet)
    typer.echo(f"wrote {path}")


@generate_app.command("subset")
def subset(
    set_dir: Path = typer.Argument(..., help="The set to draw from."),
    out: Path = OUT,
    per_cell: int = typer.Option(..., "--per-cell", help="Stimuli per size x label."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Draw a balanced subset (per size x label) of a set, keeping its ids."""
    from cubeworld.stimuli.subset import draw_subset

    with user_errors():
        path = draw_subset(set_dir, out, per_cell, seed)
    typer.echo(f"wrote {path}")


def sheet(
    set_dir: Path = typer.Argument(..., help="A stimulus set folder."),
    out: Path = typer.Option(..., "--out", help="Output PNG."),
    thumb: int = typer.Option(160, "--thumb", help="Tile size in pixels."),
    limit: int = typer.Option(120, "--limit", help="At most this many stimuli, spread over size x label."),
    columns: Optional[int] = typer.Option(None, "--columns"),
) -> None:
    """Contact sheet: a grid of a set's stimuli with their labels."""
    from cubeworld.stimuli.sheet import make_sheet

    with user_errors():
        path = make_sheet(set_dir, out, thumb=thumb, limit=limit, columns=columns)
    typer.echo(f"wrote {path}")


def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Output folder."),
    workers: Optional[int] = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """A first look: a small set of every stimulus family with its contact sheet, in a minute."""
    from cubeworld.stimuli.demo import run_stimuli_demo

    with user_errors():
        paths = run_stimuli_demo(out, workers=workers, progress=not quiet)
    for key, path in paths.items():
        typer.echo(f"{key}: {path}")


add_family_commands(generate_app)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(generate_app, name="generate")
    app.command("sheet")(sheet)
    generate_app.command("demo")(demo)
