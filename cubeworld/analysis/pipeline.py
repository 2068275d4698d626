"""`analyze`: from prediction tables (and humans) to CSV tables, figures and report.html.

Orchestration only, and it never names an analysis: inputs are checked in `loading`, every
registered analysis (`units.ANALYSES`, or those asked for) is checked and run through one
`AnalysisContext`, and only when all of them have succeeded are their tables and figures
written and the report assembled (`report`). Bad input therefore leaves nothing behind;
the bootstrap's size is checked against memory before it starts; the outputs go through a
staging folder, so an interrupt while writing leaves no partial report either.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm.auto import tqdm

from cubeworld.analysis.loading import DEFAULT_KIND, AnalysisInputError, TrainedOn, load_inputs
from cubeworld.analysis.metrics import DEFAULT_SEED, MAX_BOOTSTRAP_BYTES, N_BOOT, bootstrap_bytes, max_resamples
from cubeworld.analysis.report import Table, write_report
from cubeworld.analysis.tables import select_epoch
from cubeworld.analysis.unit import RANK_WARNING, AnalysisContext, FigureOut, Finding
from cubeworld.analysis.units import ANALYSES
from cubeworld.errors import UnknownEntryError, check_writable
from cubeworld.formats.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from cubeworld.analysis.plotting import Figure  # matplotlib: imported only when writing

FIRST_SCREEN = 6  # findings shown before the figures (and half the first figure); the rest are folded
MAX_MAIN = 3  # main effects on the first screen (the others are folded with the rest)
PROVENANCE_COLUMNS = (
    "kind",
    "prompt_sha256",
    "template_sha256",
    "image_size",
    "max_pixels",
    "dtype",
    "batch_size",
    "torch_version",
    "transformers_version",
    "peft_version",
)


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


def selected_analyses(names: Iterable[str] | None) -> list[str]:
    """The analyses to run, in registry order: all, or those named (checked)."""
    if not names:
        return list(ANALYSES.names())
    wanted = list(dict.fromkeys(names))
    for n in wanted:
        try:
            ANALYSES.get(n)
        except UnknownEntryError as e:
            raise AnalysisInputError(f"--analysis: {e}") from None
    return [n for n in ANALYSES.names() if n in wanted]


def analyze(
    predictions: Sequence[str | Path | pd.DataFrame] | str | Path | pd.DataFrame,
    out: str | Path,
    *,
    truth: Iterable[str | Path] = (),
    humans: str | Path | pd.DataFrame | None = None,
    epoch: int | str = "last",
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    analyses: Iterable[str] | None = None,
    include_excluded: bool = False,
    trained: Iterable[TrainedOn] = (),
    fits: Iterable[str | Path] = (),
) -> Path:
    """Everything `cubeworld analyze` does; returns the path of `out/report.html`.

    predictions: prediction tables (CSV/Parquet). truth: set folders whose metadata is the
    ground truth (else the tables' own `falls`). humans: a responses table; participants
    it flags `excluded` are left out unless `include_excluded`. epoch: which epoch of each
    run the main tables use ("last", or an integer); the learning curves use every epoch.
    n_boot/seed: bootstrap size and seed (reproducible). analyses: names of registered
    analyses to run (default: all; a named one that cannot run on these inputs is bad
    input, an unnamed one is skipped with its reason shown in the report). trained: what
    each trained condition learned from (`TrainedOn`: condition, training set folder,
    optionally the human responses it learned instead of the truth): the generalisation
    contrasts' in-distribution cells and the human-label agreement come from it. fits:
    fit folders (`cubeworld fit physics --out`, a study's fits/NAME) for the fit units.
    """
    out = check_writable(out)
    analyses = list(analyses or ())
    names = selected_analyses(analyses)
    truth = list(truth)
    trained = list(trained)
    data = load_inputs(predictions, truth, humans, include_excluded=include_excluded, trained=trained, fits=fits)
    pred = select_epoch(data.predictions, epoch)
    if pred.empty:
        raise AnalysisInputError(f"{', '.join(data.sources)}: no predictions at epoch {epoch!r}")
    ctx = AnalysisContext(data, pred, n_boot, seed, epoch, ANALYSES, explicit=frozenset(analyses))
    check_bootstrap_size(ctx)
    skipped: dict[str, list[str]] = {}
    for name in names:  # every check before any work: a named analysis fails fast
        reasons = ctx.skip_or_fail(name, ANALYSES.get(name).check(ctx))
        if reasons:
            skipped[name] = reasons
    for name in tqdm(names, desc="analyze", disable=not progress):
        ctx.output(name)

    return _write_outputs(out, ctx, skipped, truth, trained)


def _write_outputs(
    out: Path, ctx: AnalysisContext, skipped: dict[str, list[str]], truth: list, trained: list[TrainedOn]
) -> Path:
    """Write every table, figure and report.html into a hidden staging folder inside `out`,
    then move them into `out`, report.html last. An interrupt (Ctrl-C) or an error while
    writing removes the staging folder, so `out` never holds a partial report: either the
    previous run's files or this run's (a report.html means all of its files are there)."""
    from cubeworld.analysis.plotting import write_figure

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".analyze-partial-", dir=out))
    try:
        report = _write_into(stage, ctx, skipped, truth, trained, write_figure)
        for path in sorted(stage.iterdir(), key=lambda p: p == report):
            os.replace(path, out / path.name)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    stage.rmdir()
    return out / report.name


def _write_into(
    out: Path,
    ctx: AnalysisContext,
    skipped: dict[str, list[str]],
    truth: list,
    trained: list[TrainedOn],
    write_figure: Callable[[FigureOut, Path], Figure],
) -> Path:
    """The tables' CSVs, the figures and report.html, all in `out` (the staging folder)."""
    data = ctx.data
    outputs = [(n, ctx.outputs[n]) for n in ANALYSES.names() if n in ctx.outputs]
    tables, figures, findings, methods = [], [], [], []
    for _, o in outputs:
        for t in o.tables:
            tables.append(
                Table(
                    t.name, t.title, _write_csv(t.frame, out / f"{t.name}.csv"), t.frame, t.caption, t.show, t.display
                )
            )
        figures += [write_figure(f, out) for f in o.figures]
        findings += o.findings
        methods += o.methods
    inputs = (
        data.sources
        + [str(t) for t in truth]
        + ([data.human_source] if data.human_source else [])
        + [f"trained {t.condition}: {t.set_dir}" + (f" (labels: {t.humans})" if t.humans else "") for t in trained]
    )
    return write_report(
        out,
        figures,
        tables,
        run=_what_was_run(ctx),
        findings=first_screen(findings),
        methods=methods,
        skipped=[(ANALYSES.get(n).title, r) for n, rs in skipped.items() for r in rs],
        inputs=inputs,
        versions=_versions(),
        provenance=_provenance(ctx.pred),
    )


def check_bootstrap_size(ctx: AnalysisContext) -> None:
    """Refuse an --n-boot whose crossed bootstrap would not fit in memory, before any work:
    the largest set's items, every participant and the most seeds of one observer
    (`metrics.bootstrap_bytes`), against `metrics.MAX_BOOTSTRAP_BYTES`."""
    n_items = max((ctx.set_info(s).n_items for s in ctx.sets), default=0)
    humans = ctx.data.humans
    people = int(humans["participant"].nunique()) if humans is not None else 0
    seeds = int(ctx.pred.groupby("observer")["seed"].nunique().max()) if len(ctx.pred) else 1
    need = bootstrap_bytes(ctx.n_boot, n_items, people, seeds)
    if need > MAX_BOOTSTRAP_BYTES:
        fits = max_resamples(n_items, people, seeds)
        raise AnalysisInputError(
            f"--n-boot {ctx.n_boot:,}: the crossed bootstrap of {n_items} items, {people} participants and "
            f"{seeds} seed(s) needs about {need / 2**30:.1f} GiB, more than the {MAX_BOOTSTRAP_BYTES / 2**30:.0f} GiB "
            f"allowed; use at most {fits:,} resamples"
        )


def first_screen(findings: list[Finding], size: int = FIRST_SCREEN) -> tuple[list[str], list[str]]:
    """(first screen, the rest): the main effects first (rank < RANK_WARNING, at most
    MAX_MAIN, strongest evidence first), then every warning (ranks up to 9), then the first
    finding of each rank in rank order, then the second of each, ... up to `size`; within a
    rank the strongest evidence (`weight`) comes first; the rest keep that order. So the
    study's effect leads, one analysis with many sets cannot push the others off the
    screen, and each shows its clearest result."""
    ordered = sorted(findings, key=lambda f: (f.rank, -f.weight))
    first = [f for f in ordered if f.rank < RANK_WARNING][:MAX_MAIN]
    first += [f for f in ordered if RANK_WARNING <= f.rank < 10]
    groups: dict[int, list[Finding]] = {}
    for f in ordered:
        if f.rank >= 10:
            groups.setdefault(f.rank, []).append(f)
    depth = 0
    while len(first) < size and any(len(g) > depth for g in groups.values()):
        for g in groups.values():
            if len(g) > depth and len(first) < size:
                first.append(g[depth])
        depth += 1
    chosen = {id(f) for f in first}
    return [f.text for f in first], [f.text for f in ordered if id(f) not in chosen]


def _what_was_run(ctx: AnalysisContext) -> str:
    kinds = ctx.kinds()
    obs = sorted(ctx.pred["observer"].unique())
    by_kind = Counter(kinds.get(o, DEFAULT_KIND) for o in obs)
    sets = ", ".join(f"{s} ({ctx.set_info(s).n_items} items)" for s in ctx.sets)
    text = (
        f"{len(obs)} observer{'s' * (len(obs) != 1)} ("
        + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))
        + f") on {len(ctx.sets)} set{'s' * (len(ctx.sets) != 1)}: {sets}"
    )
    h, ex = ctx.data.humans, ctx.data.exclusions
    if h is not None and ex is not None:
        text += f"; {h['participant'].nunique()} human participants"
        if ex.flagged:
            text += f" ({ex.n_excluded} flagged excluded, " + ("included on request)" if ex.included else "left out)")
    epoch = "the last epoch of each run" if ctx.epoch == "last" else f"epoch {ctx.epoch}"
    return text + f". Main tables at {epoch}; {ctx.n_boot:,} bootstrap resamples (seed {ctx.seed})."


def _versions() -> list[tuple[str, str]]:
    import platform
    from importlib import metadata

    out = [("python", platform.python_version())]
    for pkg in ("cubeworld", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "seaborn"):
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "not installed"))
    return out


def _provenance(pred: pd.DataFrame) -> pd.DataFrame:
    """Per observer, the distinct values of the provenance columns the tables carry."""
    cols = [c for c in PROVENANCE_COLUMNS if c in pred.columns]
    rows = []
    for obs, g in pred.groupby("observer", sort=True):
        row = {"observer": obs, "model": ", ".join(sorted(g["model"].unique()))}
        for c in cols:
            v = sorted({str(x) for x in g[c] if str(x) not in ("", "nan", "None")})
            row[c] = ", ".join(v)
        rows.append(row)
    return pd.DataFrame(rows)
