"""Commands of the stimuli stage: `generate <family>` for every registered stimulus family,
`generate preset|presets|from|subset|demo`, `sheet` and `audit`.

Heavy modules (mujoco, numpy, PIL) are imported inside the commands so `cubeworld --help`
stays fast. Bad input ends with a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.stimuli.catalog import FAMILIES
from cubeworld.stimuli.family import StimulusFamily, format_sizes

generate_app = typer.Typer(
    no_args_is_help=True, help="Generate stimulus sets (one command per stimulus family, the study's presets)."
)

OUT = typer.Option(..., "--out", help="Output set folder (created; a killed run resumes in it).")
WORKERS = typer.Option(None, "--workers", help="Worker processes (default: all cores).")
RESOLUTION = typer.Option(448, "--resolution", help="Image width and height in pixels.")
QUIET = typer.Option(False, "--quiet", help="No progress bar.")


def _generate(
    domain: str, sizes: str, per_size: int, seed: int, out: Path, workers, resolution: int, name, quiet: bool
) -> None:
    from cubeworld.stimuli.pipeline.generate import generate_set

    with user_errors():
        path = generate_set(
            domain, sizes, per_size, seed, out, resolution=resolution, workers=workers, progress=not quiet, name=name
        )
    typer.echo(f"wrote {path}")


def family_command(family: StimulusFamily):
    """The `cubeworld generate <family.command>` command of one stimulus family."""
    allowed = format_sizes(family.sizes)

    def command(
        sizes: str = typer.Option(allowed, "--sizes", help=f"Block counts among {allowed}, e.g. {allowed}."),
        per_size: int = typer.Option(..., "--per-size", help="Stimuli per size (even: half Yes, half No)."),
        seed: int = typer.Option(..., "--seed", help="Seed; sets with different seeds never share a scene."),
        out: Path = OUT,
        workers: int | None = WORKERS,
        resolution: int = RESOLUTION,
        name: str | None = typer.Option(None, "--name", help="Set name in the card (default: from the arguments)."),
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
            raise ValueError(
                f"the {domain} family's command {family.command!r} is taken by `cubeworld generate {family.command}`"
            )
        app.command(family.command, help=family.description)(family_command(family))


@generate_app.command("preset")
def preset(
    name: str = typer.Argument(..., help="Preset name (see `cubeworld generate presets`)."),
    out: Path = OUT,
    workers: int | None = WORKERS,
    parent: Path | None = typer.Option(
        None, "--parent", help="Parent set of a subset preset (default: sibling folder named after it)."
    ),
    quiet: bool = QUIET,
) -> None:
    """Generate one of the study's sets."""
    from cubeworld.stimuli.pipeline.presets import generate_preset

    with user_errors():
        path = generate_preset(name, out, workers=workers, progress=not quiet, parent=parent)
    typer.echo(f"wrote {path}")


@generate_app.command("presets")
def presets(as_json: bool = typer.Option(False, "--json", help="Print the definitions as JSON.")) -> None:
    """List the study's sets."""
    from cubeworld.stimuli.pipeline.presets import list_presets

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
    workers: int | None = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """Rebuild a set from its card, byte for byte."""
    from cubeworld.stimuli.pipeline.regenerate import regenerate

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
    from cubeworld.stimuli.pipeline.subset import draw_subset

    with user_errors():
        path = draw_subset(set_dir, out, per_cell, seed)
    typer.echo(f"wrote {path}")


def sheet(
    set_dir: Path = typer.Argument(..., help="A stimulus set folder."),
    out: Path = typer.Option(..., "--out", help="Output PNG."),
    thumb: int = typer.Option(160, "--thumb", help="Tile size in pixels."),
    limit: int = typer.Option(120, "--limit", help="At most this many stimuli, spread over size x label."),
    columns: int | None = typer.Option(None, "--columns"),
) -> None:
    """Contact sheet: a grid of a set's stimuli with their labels."""
    from cubeworld.stimuli.audit.sheet import make_sheet

    with user_errors():
        path = make_sheet(set_dir, out, thumb=thumb, limit=limit, columns=columns)
    typer.echo(f"wrote {path}")


def audit(
    set_dir: Path = typer.Argument(..., help="A stimulus set folder."),
    physics: bool = typer.Option(
        False, "--physics", help="Also re-simulate a sample under the documented perturbed physics."
    ),
    per_size: int = typer.Option(
        20, "--per-size", help="--physics: items re-simulated per size (half of each answer)."
    ),
    seed: int = typer.Option(0, "--seed", help="--physics: the seed drawing the sample."),
    workers: int | None = WORKERS,
    quiet: bool = QUIET,
) -> None:
    """What simple cues score on a set without physics (shortcut audit); with --physics, how
    often its labels hold under other reasonable physics."""
    with user_errors():
        from cubeworld.formats.sets import SetFormatError, load_set
        from cubeworld.stimuli.audit.shortcut import format_audit, shortcut_audit
        from cubeworld.stimuli.catalog import get_family
        from cubeworld.stimuli.errors import StimuliError

        if physics and (isinstance(per_size, bool) or per_size < 1):
            raise StimuliError(f"--per-size must be a positive integer, got {per_size}")
        try:
            s = load_set(set_dir, check_images=False)
        except SetFormatError as e:
            raise StimuliError(str(e)) from None
        if physics and not all(isinstance(r.extra.get("scene"), dict) for r in s.rows):
            raise StimuliError(f"{set_dir}: its rows record no scenes (photos?), so there is nothing to re-simulate")
        domains = sorted({r.domain for r in s.rows})
        if len(domains) != 1:
            raise StimuliError(f"{set_dir}: rows of several domains {domains}; audit one family's set at a time")
        family = get_family(domains[0])
        card = s.card
        typer.echo(
            f"{s.name}: {len(s)} {family.domain} items, sizes {format_sizes(tuple(sorted({r.n_blocks for r in s.rows})))}, "
            f"generator {card.get('generator', '?')} {card.get('generator_version', '?')}"
        )
        for line in format_audit(shortcut_audit(family, [r.to_record() for r in s.rows])):
            typer.echo(line)
        if physics:
            from cubeworld.stimuli.audit.physics import format_physics_audit, physics_audit

            result = physics_audit(set_dir, per_size=per_size, seed=seed, workers=workers, progress=not quiet)
            for line in format_physics_audit(result):
                typer.echo(line)


def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Output folder."),
    workers: int | None = WORKERS,
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
    app.command("audit")(audit)
    generate_app.command("demo")(demo)
