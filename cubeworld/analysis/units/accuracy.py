"""Accuracy per observer, set and block count (Wilson intervals); heatmap and by-blocks
figures, which show the humans' accuracy beside the observers'."""

from __future__ import annotations

from cubeworld.analysis.plotting import accuracy_by_blocks, accuracy_heatmap, render
from cubeworld.analysis.tables import ALL, accuracy_table
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, with_kind


def run(ctx: AnalysisContext) -> AnalysisOutput:
    kinds = ctx.kinds()
    acc = with_kind(accuracy_table(ctx.pred), kinds)
    hum = ctx.output("human_accuracy").values.get("table")
    by_cond = acc[acc["n_blocks"] == ALL].drop(columns="n_blocks").reset_index(drop=True)
    findings = []
    for s, g in by_cond.groupby("set"):
        best = g.loc[g["accuracy"].idxmax()]
        above = g[g["ci_low"] > 0.5]
        findings.append(
            Finding(
                f"{s}: {len(above)} of {len(g)} observers above chance (95% Wilson interval "
                f"above 0.5); best accuracy {best['observer']} "
                f"{ci(best['accuracy'], best['ci_low'], best['ci_high'], 3)}.",
                10,
                weight=float(best["ci_low"]) - 0.5,
            )
        )
    findings += _profiles(by_cond)
    heat = render(
        accuracy_heatmap(acc, hum, kinds),
        "fig_accuracy_heatmap",
        "Accuracy per observer and evaluation cell",
        "Accuracy (share of correct Yes/No answers; mean over seeds) of each observer (rows, "
        "grouped by kind; label colour = kind) on each evaluation set (panels) and block count "
        "(columns; 'all' = the whole set). Blue is above chance (0.5), red below."
        + (" The humans row is the participants' mean." if hum is not None else ""),
    )
    blocks = render(
        accuracy_by_blocks(acc, hum, kinds),
        "fig_accuracy_by_blocks",
        "Accuracy by number of blocks",
        "Accuracy by number of blocks per evaluation set, one line per observer (marker = "
        "observer kind; mean over seeds; bars: 95% Wilson score intervals, averaged over "
        "seeds). Humans (dashed): mean over participants, 95% bootstrap interval over "
        "participants. Dotted: chance (0.5).",
    )
    return AnalysisOutput(
        tables=[
            TableOut(
                "accuracy",
                "Accuracy per observer, set and block count",
                acc,
                "Share of correct answers per observer x evaluation set x block count "
                "(n_blocks = all: the whole set). With several seeds: mean over seeds; "
                "ci_low/ci_high: per-seed 95% Wilson score intervals averaged over seeds; "
                "seed_sd: standard deviation over seeds; correct/n pooled over seeds.",
            ),
            TableOut(
                "accuracy_by_condition",
                "Accuracy per observer and set",
                by_cond,
                "Accuracy over all block counts of each set, per observer.",
            ),
        ],
        figures=[heat, blocks],
        findings=findings,
        methods=[
            f"Main tables use the {'last' if ctx.epoch == 'last' else ctx.epoch} epoch of "
            "every run; the learning curves use all epochs. Seeds: accuracies and kappas "
            "are means over seeds; accuracy intervals are per-seed 95% Wilson score "
            "intervals averaged over seeds."
        ],
        values={"table": acc, "by_condition": by_cond},
    )


def _profiles(by_cond) -> list[Finding]:
    """One sentence per observer scored on several sets: its accuracy on each, the sets
    it does best on first. Where a trained observer is good on some sets and at chance on
    others, this is the study's generalisation result (other sizes, the other domain,
    photos); its weight is the spread between its best and worst set."""
    out = []
    for obs, g in by_cond.groupby("observer"):
        if len(g) < 2 or not (g["ci_low"] > 0.5).any():
            continue
        g = g.sort_values("accuracy", ascending=False)
        parts = [f"{ci(r['accuracy'], r['ci_low'], r['ci_high'], 2)} on {r['set']}" for _, r in g.iterrows()]
        out.append(
            Finding(
                f"{obs}: accuracy " + "; ".join(parts) + ".",
                11,
                weight=float(g["accuracy"].max() - g["accuracy"].min()),
            )
        )
    return out


ANALYSIS = Analysis("accuracy", "Accuracy", run, summary="accuracy per observer, set and block count, Wilson intervals")
