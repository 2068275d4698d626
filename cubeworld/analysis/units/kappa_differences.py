"""Is one observer more human-like than another? Paired crossed bootstrap (items and
participants drawn once for both observers) of the difference in mean kappa to the
humans, two-sided and Holm-corrected, as a table and a forest plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from cubeworld.analysis.plotting import PAGE_WIDTH_IN, legend_below, render, style
from cubeworld.analysis.significance import stars
from cubeworld.analysis.unit import RANK_KAPPA, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import NO_HUMANS, ci, p_text


def check(ctx: AnalysisContext) -> list[str]:
    if ctx.data.humans is None:
        return [NO_HUMANS]
    return [
        f"set {s!r}: fewer than two observers answered items the humans saw"
        for s in ctx.sets
        if ctx.humans_on(s) is None or ctx.pred.loc[ctx.pred["set"] == s, "observer"].nunique() < 2
    ]


def _figure(diffs):
    style()
    sets = sorted(diffs["set"].unique())
    sizes = [int((diffs["set"] == s).sum()) for s in sets]
    fig, axes = plt.subplots(
        len(sets),
        1,
        squeeze=False,
        layout="constrained",
        figsize=(PAGE_WIDTH_IN, sum(0.26 * n + 0.8 for n in sizes) + 0.5),
        height_ratios=[n + 3 for n in sizes],
    )
    for ax, s in zip(axes[:, 0], sets):
        d = diffs[diffs["set"] == s].reset_index(drop=True)
        y = np.arange(len(d))[::-1]
        sig = d["p_value_holm"] < 0.05
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        ax.hlines(y, d["ci_low"], d["ci_high"], color="black", lw=1)
        ax.plot(d.loc[sig, "difference"], y[sig.to_numpy()], "o", color="black", ms=5)
        ax.plot(d.loc[~sig, "difference"], y[~sig.to_numpy()], "o", mfc="white", color="black", ms=5)
        for yi, (_, r) in zip(y, d.iterrows()):
            mark = stars(r["p_value_holm"])
            if mark:
                ax.text(r["ci_high"], yi, f" {mark}", va="center", fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels([f"{a}  -  {b}" for a, b in zip(d["observer_a"], d["observer_b"])], fontsize=7)
        ax.set_title(s, loc="left", fontweight="bold")
        ax.set_xlabel("difference in mean kappa to humans (first minus second)")
    handles = [
        Line2D([], [], marker="o", color="black", ls="", label="Holm p < 0.05"),
        Line2D([], [], marker="o", mfc="white", color="black", ls="", label="Holm p >= 0.05"),
        Line2D([], [], color="black", lw=1, label="95% paired crossed interval"),
    ]
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    from cubeworld.analysis.tables import kappa_differences_table

    if ctx.data.humans is None:
        return AnalysisOutput()
    res = ctx.output("kappa").values["results"]
    diffs = kappa_differences_table(res, n_boot=ctx.n_boot, seed=ctx.seed)
    if diffs.empty:
        return AnalysisOutput()
    findings = []
    for s, g in diffs.groupby("set"):
        sig = g[g["p_value_holm"] < 0.05]
        text = (
            f"{s}: {len(sig)} of {len(g)} pairs of observers differ in how human-like "
            "their errors are (paired crossed bootstrap, two-sided, Holm-adjusted p < 0.05)"
        )
        if not sig.empty:
            top = sig.loc[sig["difference"].abs().idxmax()]
            hi, lo = (
                (top["observer_a"], top["observer_b"])
                if top["difference"] > 0
                else (top["observer_b"], top["observer_a"])
            )
            text += (
                f"; the largest: {hi} over {lo} by "
                f"{ci(abs(top['difference']), *sorted(abs(top[['ci_low', 'ci_high']])))}"
                f" ({p_text(top['p_value_holm'])} Holm)"
            )
        findings.append(Finding(text + ".", RANK_KAPPA + 5))
    return AnalysisOutput(
        tables=[
            TableOut(
                "kappa_differences",
                "Is one observer more human-like than another?",
                diffs,
                "Difference in mean kappa to the humans (observer_a minus observer_b) with a paired "
                "crossed bootstrap (both observers scored on the same resampled items and "
                "participants; each one's seeds resampled apart); p_value: two-sided bootstrap "
                "p-value of a zero difference (twice the smaller share of resampled differences "
                "on either side of 0); p_value_holm: Holm-adjusted across the table. Observers "
                "that give one answer to nearly every item are left out.",
            )
        ],
        figures=[
            render(
                _figure(diffs),
                "fig_kappa_differences",
                "Paired differences in error consistency",
                f"Difference in mean kappa to the humans between two observers (first minus "
                f"second), with the 95% interval of a paired crossed bootstrap ({ctx.n_boot:,} "
                "resamples; both observers scored on the same resampled items and people). "
                "Filled: Holm-adjusted p < 0.05; stars: Holm-adjusted p < .05 / .01 / .001. "
                "Dotted: no difference.",
            )
        ],
        findings=findings,
        values={"table": diffs},
    )


ANALYSIS = Analysis(
    "kappa_differences",
    "Paired differences in error consistency",
    run,
    check,
    "paired crossed-bootstrap tests between observers' kappas to humans (Holm)",
)
