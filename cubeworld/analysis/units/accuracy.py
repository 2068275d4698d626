"""Accuracy per observer, set and block count (Wilson intervals), its test against chance
(one-sided, Holm-corrected), the ROC AUC beside it for every observer with a graded
P(Yes); the heatmap, and the paper's Fig. 2: accuracy per block count on one axis per
domain, the sizes each observer was trained on marked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cubeworld.analysis.discrimination import auc_interval, roc_auc
from cubeworld.analysis.plotting import accuracy_by_size, accuracy_heatmap, render
from cubeworld.analysis.significance import CORRECTION_NAMES, adjust
from cubeworld.analysis.tables import ALL, accuracy_table, human_accuracy_table
from cubeworld.analysis.unit import RANK_ACCURACY, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, flagged, observer_signal, p_text, palette, with_kind

CHANCE = 0.5


def above_chance_p(correct: np.ndarray) -> float:
    """One-sided p of "accuracy above 0.5" from (seeds x items) 0/1 correctness: the exact
    binomial test with one seed; with several, a t-test across items of each item's
    seed-mean correctness (an item is one unit, however many seeds scored it)."""
    from scipy.stats import binomtest, ttest_1samp

    C = np.atleast_2d(np.asarray(correct, dtype=float))
    if C.shape[0] == 1:
        return float(binomtest(int(C.sum()), C.shape[1], CHANCE, alternative="greater").pvalue)
    c = C.mean(0)
    if np.ptp(c) == 0:
        return 0.0 if c[0] > CHANCE else 1.0
    return float(ttest_1samp(c, CHANCE, alternative="greater").pvalue)


def _auc_cells(ctx: AnalysisContext, keys: list[str]) -> pd.DataFrame:
    """ROC AUC per observer x `keys` group (graded observers only; NaN where a group has
    one true answer only)."""
    truth = ctx.data.truth.drop_duplicates("stimulus_id").set_index("stimulus_id")["falls"].astype(float)
    rows = []
    for key, g in ctx.pred.groupby(["observer", *keys], sort=False):
        sig, what = observer_signal(g)
        if what != "p_yes" or sig.shape[1] < 2:
            continue
        y = truth.loc[list(sig.columns)].to_numpy()
        if 0 < y.sum() < y.size:
            rows.append({**dict(zip(["observer", *keys], key)), "auc": roc_auc(sig.to_numpy(), y)})
    return pd.DataFrame(rows, columns=["observer", *keys, "auc"])


def _by_set(ctx: AnalysisContext, by_cond: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per observer and set, with its test against chance and the AUC."""
    single = flagged(ctx, "one_answer")
    truth = ctx.data.truth.drop_duplicates(["set", "stimulus_id"]).set_index(["set", "stimulus_id"])["falls"]
    extra = []
    for (obs, s), g in ctx.pred.groupby(["observer", "set"], sort=False):
        corr = g.pivot_table(index="seed", columns="stimulus_id", values="correct", aggfunc="first").dropna(axis=1)
        sig, what = observer_signal(g)
        row = {"observer": obs, "set": s, "p_above_chance": above_chance_p(corr.to_numpy())}
        row["one_answer"] = (s, obs) in single
        if what == "p_yes":
            y = truth.loc[[(s, i) for i in sig.columns]].astype(float).to_numpy()
            a = auc_interval(sig.to_numpy(), y, n_boot=ctx.n_boot, seed=ctx.seed)
            row.update(a.as_dict())
        extra.append(row)
    out = by_cond.merge(pd.DataFrame(extra), on=["observer", "set"], how="left")
    out["p_above_chance_holm"] = adjust(out["p_above_chance"])
    for c in ("auc", "auc_ci_low", "auc_ci_high"):
        if c not in out.columns:
            out[c] = np.nan
    return out


def domain_cells(ctx: AnalysisContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Accuracy per observer x (medium, domain, n_blocks) over every evaluated set (an item
    in two sets counts once), with `trained` (True / False for a condition whose training
    is known, NaN otherwise); and the humans' per participant alike."""
    keys = ("observer", "medium", "domain", "n_blocks")
    pred = ctx.pred.drop_duplicates(["observer", "seed", "stimulus_id"])
    cells = accuracy_table(pred, by=keys, totals=False)
    cells["n_blocks"] = cells["n_blocks"].astype(int)
    cond = pred.groupby("observer")["condition"].first()
    trained = []
    for r in cells.itertuples():
        scope = ctx.data.training.get(str(cond.get(r.observer, "")))
        trained.append(np.nan if scope is None else (r.medium, r.domain, int(r.n_blocks)) in scope.cells)
    cells["trained"] = pd.Series(trained, dtype=object)
    hum = None
    if ctx.data.humans is not None:
        h = ctx.data.humans[ctx.data.humans["set"].isin(ctx.sets)]
        if not h.empty:
            hum = human_accuracy_table(h, n_boot=ctx.n_boot, seed=ctx.seed, by=("medium", "domain"), totals=False)
            hum["n_blocks"] = hum["n_blocks"].astype(int)
    return cells, hum


def run(ctx: AnalysisContext) -> AnalysisOutput:
    kinds = ctx.kinds()
    colors = palette(ctx)
    acc = with_kind(accuracy_table(ctx.pred), kinds)
    aucs = _auc_cells(ctx, ["set", "n_blocks"])
    aucs_all = _auc_cells(ctx, ["set"]).assign(n_blocks=ALL)
    aucs = pd.concat([aucs.assign(n_blocks=aucs["n_blocks"].astype(str)), aucs_all], ignore_index=True)
    acc = acc.merge(aucs, on=["observer", "set", "n_blocks"], how="left")
    hum = ctx.output("human_accuracy").values.get("table")
    by_cond = acc[acc["n_blocks"] == ALL].drop(columns=["n_blocks", "auc"]).reset_index(drop=True)
    by_cond = _by_set(ctx, by_cond)
    findings = []
    for s, g in by_cond.groupby("set"):
        above = g[(g["p_above_chance_holm"] < 0.05) & ~g["one_answer"].astype(bool)]
        usable = g[~g["one_answer"].astype(bool)]
        text = f"{s}: {len(above)} of {len(g)} observers above chance (one-sided test, Holm-adjusted p < 0.05)" + (
            f"; {int(g['one_answer'].sum())} not tested (one answer)" if g["one_answer"].any() else ""
        )
        weight = 0.0
        if not usable.empty:
            best = usable.loc[usable["accuracy"].idxmax()]
            auc = f", AUC {best['auc']:.2f}" if np.isfinite(best["auc"]) else ""
            text += (
                f"; best accuracy {best['observer']} {ci(best['accuracy'], best['ci_low'], best['ci_high'], 3)}"
                f" ({p_text(best['p_above_chance_holm'])} Holm{auc})"
            )
            weight = float(best["ci_low"]) - CHANCE
        findings.append(Finding(text + ".", RANK_ACCURACY, weight=weight))
    findings += _profiles(by_cond)
    heat = render(
        accuracy_heatmap(acc, hum, kinds, colors),
        "fig_accuracy_heatmap",
        "Accuracy per observer and evaluation cell",
        "Accuracy (share of correct Yes/No answers; mean over seeds) of each observer (rows, "
        "grouped by kind; label colour = the observer's colour in every figure) on each "
        "evaluation set (panels) and block count (columns; 'all' = the whole set). Blue is "
        "above chance (0.5), red below." + (" The humans row is the participants' mean." if hum is not None else ""),
    )
    cells, hum_cells = domain_cells(ctx)
    blocks = render(
        accuracy_by_size(cells, hum_cells, kinds, colors),
        "fig_accuracy_by_blocks",
        "Accuracy by number of blocks, per domain (the paper's Fig. 2)",
        "Accuracy per block count, one panel per domain (photos apart), every evaluated set of "
        "that domain on one axis (an item in two sets counts once); one line per observer "
        "(its colour in every figure; marker = kind; mean over seeds; bars: 95% Wilson score "
        "intervals over items, averaged over seeds). Filled markers: a size the observer was "
        "trained on; hollow: a size a trained observer never saw (observers without training, "
        "or whose training was not given, are drawn filled); grey band: the trained sizes "
        "where the panel's trained observers share them. Humans (dashed): mean over "
        "participants, 95% interval from a crossed bootstrap of items and participants. "
        "Dotted: chance (0.5).",
    )
    return AnalysisOutput(
        tables=[
            TableOut(
                "accuracy",
                "Accuracy per observer, set and block count",
                acc,
                "Share of correct answers per observer x evaluation set x block count "
                "(n_blocks = all: the whole set). With several seeds: mean over seeds; "
                "ci_low/ci_high: per-seed 95% Wilson score intervals over items averaged over "
                "seeds; seed_sd: standard deviation over seeds; correct/n pooled over seeds. "
                "auc: ROC AUC of P(Yes) for the truth (mean over seeds), for observers with a "
                "graded P(Yes) and cells holding both true answers.",
            ),
            TableOut(
                "accuracy_by_condition",
                "Accuracy per observer and set",
                by_cond,
                "Accuracy over all block counts of each set, per observer. p_above_chance: "
                "one-sided test of accuracy > 0.5 (one seed: exact binomial; several: t-test "
                "across items of the seed-mean correctness), p_above_chance_holm: Holm-adjusted "
                "across the table. auc: ROC AUC of P(Yes) with a 95% item-bootstrap interval "
                "(observers with a graded P(Yes)). one_answer: the observer gives one answer "
                "to nearly every item of the set (its accuracy is the base rate).",
            ),
        ],
        figures=[blocks, heat],
        findings=findings,
        methods=[
            f"Main tables use the {'last' if ctx.epoch == 'last' else ctx.epoch} epoch of "
            "every run; the learning curves use all epochs. Seeds: accuracies and kappas "
            "are means over seeds; accuracy intervals are per-seed 95% Wilson score "
            "intervals over items averaged over seeds. Accuracy above chance is tested "
            f"one-sided, with the {CORRECTION_NAMES['holm']} correction across all observers "
            "and sets. The ROC AUC (the probability that a falling item gets a higher P(Yes) "
            "than a standing one) is reported beside accuracy for every observer with a "
            "graded P(Yes): an observer can keep ranking items while its threshold drifts."
        ],
        values={"table": acc, "by_condition": by_cond, "cells": cells, "human_cells": hum_cells},
    )


def _profiles(by_cond: pd.DataFrame) -> list[Finding]:
    """One sentence per observer scored on several sets: its accuracy on each, the sets
    it does best on first (observers that give one answer left out)."""
    out = []
    for obs, g in by_cond.groupby("observer"):
        g = g[~g["one_answer"].astype(bool)]
        if len(g) < 2 or not (g["ci_low"] > CHANCE).any():
            continue
        g = g.sort_values("accuracy", ascending=False)
        parts = [f"{ci(r['accuracy'], r['ci_low'], r['ci_high'], 2)} on {r['set']}" for _, r in g.iterrows()]
        out.append(
            Finding(
                f"{obs}: accuracy " + "; ".join(parts) + ".",
                RANK_ACCURACY + 5,
                weight=float(g["accuracy"].max() - g["accuracy"].min()),
            )
        )
    return out


ANALYSIS = Analysis(
    "accuracy",
    "Accuracy",
    run,
    summary="accuracy per observer, set and block count (Wilson), tests against chance, AUC, the paper's Fig. 2",
)
