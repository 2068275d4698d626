"""`cubeworld data ...`: import external data sets into the toolkit's formats.

Every data set is an entry of `cubeworld.datasets.DATASETS`; without `--from`, the source
is the data set's environment variable (e.g. `CUBEWORLD_LERER100`), else the copy shipped
in the package. Heavy imports (pandas) happen inside the commands so that `cubeworld
--help` stays fast. Bad input ends in one line on stderr and exit code 2.
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

FROM = typer.Option(
    None, "--from", help="Source folder (default: $CUBEWORLD_LERER100, else the copy shipped with cubeworld)."
)


@data_app.command("list")
def data_list() -> None:
    """The registered external data sets, with where each is read from."""
    from cubeworld.datasets.catalog import DATASETS

    for name, ds in DATASETS.items():
        try:
            where = str(ds.source())
        except Exception as e:  # noqa: BLE001 - listing never fails on one entry
            where = f"(no source: {e})"
        typer.echo(f"{name}: {ds.description}\n    source: {where}  (override: ${ds.env})")


@data_app.command("lerer100")
def data_lerer100(
    src: Path | None = FROM,
    out: Path = typer.Option(..., "--out", help="Set folder to write (with human_responses.csv)."),
) -> None:
    """Import Lerer100 as a stimulus set plus its 107 participants' responses."""
    with user_errors():
        check_writable(out)
        from cubeworld.datasets.catalog import get_dataset

        path = get_dataset("lerer100").import_set(out, src)
    typer.echo(f"wrote set {path} (metadata.jsonl, images/, human_responses.csv)")


@data_app.command("lerer100-models")
def data_lerer100_models(
    src: Path | None = FROM,
    out: Path = typer.Option(..., "--out", help="Prediction table to write (.csv or .parquet)."),
) -> None:
    """Import the five published zero-shot models' answers as a prediction table."""
    with user_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_writable(out, folder=False)
        from cubeworld.datasets.catalog import get_dataset

        path = get_dataset("lerer100").import_models(out, src)
    show_warnings(caught)
    typer.echo(f"wrote predictions {path}")


def register(app: typer.Typer) -> None:
    """Add the `data` sub-app to the root app."""
    app.add_typer(data_app, name="data")
