"""Commands of the analysis stage: `cubeworld analyze` and the `cubeworld data` importers.

Heavy imports (pandas, matplotlib, statsmodels) happen inside the commands so that
`cubeworld --help` stays fast. Bad input ends in a one-line message and exit code 2.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import List, Optional

import typer

data_app = typer.Typer(
    no_args_is_help=True,
    help="Import external data sets into the toolkit's formats (Lerer100, ...).",
)


def _fail(message: str) -> None:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def _show_warnings(caught) -> None:
    for w in caught:
        typer.secho(f"Warning: {w.message}", err=True, fg=typer.colors.YELLOW)


@data_app.command("lerer100")
def data_lerer100(
    src: Path = typer.Option(..., "--from", help="The Lerer100 folder (stimuli.csv, images/, "
                             "human_responses.csv)."),
    out: Path = typer.Option(..., "--out", help="Set folder to write (with human_responses.csv)."),
) -> None:
    """Import Lerer100 as a stimulus set plus its 107 participants' responses."""
    from cubeworld.datasets.lerer100 import Lerer100Error, import_lerer100
    from cubeworld.formats.responses import ResponsesFormatError

    try:
        path = import_lerer100(src, out)
    except (Lerer100Error, ResponsesFormatError) as e:
        _fail(str(e))
    typer.echo(f"wrote set {path} (metadata.jsonl, images/, human_responses.csv)")


@data_app.command("lerer100-models")
def data_lerer100_models(
    src: Path = typer.Option(..., "--from", help="The Lerer100 folder (model_answers.csv)."),
    out: Path = typer.Option(..., "--out", help="Prediction table to write (.csv or .parquet)."),
) -> None:
    """Import the five published zero-shot models' answers as a prediction table."""
    from cubeworld.datasets.lerer100 import Lerer100Error, import_lerer100_models
    from cubeworld.formats.predictions import PredictionsFormatError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            path = import_lerer100_models(src, out)
        except (Lerer100Error, PredictionsFormatError) as e:
            _fail(str(e))
    _show_warnings(caught)
    typer.echo(f"wrote predictions {path}")


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
    from cubeworld.analysis import analyze
    from cubeworld.analysis.loading import AnalysisInputError

    if epoch != "last":
        try:
            epoch_value: int | str = int(epoch)
        except ValueError:
            raise typer.BadParameter(f"expected 'last' or an integer, got {epoch!r}",
                                     param_hint="--epoch") from None
    else:
        epoch_value = "last"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = analyze(predictions, out, truth=truth or (), humans=humans,
                             epoch=epoch_value, n_boot=n_boot, seed=seed, progress=not quiet)
        except (AnalysisInputError, ValueError) as e:
            _fail(str(e))
    _show_warnings([w for w in caught if not issubclass(w.category, DeprecationWarning)])
    typer.echo(f"wrote {report}")


def register(app: typer.Typer) -> None:
    """Add `analyze` and the `data` sub-app to the root app."""
    app.command("analyze")(analyze_command)
    app.add_typer(data_app, name="data")
