"""`analyze`: from prediction tables (and humans) to CSV tables, figures and report.html.

Orchestration only: inputs are checked in `loading`, numbers made in `tables`/`metrics`,
figures drawn in `plotting`, the page written in `report`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd
from tqdm.auto import tqdm

from cubeworld.analysis.loading import HUMANS, AnalysisInputError, load_inputs
from cubeworld.analysis.metrics import DEFAULT_SEED, N_BOOT
from cubeworld.analysis.plotting import (
    accuracy_by_blocks,
    accuracy_heatmap,
    accuracy_over_epochs,
    kappa_figure,
)
from cubeworld.analysis.report import Table, write_report
from cubeworld.analysis.tables import (
    ALL,
    accuracy_table,
    epoch_table,
    human_accuracy_table,
    kappa_table,
    select_epoch,
)
from cubeworld.errors import check_writable
from cubeworld.formats.atomic import atomic_write_bytes


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g")
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    return path


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
) -> Path:
    """Everything `cubeworld analyze` does; returns the path of `out/report.html`.

    predictions: prediction tables (CSV/Parquet). truth: set folders whose metadata is the
    ground truth (else the tables' own `falls`). humans: a responses table. epoch: which
    epoch of each run the main tables use ("last", or an integer); the learning-curve
    table and figure use every epoch. n_boot/seed: bootstrap size and seed (reproducible).
    """
    out = check_writable(out)
    data = load_inputs(predictions, truth, humans)  # bad input fails before `out` exists
    pred = select_epoch(data.predictions, epoch)
    if pred.empty:
        raise AnalysisInputError(f"{', '.join(data.sources)}: no predictions at epoch {epoch!r}")
    out.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=5, desc="analyze", disable=not progress)
    steps.update()

    acc = accuracy_table(pred)
    hum_acc = (human_accuracy_table(data.humans, n_boot=n_boot, seed=seed)
               if data.humans is not None else None)
    if hum_acc is not None:
        hum_acc = hum_acc[hum_acc["set"].isin(pred["set"].unique())].reset_index(drop=True)
    ep = epoch_table(data.predictions)
    steps.update()
    kappa, diffs = kappa_table(pred, data.truth, data.humans, n_boot=n_boot, seed=seed)
    steps.update()

    tables = [
        Table("accuracy", "Accuracy per condition, set and block count",
              _write_csv(acc, out / "accuracy.csv"), acc,
              "Share of correct answers per condition x evaluation set x block count "
              "(n_blocks = all: the whole set). With several seeds: mean over seeds; "
              "ci_low/ci_high: per-seed 95% Wilson score intervals averaged over seeds; "
              "seed_sd: standard deviation over seeds; correct/n pooled over seeds."),
    ]
    by_cond = acc[acc["n_blocks"] == ALL].drop(columns="n_blocks").reset_index(drop=True)
    tables.append(Table("accuracy_by_condition", "Accuracy per condition and set",
                        _write_csv(by_cond, out / "accuracy_by_condition.csv"), by_cond,
                        "Accuracy over all block counts of each set, per condition."))
    if hum_acc is not None:
        tables.append(Table(
            "accuracy_humans", "Human accuracy", _write_csv(hum_acc, out / "accuracy_humans.csv"),
            hum_acc, "Human participants' accuracy: mean over participants of each one's share "
            "correct; 95% interval from resampling participants; the range of single "
            "participants' accuracy."))
    tables.append(Table(
        "kappa", "Cohen's kappa to the ground truth and to humans",
        _write_csv(kappa, out / "kappa.csv"), kappa,
        "kappa_truth: Cohen's kappa of the answers with the correct answers (interval: items "
        "resampled 10,000 times). kappa_humans: error consistency with each participant, mean "
        "over participants (interval: per-participant kappas resampled); for the humans row "
        "the human-human ceiling (mean over all pairs). *_min/*_max: the kappa range the "
        "accuracies allow (Klein et al. 2025). Degenerate kappas (c_exp = 1) are left out "
        "and counted in n_degenerate.".replace("10,000", f"{n_boot:,}")))
    if not diffs.empty:
        tables.append(Table(
            "kappa_differences", "Is one condition more human-like than another?",
            _write_csv(diffs, out / "kappa_differences.csv"), diffs,
            "Difference in mean kappa to the humans (observer_a minus observer_b) with a paired "
            "bootstrap over items (both observers scored on the same resampled items); "
            "p_value: two-sided bootstrap p-value of a zero difference."))
    tables.append(Table("accuracy_by_epoch", "Accuracy per epoch",
                        _write_csv(ep, out / "accuracy_by_epoch.csv"), ep,
                        "Accuracy per condition, set, block count and fine-tuning epoch "
                        "(0 = before fine-tuning), as in the learning-curve figure."))
    steps.update()

    figures = [accuracy_heatmap(acc, hum_acc, out), accuracy_by_blocks(acc, hum_acc, out),
               kappa_figure(kappa, out)]
    f = accuracy_over_epochs(ep, out)
    if f is not None:
        figures.append(f)
    steps.update()
    steps.close()
    return write_report(out, figures, tables, summary=_summary(by_cond, hum_acc, kappa),
                        methods=_methods(n_boot, seed, epoch),
                        inputs=data.sources + [str(t) for t in truth]
                        + ([str(humans)] if isinstance(humans, (str, Path)) else []))


def _methods(n_boot: int, seed: int, epoch: int | str) -> list[str]:
    return [
        f"Main tables use the {'last' if epoch == 'last' else epoch} epoch of every run; "
        "the learning curves use all epochs. Seeds: accuracies and kappas are means over "
        "seeds; accuracy intervals are per-seed 95% Wilson score intervals averaged over seeds.",
        "Error consistency (Geirhos et al. 2020): c_exp = p_i p_j + (1 - p_i)(1 - p_j), "
        "c_obs = share of trials both observers got right or both got wrong, kappa = "
        "(c_obs - c_exp) / (1 - c_exp). Where c_exp = 1 (both always right or both always "
        "wrong) kappa is undefined: it is left out of means and counted in n_degenerate.",
        "Kappa to the ground truth is Cohen's kappa of the Yes/No answers with the correct "
        "answers (chance agreement from the two Yes-rates): error consistency with the truth "
        "itself would be 0 by construction, as the truth never errs.",
        "Bounds (Klein et al. 2025): given p_i, p_j, c_obs lies in [|p_i + p_j - 1|, "
        "1 - |p_i - p_j|]; *_min/*_max are the kappas at those ends.",
        f"Bootstrap: {n_boot:,} resamples, numpy Generator seed {seed} (rerunning gives the "
        "same intervals). Model to humans: per-participant kappas resampled; to the truth and "
        "paired differences: items resampled.",
    ]


def _summary(by_cond: pd.DataFrame, hum_acc: pd.DataFrame | None, kappa: pd.DataFrame) -> list[str]:
    lines = []
    for s, g in by_cond.groupby("set"):
        best = g.loc[g["accuracy"].idxmax()]
        lines.append(f"{s}: best accuracy {best['accuracy']:.3f} "
                     f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] ({best['observer']}).")
    if hum_acc is not None:
        for s, g in hum_acc[hum_acc["n_blocks"] == ALL].groupby("set"):
            r = g.iloc[0]
            lines.append(f"{s}: humans' mean accuracy {r['accuracy']:.3f} "
                         f"({int(r['n_participants'])} participants).")
    if "kappa_humans" in kappa.columns:
        for s, g in kappa.groupby("set"):
            h = g[g["observer"] == HUMANS]
            m = g[(g["observer"] != HUMANS) & g["kappa_humans"].notna()]
            if h.empty or m.empty:
                continue
            best = m.loc[m["kappa_humans"].idxmax()]
            lines.append(
                f"{s}: most human-like {best['observer']} (kappa to humans "
                f"{best['kappa_humans']:.3f} [{best['kappa_humans_ci_low']:.3f}, "
                f"{best['kappa_humans_ci_high']:.3f}]); human-human ceiling "
                f"{h['kappa_humans'].iloc[0]:.3f}.")
    return lines
