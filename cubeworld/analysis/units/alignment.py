"""Graded alignment: correlation of each observer's P(Yes) (or answers) with the share of
participants answering Yes per item, beside the split-half human ceiling."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from cubeworld.analysis.correlation import alignments, split_half_ceiling
from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS
from cubeworld.analysis.plotting import (
    HUMAN_COLOR,
    PAGE_WIDTH_IN,
    kind_legend_handles,
    kind_style,
    legend_below,
    observer_order,
    render,
    style,
)
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import NO_HUMANS, ci, human_share, observer_signal

SIGNAL = "human share of Yes"


def check(ctx: AnalysisContext) -> list[str]:
    if ctx.data.humans is None:
        return [NO_HUMANS]
    return [f"set {s!r}: fewer than two participants answered its items" for s in ctx.sets if ctx.humans_on(s) is None]


def _rows(ctx: AnalysisContext) -> tuple[list[dict], int]:
    rows, n_constant = [], 0
    kinds = ctx.kinds()
    for s in ctx.sets:
        hs = ctx.humans_on(s)
        if hs is None:
            continue
        share = human_share(hs)
        groups = []
        for obs, g in ctx.pred[ctx.pred["set"] == s].groupby("observer", sort=True):
            sig, what = observer_signal(g)
            groups.append((obs, what, sig))
        # observers on the same items share their resamples (one batch per item list)
        batches: dict[tuple[str, ...], list] = {}
        for obs, what, sig in groups:
            items = tuple(i for i in sig.columns if i in share.index)
            if len(items) >= 3:
                batches.setdefault(items, []).append((obs, what, sig[list(items)].mean(axis=0)))
        for items, members in batches.items():
            cs = alignments(
                [m[2].to_numpy() for m in members],
                share.loc[list(items)].to_numpy(),
                n_boot=ctx.n_boot,
                seed=ctx.seed,
                names=[f"{m[0]} on {s}" for m in members],
            )
            for (obs, what, _), c in zip(members, cs):
                n_constant += c.constant
                rows.append(
                    {
                        "set": s,
                        "observer": obs,
                        "kind": kinds.get(obs, DEFAULT_KIND),
                        "signal": what,
                        **c.as_dict(),
                        "constant": c.constant,
                    }
                )
        R = ctx.human_matrix(s, "response")
        ceil = split_half_ceiling(R.to_numpy(), n_boot=ctx.n_boot, seed=ctx.seed)
        rows.append(
            {
                "set": s,
                "observer": HUMANS,
                "kind": HUMANS,
                "signal": "split-half ceiling",
                **ceil.as_dict(),
                "constant": False,
                "n_participants": ceil.n_participants,
                "n_splits": ceil.n_splits,
            }
        )
    return rows, n_constant


def _figure(table: pd.DataFrame, kinds: dict[str, str]):
    style()
    sets = sorted(table["set"].unique())
    sizes = [int(((table["set"] == s) & (table["observer"] != HUMANS)).sum()) for s in sets]
    fig, axes = plt.subplots(
        len(sets),
        2,
        squeeze=False,
        layout="constrained",
        sharex=True,
        figsize=(PAGE_WIDTH_IN, sum(0.28 * n + 0.9 for n in sizes) + 0.6),
        height_ratios=[n + 3 for n in sizes],
    )
    looks = kind_style(table["kind"])
    for r, s in enumerate(sets):
        d = table[table["set"] == s]
        h = d[d["observer"] == HUMANS]
        m = d[d["observer"] != HUMANS].set_index("observer")
        m = m.loc[observer_order(m.index, kinds)].reset_index()
        y = np.arange(len(m))[::-1]
        for c, col in enumerate(("pearson", "spearman")):
            ax = axes[r][c]
            if not h.empty:
                ax.axvspan(h[f"{col}_ci_low"].iloc[0], h[f"{col}_ci_high"].iloc[0], color=HUMAN_COLOR, alpha=0.12, lw=0)
                ax.axvline(h[col].iloc[0], color=HUMAN_COLOR, ls="--", lw=1.2)
            ax.axvline(0, color="grey", lw=0.8, ls=":")
            for yi, (_, row) in zip(y, m.iterrows()):
                color, marker = looks[row["kind"]]
                if not np.isfinite(row[col]):
                    ax.text(0, yi, "constant", va="center", ha="center", fontsize=7, color="grey")
                    continue
                ax.plot([row[f"{col}_ci_low"], row[f"{col}_ci_high"]], [yi, yi], color="black", lw=1)
                ax.plot(row[col], yi, marker=marker, color=color, ms=6, ls="")
            ax.set_yticks(y)
            ax.set_yticklabels(m["observer"] if c == 0 else [""] * len(m))
            ax.set_xlim(-1, 1)
            ax.set_ylim(-0.7, len(m) - 0.3)
            ax.set_title(f"{s}: Pearson r" if c == 0 else "Spearman rho", fontsize=9)
            ax.set_xlabel(f"correlation with the {SIGNAL}")
    handles = kind_legend_handles(looks) + [
        Line2D([], [], color="black", lw=1, label="95% interval"),
        Line2D([], [], color=HUMAN_COLOR, ls="--", label="split-half human ceiling"),
    ]
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=len(handles))
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if ctx.data.humans is None:
        return AnalysisOutput()
    rows, n_constant = _rows(ctx)
    if not rows:
        return AnalysisOutput()
    table = pd.DataFrame(rows)
    table = (
        table.assign(_h=table["observer"] == HUMANS)
        .sort_values(["set", "_h", "observer"])
        .drop(columns="_h")
        .reset_index(drop=True)
    )
    findings = []
    for s, g in table.groupby("set"):
        h = g[g["observer"] == HUMANS]
        m = g[(g["observer"] != HUMANS) & g["pearson"].notna()]
        if m.empty or h.empty:
            continue
        best = m.loc[m["pearson"].idxmax()]
        hr = h.iloc[0]
        findings.append(
            Finding(
                f"{s}: the {SIGNAL} per item is best followed by {best['observer']} ("
                f"{'P(Yes)' if best['signal'] == 'p_yes' else 'answers'}; Pearson r "
                f"{ci(best['pearson'], best['pearson_ci_low'], best['pearson_ci_high'])}); the "
                f"split-half human ceiling is "
                f"{ci(hr['pearson'], hr['pearson_ci_low'], hr['pearson_ci_high'])}.",
                30,
            )
        )
    if n_constant:
        findings.append(
            Finding(f"{n_constant} observer(s) gave the same value on every item: no correlation (NaN) for them.", 31)
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "alignment",
                "Graded alignment with the humans",
                table,
                f"Per set and observer: Pearson and Spearman correlation between the observer's "
                f"per-item signal (signal: p_yes = P(Yes), mean over seeds; answers = its 0/1 "
                f"answers, for observers that give no graded P(Yes)) and the share of participants "
                f"answering Yes, with 95% intervals from {ctx.n_boot:,} item resamples. The humans "
                "row is the ceiling: split-half correlation of two random halves of the "
                "participants, Spearman-Brown corrected (2r / (1 + r)), mean over n_splits random "
                "splits; its interval draws a new split and a new item resample each time. "
                "constant: the observer gave one value everywhere (its correlations are NaN).",
            )
        ],
        figures=[
            render(
                _figure(table, ctx.kinds()),
                "fig_alignment",
                "Graded alignment with the human share of Yes",
                f"Correlation of each observer's P(Yes) (or its answers) with the per-item share "
                f"of participants answering Yes (left: Pearson, right: Spearman; bars: 95% "
                f"intervals from {ctx.n_boot:,} item resamples). Dashed line and band: split-half "
                "human ceiling (Spearman-Brown corrected, mean over random splits) and its "
                "interval. Marker and colour: observer kind.",
            )
        ],
        findings=findings,
        methods=[
            "Graded alignment: the correlation of an observer's P(Yes) per item with the "
            "share of participants answering Yes uses the graded human signal that kappa "
            "(right/wrong only) ignores. A constant observer has no correlation (NaN, "
            f"warned and counted: {n_constant} here)."
        ],
        values={"table": table},
    )


ANALYSIS = Analysis(
    "alignment", "Graded alignment", run, check, "correlation of P(Yes) with the human share of Yes; split-half ceiling"
)
