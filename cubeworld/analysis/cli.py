"""`cubeworld analyze`: tables, figures and report.html from prediction tables.

Heavy imports (pandas, matplotlib, statsmodels) happen inside the command so that
`cubeworld --help` stays fast. Bad input ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from cubeworld.cli_errors import show_warnings, user_errors

INTERRUPTED_EXIT = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


@contextmanager
def interrupted(out: Path) -> Iterator[None]:
    """Ctrl-C (SIGINT): one line on stderr and exit code 130, not click's "Aborted!" (exit
    1) nor a traceback. `analyze` writes through a staging folder, so nothing of this run
    is left in `out`."""
    try:
        yield
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted: analyze stopped; nothing of this run was written to {out}", err=True)
        raise typer.Exit(INTERRUPTED_EXIT) from None


def _list_analyses(value: bool) -> None:
    if not value:
        return
    from cubeworld.analysis.units import ANALYSES

    for name, unit in ANALYSES.items():
        typer.echo(f"{name:18s} {unit.summary or unit.title}")
    raise typer.Exit(0)


def parse_trained(values: list[str]) -> list:
    """`CONDITION=SET_DIR` or `CONDITION=SET_DIR@RESPONSES` -> `TrainedOn` entries."""
    from cubeworld.analysis.loading import TrainedOn

    out = []
    for v in values:
        cond, sep, rest = v.partition("=")
        if not sep or not cond.strip() or not rest.strip():
            raise typer.BadParameter(
                f"expected CONDITION=SET_DIR or CONDITION=SET_DIR@RESPONSES, got {v!r}", param_hint="--trained"
            )
        folder, at, humans = rest.partition("@")
        out.append(TrainedOn(cond.strip(), Path(folder), Path(humans) if at else None))
    return out


def analyze_command(
    predictions: list[Path] = typer.Argument(..., help="Prediction tables (.csv/.parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for tables, figures and report.html."),
    truth: list[Path] | None = typer.Option(
        None, "--truth", help="Set folder(s) with the ground truth (repeatable); default: the tables' own falls column."
    ),
    humans: Path | None = typer.Option(None, "--humans", help="Human responses table (CSV)."),
    epoch: str = typer.Option("last", "--epoch", help="Epoch of each run for the main tables: 'last' or an integer."),
    n_boot: int = typer.Option(10_000, "--n-boot", min=100, max=1_000_000, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (reports are reproducible)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    analysis: list[str] | None = typer.Option(
        None,
        "--analysis",
        help="Run only this analysis (repeatable; see --list-analyses). "
        "A named analysis that cannot run on the inputs is an error; by default every "
        "analysis runs and what cannot run is listed in the report.",
    ),
    trained: list[str] | None = typer.Option(
        None,
        "--trained",
        help="What a condition was trained on: CONDITION=SET_DIR, or CONDITION=SET_DIR@RESPONSES.csv "
        "for human labels (repeatable; a mixture names each set). Gives the generalisation "
        "contrasts (in minus out of distribution) and the human labels' agreement with the truth.",
    ),
    fit: list[Path] | None = typer.Option(
        None,
        "--fit",
        help="A fit folder (`cubeworld fit physics --out`, a study's runs/STUDY/fits/NAME; repeatable): "
        "the report shows its per-size curve and held-out log-likelihoods.",
    ),
    include_excluded: bool = typer.Option(
        False,
        "--include-excluded",
        help="Keep participants the human table flags "
        "excluded (default: leave them out; the report counts them per rule).",
    ),
    list_analyses: bool = typer.Option(
        False,
        "--list-analyses",
        is_eager=True,
        expose_value=False,
        callback=_list_analyses,
        help="List the registered analyses and exit.",
    ),
) -> None:
    """Accuracy, generalisation contrasts, error consistency (crossed intervals, one-sided
    Holm-corrected p-values), graded alignment, calibration, difficulty curves, figures and
    a report.html that leads with the study's main effect."""
    if epoch != "last":
        try:
            epoch_value: int | str = int(epoch)
        except ValueError:
            raise typer.BadParameter(f"expected 'last' or an integer, got {epoch!r}", param_hint="--epoch") from None
    else:
        epoch_value = "last"
    trained_on = parse_trained(trained or [])
    with interrupted(out), user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from cubeworld.analysis import analyze

        report = analyze(
            predictions,
            out,
            truth=truth or (),
            humans=humans,
            epoch=epoch_value,
            n_boot=n_boot,
            seed=seed,
            progress=not quiet,
            analyses=analysis or None,
            include_excluded=include_excluded,
            trained=trained_on,
            fits=fit or (),
        )
    show_warnings([w for w in caught if not issubclass(w.category, DeprecationWarning)])
    typer.echo(f"wrote {report}")


def register(app: typer.Typer) -> None:
    """Add `analyze` to the root app."""
    app.command("analyze")(analyze_command)
