"""`cubeworld analyze`: tables, figures and report.html from prediction tables.

Heavy imports (pandas, matplotlib, statsmodels) happen inside the command so that
`cubeworld --help` stays fast. Bad input ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional

import typer

from cubeworld.cli_errors import show_warnings, user_errors


def analyze_command(
    predictions: List[Path] = typer.Argument(..., help="Prediction tables (.csv/.parquet)."),
    out: Path = typer.Option(..., "--out", help="Folder for tables, figures and report.html."),
    truth: Optional[List[Path]] = typer.Option(
        None, "--truth", help="Set folder(s) with the ground truth (repeatable); default: the "
        "tables' own falls column."),
    humans: Optional[Path] = typer.Option(None, "--humans", help="Human responses table (CSV)."),
    epoch: str = typer.Option("last", "--epoch", help="Epoch of each run for the main tables: "
                              "'last' or an integer."),
    n_boot: int = typer.Option(10_000, "--n-boot", min=100, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (reports are reproducible)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Accuracy (Wilson intervals), kappa to truth and humans, figures and report.html."""
    if epoch != "last":
        try:
            epoch_value: int | str = int(epoch)
        except ValueError:
            raise typer.BadParameter(f"expected 'last' or an integer, got {epoch!r}",
                                     param_hint="--epoch") from None
    else:
        epoch_value = "last"
    with user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from cubeworld.analysis import analyze

        report = analyze(predictions, out, truth=truth or (), humans=humans,
                         epoch=epoch_value, n_boot=n_boot, seed=seed, progress=not quiet)
    show_warnings([w for w in caught if not issubclass(w.category, DeprecationWarning)])
    typer.echo(f"wrote {report}")


def register(app: typer.Typer) -> None:
    """Add `analyze` to the root app."""
    app.command("analyze")(analyze_command)
