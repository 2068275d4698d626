"""`cubeworld human ...`: create a study over a stimulus set, serve it, export its data."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import typer

from cubeworld.cli_errors import show_warnings, user_errors
from cubeworld.errors import check_writable
from cubeworld.typed import cli_parameters, with_signature

human_app = typer.Typer(
    no_args_is_help=True,
    help="Human studies on Prolific: a jsPsych web experiment over a stimulus set.",
)


def create(set_dir: Path, out: Path, overwrite: bool, **settings: Any) -> None:
    """Make a study folder (study.yaml with the admin token, items, images) over a set."""
    from cubeworld.human.config import load_human_config
    from cubeworld.human.errors import HumanStudyError
    from cubeworld.human.study import create_human_study

    with user_errors():
        check_writable(out)
        try:
            folder = create_human_study(
                set_dir,
                out,
                settings.pop("design"),
                items=settings.pop("items_per_participant"),
                overwrite=overwrite,
                **settings,
            )
        except HumanStudyError as e:
            raise HumanStudyError(_as_option(str(e))) from None
        cfg = load_human_config(folder)
    typer.echo(f"created study {cfg.name!r} in {folder}: {cfg.n_items} items, {cfg.design} design")
    typer.echo(f"  settings:        {folder / 'study.yaml'} (edit before launching)")
    typer.echo(f"  completion code: {cfg.completion_code}")
    typer.echo(f"  serve it with:   cubeworld human serve {folder} --port 8000")


def _as_option(message: str) -> str:
    """A problem with a setting of `create` (`bonus_per_correct: ...`) named by its option."""
    import dataclasses

    from cubeworld.human.config import HumanStudyConfig

    for f in dataclasses.fields(HumanStudyConfig):
        flag = f.metadata.get("cli", True)
        if flag is not False and message.startswith(f"{f.name}:"):
            flag = flag if isinstance(flag, str) else "--" + f.name.replace("_", "-")
            return f"{flag}{message[len(f.name) :]}"
    return message


def _create_parameters() -> list[inspect.Parameter]:
    """`create`'s options: the set and the folder, then one per setting of HumanStudyConfig
    that is on the command line (name, type, default, help and bounds from its field)."""
    from cubeworld.human.config import HumanStudyConfig

    def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    return [
        option("set_dir", Path, typer.Option(..., "--set", help="Stimulus set folder (metadata.jsonl, images/).")),
        option("out", Path, typer.Option(..., help="Human study folder to create.")),
        *cli_parameters(HumanStudyConfig, defaults={"name": None, "completion_code": None}),
        option("overwrite", bool, typer.Option(False, help="Replace an existing study folder without data.")),
    ]


human_app.command("create")(with_signature(create, _create_parameters()))


@human_app.command("serve")
def serve(
    study: Path = typer.Argument(..., help="Human study folder made by `cubeworld human create`."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
) -> None:
    """Run the study's web server (participants, admin progress and export)."""
    from cubeworld.human.server import serve as run_server

    with user_errors():
        run_server(study, host=host, port=port, access_log=access_log)


@human_app.command("export")
def export(
    study: Path = typer.Argument(..., help="Human study folder."),
    out: Path = typer.Option(..., help="Responses table (CSV) for the analysis and fine-tuning."),
    bonus: Path | None = typer.Option(None, help="Prolific bulk-bonus lines (default: bonus.csv beside --out)."),
    participants: Path | None = typer.Option(None, help="Participant table (default: participants.csv beside --out)."),
    exclusions: Path | None = typer.Option(None, help="Exclusion summary (default: exclusions.json beside --out)."),
    completed_only: bool = typer.Option(False, help="Only responses of participants who completed."),
) -> None:
    """Export responses, participants, the bonus lines and the exclusions (rules from study.yaml).

    Excluded participants stay in the tables, flagged (columns excluded, exclusion_rules).
    """
    from cubeworld.human.export import ExportWarning, export_study

    with user_errors():
        for path in (out, bonus, participants, exclusions):
            if path is not None:
                check_writable(path, folder=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ExportWarning)
            paths = export_study(
                study, out, bonus=bonus, participants=participants, exclusions=exclusions, completed_only=completed_only
            )
    show_warnings([w for w in caught if issubclass(w.category, ExportWarning)])
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
    typer.echo(json.loads(Path(paths["exclusions"]).read_text())["summary"])


@human_app.command("backup")
def backup(
    study: Path = typer.Argument(..., help="Human study folder."),
    out: Path = typer.Option(..., help="Backup file to write (an SQLite database)."),
) -> None:
    """Copy the study database to a backup file; safe while the server runs.

    To restore: stop the server, keep the damaged study.sqlite (and its -wal, -shm) elsewhere,
    and copy the backup to STUDY/study.sqlite.
    """
    from cubeworld.human.store import Store
    from cubeworld.human.study import load_human_study

    with user_errors():
        check_writable(out, folder=False)
        store = Store.snapshot(load_human_study(study))
        try:
            store.check_integrity()  # a backup of a damaged file would be no backup
            path = store.backup(out)
            n = store.progress()["responses"]
        finally:
            store.close()
    typer.echo(f"backup: {path} ({n} image responses)")


@human_app.command("plan")
def plan(
    pilot: Path | None = typer.Option(
        None, help="Pilot responses table (a `human export`, or any responses table); default: Lerer100."
    ),
    set_dir: Path | None = typer.Option(
        None, "--set", help="Stimulus set with the pilot's truth and sizes (when the table lacks answer/n_blocks)."
    ),
    predictions: list[Path] = typer.Option(
        [], "--predictions", help="Prediction tables of the models to plan kappa for (repeatable)."
    ),
    model: list[str] = typer.Option(
        [], "--model", help="Only these models/observers (repeatable; default: all in the pilot)."
    ),
    design: str = typer.Option(
        "same", help="same: N participants answer every item; spread: r responses per item, K items each."
    ),
    target: float = typer.Option(0.05, help="Wanted 95% interval half-width (accuracy and mean kappa)."),
    sizes: str | None = typer.Option(
        None, help="Sizes to simulate, e.g. 10,20,40 (participants, at least 10; spread: responses per item)."
    ),
    items: str | None = typer.Option(
        None, help="Items per study to simulate, e.g. 100,200 (at least 20; default: the pilot's count, x2, x4)."
    ),
    items_per_participant: int | None = typer.Option(
        None, max=100_000, help="spread: items per participant K (default 20)."
    ),
    resamples: int = typer.Option(40, max=100_000, help="Simulated studies per design."),
    boot: int = typer.Option(400, max=1_000_000, help="Bootstrap draws per interval."),
    assurance: float | None = typer.Option(
        None, help="Plan for this quantile of the half-width (e.g. 0.8) instead of its mean."
    ),
    seed: int = typer.Option(0, help="Random seed (the plan is reproducible)."),
    base: float = typer.Option(1.50, help="Base reward per participant (the study paid 1.50 USD)."),
    bonus_per_correct: float = typer.Option(0.01, help="Bonus per correct answer (the study paid 0.01 USD)."),
    currency: str = typer.Option("USD", help="Currency of --base and --bonus-per-correct."),
    fee_percent: float = typer.Option(
        33.33, help="Prolific's service fee in % of rewards and bonuses (assumed; 0 leaves fees out)."
    ),
    include_excluded: bool = typer.Option(False, help="Keep pilot participants flagged excluded."),
    out: Path = typer.Option(Path("human-plan"), help="Folder for plan.csv, plan.json and plan.png."),
) -> None:
    """How many items and participants (same) or responses per item (spread) reach a
    target interval half-width on accuracy per size and on mean kappa to each model, and
    what that costs; says when only more items can reach it.

    Resamples a pilot's items and participants: Lerer100 by default (107 participants, five
    zero-shot models).
    """
    from cubeworld.human.pilot import PlanError, lerer100_pilot, responses_pilot
    from cubeworld.human.plan import PlanSettings
    from cubeworld.human.plan import plan as run_plan
    from cubeworld.human.plan_report import Pay, format_report, write_outputs

    with user_errors():
        grid: tuple[int, ...] = ()
        if sizes is not None:
            try:
                grid = tuple(int(x) for x in sizes.split(",") if x.strip())
            except ValueError:
                raise PlanError(f"--sizes must be comma-separated integers, got {sizes!r}") from None
            if not grid:
                raise PlanError("--sizes is empty")
        item_grid: tuple[int, ...] = ()
        if items is not None:
            try:
                item_grid = tuple(int(x) for x in items.split(",") if x.strip())
            except ValueError:
                raise PlanError(f"--items must be comma-separated integers, got {items!r}") from None
            if not item_grid:
                raise PlanError("--items is empty")
        if max(grid + item_grid, default=0) > 100_000:
            raise PlanError(f"--sizes/--items: at most 100000, got {max(grid + item_grid)}")
        settings = PlanSettings(
            design=design,
            target=target,
            grid=grid,
            items=item_grid,
            items_per_participant=items_per_participant,
            resamples=resamples,
            n_boot=boot,
            seed=seed,
            assurance=assurance,
        )
        settings.validate()
        pay = Pay(base=base, bonus_per_correct=bonus_per_correct, currency=currency, fee_percent=fee_percent)
        pay.validate()
        if pilot is None and (set_dir is not None or predictions):
            raise PlanError(
                "--set and --predictions describe a --pilot table; the default pilot (Lerer100) brings its own"
            )
        check_writable(out)
        data = (
            lerer100_pilot()
            if pilot is None
            else responses_pilot(pilot, set_dir=set_dir, predictions=predictions, include_excluded=include_excluded)
        )
        data.select_observers(model)
        result = run_plan(data, settings)
        paths = write_outputs(result, pay, out)
    typer.echo(format_report(result, pay))
    typer.echo("")
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")


@human_app.command("progress")
def progress(study: Path = typer.Argument(..., help="Human study folder.")) -> None:
    """Print the study's progress (participants by status, responses, free items) as JSON.

    Reads a snapshot of the database: creates and changes nothing (a read-only folder works).
    """
    from cubeworld.human.store import Store
    from cubeworld.human.study import load_human_study

    with user_errors():
        store = Store.snapshot(load_human_study(study))
        try:
            store.check_integrity()
            summary = store.progress()
        finally:
            store.close()
    summary.pop("per_participant")
    typer.echo(json.dumps(summary, indent=2))


@human_app.command("migrate")
def migrate(study: Path = typer.Argument(..., help="Human study folder.")) -> None:
    """Rewrite a study database written by an earlier cubeworld in this version's layout.

    Stop the study's server first. A backup of the database as it was is written beside it
    (study.sqlite.v<N>-backup) before anything changes, and the rewrite is one transaction.
    """
    from cubeworld.human.migrate import migrate_study

    with user_errors():
        report = migrate_study(study)
    for line in report:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(human_app, name="human")
