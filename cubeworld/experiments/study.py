"""A whole study from one config: prepare inputs, do the runs, report.

    run_study("studies/quick.yaml")          # local, or Slurm when the config says so
    study_status("studies/quick.yaml")       # list of RunStatus (done/running/failed/to do)
    study_report("studies/quick.yaml")       # cubeworld.analysis.analyze over every table

Running a study again skips finished runs and resumes interrupted ones. A run whose
identity (what it learned) changed is an error unless `restart=True` (which starts those
runs over); a run that only lacks evaluations (a set added to the study, a new scoring
setting) scores them from its checkpoints. A run that trains on a human table that does
not exist yet waits (state "waiting"); it does not hold back the report of the others.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cubeworld.errors import check_writable
from cubeworld.experiments.config import ConfigError, StudyConfig, config_summary, load_config
from cubeworld.experiments.executors import (
    Work,
    jobs_submitted_at,
    read_jobs,
    run_local,
    run_state,
    slurm_states,
    submit_slurm,
    wait_slurm,
)
from cubeworld.experiments.fits import fit_dir, fit_done, run_fits, with_fits
from cubeworld.experiments.plan import model_location, plan_runs, run_scoring, set_dir
from cubeworld.experiments.prepare import (
    StudyInputError,
    check_inputs,
    needed_sets,
    prepare_models,
    prepare_sets,
)
from cubeworld.experiments.recipe import HUMAN_TABLE
from cubeworld.experiments.recipe import missing_labels as recipe_missing_labels
from cubeworld.experiments.runner import RunTask, execute_run
from cubeworld.experiments.store import (
    DONE,
    FAILED,
    RUNNING,
    TODO,
    RunConfigChanged,
    RunSpec,
    config_conflict,
    is_done,
    last_epoch,
    local_state,
)
from cubeworld.formats.atomic import atomic_write_json
from cubeworld.formats.fits import FIT_JSON
from cubeworld.trainer.layout import RunFolder

WAITING = "waiting"  # a run whose human-label table does not exist yet


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    model: str
    condition: str
    seed: int | None
    state: str
    epoch: int | None
    detail: str
    dir: Path


@dataclass(frozen=True)
class StudyResult:
    """What `run_study` did: final state per run, and the report (if all runs are done)."""

    states: dict[str, str]
    report: Path | None
    skipped: int  # runs already done before this call

    @property
    def ok(self) -> bool:
        """No run failed or is left to do (runs waiting for human labels are not failures)."""
        return all(s in (DONE, WAITING) for s in self.states.values())


def _as_config(config: str | Path | StudyConfig, runs_dir: str | Path | None = None) -> StudyConfig:
    """The config, with each fitted model's scoring from its finished fit (`fits.with_fits`)."""
    return with_fits(config if isinstance(config, StudyConfig) else load_config(config, runs_dir=runs_dir))


def available_evaluation(cfg: StudyConfig) -> list[str]:
    """Evaluation sets whose folders exist (all of them once the study is prepared)."""
    return [n for n in cfg.evaluation if (set_dir(cfg, n) / "metadata.jsonl").is_file()]


def build_tasks(
    cfg: StudyConfig, *, restart: bool = False, progress: bool = True, threads: int | None = None
) -> list[RunTask]:
    """Every run of the grid, ready to execute (reads no set folder: the sets may not exist yet)."""
    tasks = []
    for spec in plan_runs(cfg):
        m = cfg.model(spec.model)
        c = cfg.condition(spec.condition)
        tasks.append(
            RunTask(
                spec=spec,
                model=model_location(cfg, spec.model),
                kind=m.kind,
                recipe=c.train,
                folders={p.set: set_dir(cfg, p.set) for p in c.train},
                evaluation=tuple((e, set_dir(cfg, e)) for e in spec.evaluation),
                epochs=m.epochs,
                evaluate_each_epoch=m.evaluate_each_epoch,
                training=m.training,
                scoring=run_scoring(m, c.zero_shot),
                restart=restart,
                progress=progress,
                threads=threads,
            )
        )
    return tasks


def missing_labels(task: RunTask) -> str | None:
    """The first human-responses table this run trains on that does not exist (or None)."""
    return recipe_missing_labels(task.recipe, task.folders)


def check_own_labels(cfg: StudyConfig) -> None:
    """Once the sets are made: a condition that trains on a set's own human table
    (`labels: humans`) needs a set that has one (Lerer100 and its splits do)."""
    for c in cfg.conditions:
        for i, p in enumerate(c.train):
            if p.labels.from_set and not (set_dir(cfg, p.set) / HUMAN_TABLE).is_file():
                raise StudyInputError(
                    f"{cfg.source}: conditions.{c.name}.train[{i}].labels: set {p.set!r} has "
                    f"no {HUMAN_TABLE} of its own; name a table with {{humans: PATH}}"
                )


def check_conflicts(specs: Sequence[RunSpec]) -> None:
    """Refuse to touch any run whose stored identity differs (before doing anything)."""
    bad = [(s, c) for s in specs if (c := config_conflict(s))]
    if bad:
        lines = "\n".join(f"  {s.run_id}: {c}" for s, c in bad[:10])
        more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise RunConfigChanged(
            f"{len(bad)} run(s) exist with a different config (changed keys):\n{lines}{more}\n"
            "rerun with --restart to start them over (adding evaluation sets, seeds or models "
            "never needs it)"
        )


def run_study(
    config: str | Path | StudyConfig,
    *,
    executor: str | None = None,
    restart: bool = False,
    runs_dir: str | Path | None = None,
    progress: bool = True,
    report: bool = True,
    wait: bool = True,
    only: Sequence[str] = (),
    work: Work = execute_run,
    threads: int | None = None,
) -> StudyResult:
    """Run (or finish) a study; return the final state of each run and the report path.

    executor: "local" or "slurm" (default: the config's). only: run ids or prefixes
    (`tiny/zero-shot`) to limit the runs. wait=False (Slurm): submit and return.
    work: what a run does (default `execute_run`: training and scoring by the run's kind).
    threads: torch CPU threads per run (default: torch's; in a Slurm job: its CPUs).

    Set generation uses a process pool (spawn): call this from a script under
    `if __name__ == "__main__":`.
    """
    raw = config if isinstance(config, StudyConfig) else load_config(config, runs_dir=runs_dir)
    cfg = with_fits(raw)  # study.json records the file's config, never what a fit found
    kind = executor or cfg.executor.kind
    if kind not in ("local", "slurm"):
        raise ConfigError(f"executor must be local or slurm, got {kind!r}")
    check_writable(cfg.study_dir)  # before any set is generated or model built
    check_inputs(cfg)  # existing inputs suit their observers, before anything is written
    all_tasks, tasks, waiting = _select(cfg, only, restart, progress, threads)
    if not restart:
        check_conflicts([t.spec for t in tasks])  # a refused run writes nothing, study.json included
    cfg.study_dir.mkdir(parents=True, exist_ok=True)
    summary_file = cfg.study_dir / "study.json"
    summary = json.loads(json.dumps(config_summary(raw)))
    if not summary_file.is_file() or json.loads(summary_file.read_text()) != summary:
        atomic_write_json(summary_file, summary)
    prepare_sets(cfg, needed_sets(cfg), progress=progress, executor=kind)
    check_own_labels(cfg)
    if run_fits(cfg, progress=progress):  # fitted models are scored with what the fits found
        cfg = with_fits(cfg)
        all_tasks, tasks, waiting = _select(cfg, only, restart, progress, threads)
    prepare_models(cfg)
    for run_id, table in waiting.items():
        warnings.warn(
            f"run {run_id}: human labels {table} not found; the run waits until that table exists", stacklevel=2
        )
    skipped = sum(is_done(t.spec) for t in tasks)
    pending = [t for t in tasks if not is_done(t.spec) or restart]
    if kind == "local":
        busy = frozenset(r.run_id for r in study_status(cfg) if r.state == RUNNING)
        states = run_local(pending, work, progress=progress, busy=busy)
    else:
        folder = cfg.study_dir / "slurm"
        submit_slurm(pending, folder, cfg.executor.slurm, cfg.name, work)
        if not wait:
            return StudyResult({t.spec.run_id: RUNNING for t in pending}, None, skipped)
        states = wait_slurm(pending, folder, poll_s=cfg.executor.slurm.poll_s, progress=progress)
    all_states = {
        t.spec.run_id: (
            DONE if is_done(t.spec) else WAITING if t.spec.run_id in waiting else states.get(t.spec.run_id, TODO)
        )
        for t in all_tasks
    }
    report_path = None
    ready = all(s in (DONE, WAITING) for s in all_states.values())
    if report and ready and any(s == DONE for s in all_states.values()) and not only:
        report_path = study_report(cfg, progress=progress, force=False)
    return StudyResult(all_states, report_path, skipped)


def _select(
    cfg: StudyConfig, only: Sequence[str], restart: bool, progress: bool, threads: int | None
) -> tuple[list[RunTask], list[RunTask], dict[str, str]]:
    """Every task, those to run now (`only` ones; none waiting for labels), and the waiting ones."""
    tasks = build_tasks(cfg, restart=restart, progress=progress, threads=threads)
    if only:  # refused before any set is generated or model built
        tasks = [
            t for t in tasks if any(t.spec.run_id == o or t.spec.run_id.startswith(o.rstrip("/") + "/") for o in only)
        ]
        if not tasks:
            raise StudyInputError(
                f"--only {', '.join(only)}: no run of {cfg.source} matches (run ids look like model/condition/seed-k)"
            )
    waiting = {t.spec.run_id: str(missing_labels(t)) for t in tasks if missing_labels(t) and not is_done(t.spec)}
    return tasks, [t for t in tasks if t.spec.run_id not in waiting], waiting


def study_status(config: str | Path | StudyConfig, runs_dir: str | Path | None = None) -> list[RunStatus]:
    """Every run with its state and why: done / running / failed / to do / waiting."""
    cfg = _as_config(config, runs_dir)
    tasks = {t.spec.run_id: t for t in build_tasks(cfg, progress=False)}
    specs = [t.spec for t in tasks.values()]
    jobs = read_jobs(cfg.study_dir / "slurm")
    states = slurm_states([jobs[s.run_id] for s in specs if s.run_id in jobs]) if jobs else {}
    out = []
    for s in specs:
        if s.run_id in jobs:
            state, detail = run_state(s, jobs[s.run_id], states, jobs_submitted_at(cfg.study_dir / "slurm"))
        else:
            state, detail = local_state(s)
        labels = missing_labels(tasks[s.run_id])
        if state == TODO and labels:
            state, detail = WAITING, f"waiting for human labels {labels}"
        out.append(RunStatus(s.run_id, s.model, s.condition, s.seed, state, last_epoch(s), detail, s.dir))
    return out


def _card_name(cfg: StudyConfig, name: str) -> str:
    from cubeworld.formats.sets import read_card

    return str(read_card(set_dir(cfg, name)).get("name") or set_dir(cfg, name).name)


def prediction_tables(cfg: StudyConfig) -> list[Path]:
    """The prediction tables of every finished run (every epoch), for the sets it scores
    now (tables of sets since removed from the study, or leaked ones, are left out)."""
    tables: list[Path] = []
    names = {e: _card_name(cfg, e) for e in available_evaluation(cfg)}
    for s in plan_runs(cfg):
        if is_done(s):
            wanted = {names[e] for e in s.evaluation if e in names}
            tables.extend(p for p in RunFolder(s.dir).prediction_tables() if p.stem in wanted)
    return tables


def human_tables(cfg: StudyConfig, evaluation: list[str]) -> list[Path]:
    """Human responses of the evaluation sets: the table a set names with `humans:`, else
    the set folder's own human_responses.csv (Lerer100 and its splits bring one)."""
    tables = []
    for e in evaluation:
        named = cfg.sets[e].humans
        if named is not None:
            if named.is_file():
                tables.append(named)
            else:
                warnings.warn(
                    f"sets.{e}.humans: {named} does not exist (yet); the report has no human kappas for this set",
                    stacklevel=2,
                )
        elif (set_dir(cfg, e) / HUMAN_TABLE).is_file():
            tables.append(set_dir(cfg, e) / HUMAN_TABLE)
    return tables


def _report_inputs(tables: list[Path], humans: list[Path]) -> dict:
    return {str(p): [p.stat().st_size, p.stat().st_mtime_ns] for p in [*tables, *humans]}


def study_report(
    config: str | Path | StudyConfig, *, runs_dir: str | Path | None = None, progress: bool = True, force: bool = True
) -> Path:
    """Analyse every prediction table with the humans and truth; return report.html.

    force=False: keep an existing report made from exactly these tables (so a second
    `study run` does nothing).
    """
    import pandas as pd

    from cubeworld.analysis import analyze
    from cubeworld.formats.responses import read_responses

    cfg = _as_config(config, runs_dir)
    evaluation = available_evaluation(cfg)
    tables = prediction_tables(cfg)
    if not tables:
        raise FileNotFoundError(f"{cfg.study_dir}: no finished runs to report on yet")
    statuses = study_status(cfg)
    unfinished = [s for s in statuses if s.state != DONE]
    if unfinished:
        warnings.warn(f"{len(unfinished)} run(s) not done; the report covers the finished ones", stacklevel=2)
    humans = human_tables(cfg, evaluation)
    fits = [fit_dir(cfg, name) for name, spec in cfg.fits.items() if fit_done(cfg, spec)]
    out = cfg.study_dir / "report"
    inputs = _report_inputs(tables, [*humans, *(f / FIT_JSON for f in fits)])
    stamp = out / "inputs.json"
    if not force and (out / "report.html").is_file() and stamp.is_file():
        if json.loads(stamp.read_text()) == inputs:
            return out / "report.html"
    h = None
    if humans:  # a split part repeats its parent's responses: each response once
        h = pd.concat([read_responses(p) for p in humans], ignore_index=True)
        h = h.drop_duplicates(["stimulus_id", "participant"]).reset_index(drop=True)
    path = analyze(
        tables,
        out,
        truth=[set_dir(cfg, e) for e in evaluation],
        humans=h,
        progress=progress,
        trained=trained_on(cfg),
        fits=fits,
    )
    atomic_write_json(stamp, inputs)
    return path


def trained_on(cfg: StudyConfig) -> list:
    """What each training condition learned from, for the report's generalisation
    contrasts: its training set folders (made so far) and, for human labels, the table."""
    from cubeworld.analysis.loading import TrainedOn

    out = []
    for c in cfg.conditions:
        for part in c.train:
            folder = set_dir(cfg, part.set)
            if not (folder / "metadata.jsonl").is_file():
                continue
            humans = folder / HUMAN_TABLE if part.labels.from_set else part.labels.humans
            if humans is not None and not Path(humans).is_file():
                continue
            out.append(TrainedOn(c.name, folder, humans))
    return out


def status_table(rows: Sequence[RunStatus]) -> str:
    """A plain-text table of run states plus a one-line summary."""
    header = ("run", "state", "epoch", "detail")
    body = [
        (r.run_id, r.state, "" if r.epoch is None else str(r.epoch), r.detail.splitlines()[0] if r.detail else "")
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(4)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *body]]
    counts = {s: sum(r.state == s for r in rows) for s in (DONE, RUNNING, FAILED, TODO)}
    n_wait = sum(r.state == WAITING for r in rows)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines.append(summary + (f", {n_wait} {WAITING}" if n_wait else ""))
    return "\n".join(lines)
