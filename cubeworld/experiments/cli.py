"""`cubeworld study run|status|report CONFIG` and `cubeworld study slurm-up|slurm-down`.

Heavy imports stay inside the commands so `cubeworld --help` stays fast. Every expected
problem (bad config, changed run, missing input) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from cubeworld.cli_errors import fail, user_errors, warn

study_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="A whole study (models x conditions x seeds) from one YAML config."
)

CONFIG = typer.Argument(..., help="Study config (YAML), e.g. studies/quick.yaml.")
RUNS = typer.Option(None, "--runs-dir", help="Run store root (default: the config's runs_dir).")


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """Show each warning at once as one `warning: ...` line (a set skipped by an observer,
    a run waiting for human labels), not Python's two-line form with a source line."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        warn(str(message))

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


@study_app.command("run")
def run_cmd(
    config: Path = CONFIG,
    executor: str | None = typer.Option(None, help="local or slurm (default: the config's)."),
    restart: bool = typer.Option(False, "--restart", help="Start runs whose config changed over."),
    runs_dir: Path | None = RUNS,
    only: list[str] | None = typer.Option(None, "--only", help="Run id or prefix (repeatable)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Slurm: submit and return."),
    no_report: bool = typer.Option(False, "--no-report", help="Skip the report at the end."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    threads: int | None = typer.Option(
        None, "--threads", min=1, max=1024, help="torch CPU threads per run (default: torch's)."
    ),
) -> None:
    """Run or finish the study: skips finished runs, resumes interrupted ones."""
    if executor is not None and executor not in ("local", "slurm"):
        raise typer.BadParameter(f"expected local or slurm, got {executor!r}", param_hint="--executor")
    with user_errors(), one_line_warnings():
        from cubeworld.experiments.study import run_study

        result = run_study(
            config,
            executor=executor,
            restart=restart,
            runs_dir=runs_dir,
            progress=not quiet,
            report=not no_report,
            wait=not no_wait,
            only=only or (),
            threads=threads,
        )
    counts: dict[str, int] = {}
    for s in result.states.values():
        counts[s] = counts.get(s, 0) + 1
    typer.echo(
        f"{len(result.states)} runs ({result.skipped} already done): "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    )
    if result.report:
        typer.echo(f"report: {result.report}")
    if not no_wait and not result.ok:
        raise typer.Exit(1)


@study_app.command("status")
def status_cmd(config: Path = CONFIG, runs_dir: Path | None = RUNS) -> None:
    """A table of runs: done / running / failed / to do / waiting, and why (what is missing)."""
    with user_errors():
        from cubeworld.experiments.study import status_table, study_status

        rows = study_status(config, runs_dir=runs_dir)
    typer.echo(status_table(rows))


@study_app.command("report")
def report_cmd(config: Path = CONFIG, runs_dir: Path | None = RUNS) -> None:
    """Write the analysis report over every finished run's predictions."""
    with user_errors(), one_line_warnings():
        from cubeworld.experiments.study import study_report

        path = study_report(config, runs_dir=runs_dir)
    typer.echo(f"report: {path}")


@study_app.command("slurm-up")
def slurm_up(folder: Path = typer.Argument(..., help="Empty folder for the cluster's files (short path).")) -> None:
    """Start a single-node Slurm cluster with accounting here, to try --executor slurm.

    Test and demo infrastructure (cubeworld.experiments.testing): needs the Debian Slurm,
    munge and MariaDB packages and root."""
    with user_errors():
        from cubeworld.experiments.testing.slurm_cluster import LocalSlurmCluster

        cluster = LocalSlurmCluster(root=folder.resolve()).start()
    typer.echo(f"export SLURM_CONF={cluster.conf}")
    typer.echo(f"# stop with: cubeworld study slurm-down {folder}")


@study_app.command("slurm-down")
def slurm_down(folder: Path = typer.Argument(..., help="The folder given to slurm-up.")) -> None:
    """Stop a cluster started by slurm-up (each daemon by its PID)."""
    from cubeworld.experiments.testing.slurm_cluster import stop_by_pid_file

    if not (folder / "cluster.json").is_file():
        fail(f"{folder}: no cluster.json (not a folder given to slurm-up)")
    typer.echo("stopped: " + ", ".join(stop_by_pid_file(folder)))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(study_app, name="study")
