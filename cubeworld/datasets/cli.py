"""`cubeworld data ...`: import external data sets into the toolkit's formats.

Heavy imports (pandas) happen inside the commands so that `cubeworld --help` stays fast.
Bad input ends in one line on stderr and exit code 2 (`cubeworld.cli_errors`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from cubeworld.cli_errors import show_warnings, user_errors
from cubeworld.errors import check_writable

data_app = typer.Typer(
    no_args_is_help=True,
    help="Import external data sets into the toolkit's formats (Lerer100, ...).",
)


@data_app.command("lerer100")
def data_lerer100(
    src: Path = typer.Option(..., "--from", help="The Lerer100 folder (stimuli.csv, images/, "
                             "human_responses.csv)."),
    out: Path = typer.Option(..., "--out", help="Set folder to write (with human_responses.csv)."),
) -> None:
    """Import Lerer100 as a stimulus set plus its 107 participants' responses."""
    with user_errors():
        check_writable(out)
        from cubeworld.datasets.lerer100 import import_lerer100

        path = import_lerer100(src, out)
    typer.echo(f"wrote set {path} (metadata.jsonl, images/, human_responses.csv)")


@data_app.command("lerer100-models")
def data_lerer100_models(
    src: Path = typer.Option(..., "--from", help="The Lerer100 folder (model_answers.csv)."),
    out: Path = typer.Option(..., "--out", help="Prediction table to write (.csv or .parquet)."),
) -> None:
    """Import the five published zero-shot models' answers as a prediction table."""
    with user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_writable(out, folder=False)
        from cubeworld.datasets.lerer100 import import_lerer100_models

        path = import_lerer100_models(src, out)
    show_warnings(caught)
    typer.echo(f"wrote predictions {path}")


def register(app: typer.Typer) -> None:
    """Add the `data` sub-app to the root app."""
    app.add_typer(data_app, name="data")
