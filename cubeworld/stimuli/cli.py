"""Commands of the stimuli stage: `generate <family>` for every registered stimulus family,
`generate preset|presets|from|subset|demo`, `sheet` and `audit`.

Every size-like option is declared once, with its default, help and bounds, in the typed
config of the component it belongs to (`SetRequest`, `WorkerOptions`, `SheetRequest`,
`SubsetRequest`, `PhysicsAuditRequest`); the options here are generated from those
declarations (`cubeworld.typed.cli_parameters`), so a bound is enforced by the command line
(one line, exit code 2) exactly as by the library. Commands that read a set take
`--verify`: every image decoded and checked against the set's recorded sha256 first.

Heavy modules (mujoco, numpy, PIL) are imported inside the commands so `cubeworld --help`
stays fast. Bad input ends with a one-line error and exit code 2, never a traceback.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from cubeworld.cli_errors import user_errors
from cubeworld.stimuli.audit.physics import PhysicsAuditRequest
from cubeworld.stimuli.audit.sheet import SheetRequest
from cubeworld.stimuli.catalog import FAMILIES
from cubeworld.stimuli.core.options import WorkerOptions
from cubeworld.stimuli.family import StimulusFamily, format_sizes
from cubeworld.stimuli.pipeline.arguments import SetRequest
from cubeworld.stimuli.pipeline.executor_options import ExecutorOptions, SlurmOptions
from cubeworld.stimuli.pipeline.subset import SubsetRequest
from cubeworld.typed import cli_parameters, with_signature

generate_app = typer.Typer(
    no_args_is_help=True, help="Generate stimulus sets (one command per stimulus family, the study's presets)."
)

OUT = typer.Option(..., "--out", help="Output set folder (created; a killed generation resumes in it).")
QUIET = typer.Option(False, "--quiet", help="No progress bar.")
VERIFY = typer.Option(
    False, "--verify", help="First check every image of the set: it decodes and its sha256 is the recorded one."
)


def _option(name: str, option: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


def _argument(name: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=typer.Argument(..., help=help), annotation=Path
    )


def _command(func: Callable[..., None], params: list[inspect.Parameter], doc: str) -> Callable[..., None]:
    """`func(**options)` as a typer command with the options `params` (from the configs)."""

    def command(**kwargs: Any) -> None:
        func(**kwargs)

    command.__doc__ = doc
    return with_signature(command, params)


EXECUTOR_PARAMS = [*cli_parameters(ExecutorOptions), *cli_parameters(SlurmOptions)]


def _executor(executor: str, progress: bool, **slurm: Any) -> Any:
    """`generate_set`'s executor from the command's --executor and --slurm-* options."""
    from cubeworld.stimuli.pipeline.cluster import make_executor
    from cubeworld.stimuli.plain import from_plain

    options = from_plain(SlurmOptions, {k: v for k, v in slurm.items() if v is not None}, "--slurm")
    return make_executor(executor, options, progress)


def family_command(family: StimulusFamily) -> Callable[..., None]:
    """The `cubeworld generate <family.command>` command of one stimulus family: its options
    are `SetRequest`'s fields (sizes defaulting to the family's), `--out`, `WorkerOptions`,
    `--name` and `--quiet`."""
    allowed = format_sizes(family.sizes)

    def run(
        *,
        sizes: str,
        per_size: int,
        seed: int,
        resolution: int,
        control_cues: bool,
        out: Path,
        workers: int | None,
        name: str | None,
        quiet: bool,
        executor: str,
        **slurm: Any,
    ) -> None:
        from cubeworld.stimuli.pipeline.generate import generate_set

        with user_errors():
            path = generate_set(
                family.domain,
                sizes,
                per_size,
                seed,
                out,
                resolution=resolution,
                workers=workers,
                progress=not quiet,
                name=name,
                control_cues=control_cues,
                executor=_executor(executor, not quiet, **slurm),
            )
        typer.echo(f"wrote {path}")

    params = [
        *cli_parameters(SetRequest, defaults={"sizes": allowed}),
        _option("out", OUT, Path),
        *cli_parameters(WorkerOptions),
        _option(
            "name", typer.Option(None, "--name", help="Set name in the card (default: from the arguments)."), str | None
        ),
        _option("quiet", QUIET, bool),
        *EXECUTOR_PARAMS,
    ]
    return _command(run, params, family.description)


FIXED_COMMANDS = ("preset", "presets", "from", "subset", "demo")


def add_family_commands(app: typer.Typer) -> None:
    """One `generate` subcommand per registered family, named by the family."""
    for domain, family in FAMILIES.items():
        if family.command in FIXED_COMMANDS:
            raise ValueError(
                f"the {domain} family's command {family.command!r} is taken by `cubeworld generate {family.command}`"
            )
        app.command(family.command, help=family.description)(family_command(family))


def _preset(
    *, name: str, out: Path, workers: int | None, parent: Path | None, quiet: bool, executor: str, **slurm: Any
) -> None:
    from cubeworld.stimuli.pipeline.presets import generate_preset

    with user_errors():
        path = generate_preset(
            name,
            out,
            workers=workers,
            progress=not quiet,
            parent=parent,
            executor=_executor(executor, not quiet, **slurm),
        )
    typer.echo(f"wrote {path}")


generate_app.command("preset")(
    _command(
        _preset,
        [
            inspect.Parameter(
                "name",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=typer.Argument(..., help="Preset name (see `cubeworld generate presets`)."),
                annotation=str,
            ),
            _option("out", OUT, Path),
            *cli_parameters(WorkerOptions),
            _option(
                "parent",
                typer.Option(
                    None, "--parent", help="Parent set of a subset preset (default: sibling folder named after it)."
                ),
                Path | None,
            ),
            _option("quiet", QUIET, bool),
            *EXECUTOR_PARAMS,
        ],
        "Generate one of the study's sets.",
    )
)


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


def _from_card(*, card: Path, out: Path, workers: int | None, quiet: bool, executor: str, **slurm: Any) -> None:
    from cubeworld.stimuli.pipeline.regenerate import regenerate

    with user_errors():
        path = regenerate(
            card, out, workers=workers, progress=not quiet, executor=_executor(executor, not quiet, **slurm)
        )
    typer.echo(f"wrote {path}")


generate_app.command("from")(
    _command(
        _from_card,
        [
            _argument("card", "A set's dataset.json (or its folder)."),
            _option("out", OUT, Path),
            *cli_parameters(WorkerOptions),
            _option("quiet", QUIET, bool),
            *EXECUTOR_PARAMS,
        ],
        "Rebuild a set from its card, byte for byte.",
    )
)


def _subset(*, set_dir: Path, out: Path, per_cell: int, seed: int, verify: bool) -> None:
    from cubeworld.stimuli.pipeline.subset import draw_subset

    with user_errors():
        path = draw_subset(set_dir, out, per_cell, seed, verify=verify)
    typer.echo(f"wrote {path}")


generate_app.command("subset")(
    _command(
        _subset,
        [
            _argument("set_dir", "The set to draw from."),
            _option("out", OUT, Path),
            *cli_parameters(SubsetRequest),
            _option("verify", VERIFY, bool),
        ],
        "Draw a balanced subset (per size x label) of a set, keeping its ids.",
    )
)


def _sheet(*, set_dir: Path, out: Path, thumb: int, limit: int, columns: int | None, verify: bool) -> None:
    from cubeworld.stimuli.audit.sheet import make_sheet

    with user_errors():
        path = make_sheet(set_dir, out, thumb=thumb, limit=limit, columns=columns, verify=verify)
    typer.echo(f"wrote {path}")


sheet = _command(
    _sheet,
    [
        _argument("set_dir", "A stimulus set folder."),
        _option("out", typer.Option(..., "--out", help="Output PNG."), Path),
        *cli_parameters(SheetRequest),
        _option("verify", VERIFY, bool),
    ],
    "Contact sheet: a grid of a set's stimuli with their labels.",
)


def _audit(
    *,
    set_dir: Path,
    physics: bool,
    per_size: int,
    seed: int,
    workers: int | None,
    log: Path | None,
    verify: bool,
    quiet: bool,
) -> None:
    with user_errors():
        from cubeworld.formats.sets import SetFormatError, load_set
        from cubeworld.stimuli.audit.shortcut import format_audit, shortcut_audit
        from cubeworld.stimuli.catalog import get_family
        from cubeworld.stimuli.errors import StimuliError

        try:
            s = load_set(set_dir, check_images=verify, verify=verify, progress=verify and not quiet)
        except SetFormatError as e:
            raise StimuliError(str(e)) from None
        if physics and s.kind != "rendered":
            raise StimuliError(f"{set_dir}: a {s.kind} set records no scenes, so there is nothing to re-simulate")
        domains = sorted({r.domain for r in s.rows})
        if len(domains) != 1:
            raise StimuliError(f"{set_dir}: rows of several domains {domains}; audit one family's set at a time")
        family = get_family(domains[0])
        card = s.card
        sizes = format_sizes(tuple(sorted({r.n_blocks for r in s.rows})))
        typer.echo(
            f"{s.name}: {len(s)} {family.domain} items ({s.kind}), sizes {sizes}, "
            f"generator {card.get('generator', '?')} {card.get('generator_version', '?')}"
        )
        for line in format_audit(shortcut_audit(family, [r.to_record() for r in s.rows])):
            typer.echo(line)
        if physics:
            from cubeworld.stimuli.audit.physics import format_physics_audit, physics_audit

            result = physics_audit(set_dir, per_size=per_size, seed=seed, workers=workers, progress=not quiet, log=log)
            for line in format_physics_audit(result):
                typer.echo(line)


audit = _command(
    _audit,
    [
        _argument("set_dir", "A stimulus set folder."),
        _option(
            "physics",
            typer.Option(False, "--physics", help="Also re-simulate a sample under the documented perturbed physics."),
            bool,
        ),
        *cli_parameters(PhysicsAuditRequest),
        *cli_parameters(WorkerOptions),
        _option(
            "log",
            typer.Option(
                None,
                "--log",
                help="--physics: the resumable per-item log (default: in the user's cache); "
                "the same command continues a killed audit from it.",
            ),
            Path | None,
        ),
        _option("verify", VERIFY, bool),
        _option("quiet", QUIET, bool),
    ],
    "What simple cues score on a set without physics (shortcut audit); with --physics, how "
    "often its labels hold under other reasonable physics.",
)


def _demo(*, out: Path, workers: int | None, quiet: bool) -> None:
    from cubeworld.stimuli.demo import run_stimuli_demo

    with user_errors():
        paths = run_stimuli_demo(out, workers=workers, progress=not quiet)
    for key, path in paths.items():
        typer.echo(f"{key}: {path}")


demo = _command(
    _demo,
    [
        _option("out", typer.Option(Path("demo"), "--out", help="Output folder."), Path),
        *cli_parameters(WorkerOptions),
        _option("quiet", QUIET, bool),
    ],
    "A first look: a small set of every stimulus family with its contact sheet, in a minute.",
)


add_family_commands(generate_app)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(generate_app, name="generate")
    app.command("sheet")(sheet)
    app.command("audit")(audit)
    generate_app.command("demo")(demo)
