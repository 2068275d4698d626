"""Calibration of P(Yes) against the ground truth: Brier score, log loss and a reliability
diagram per set with each bin's count (the humans' item share of Yes is shown as their
P(Yes)). An observer whose P(Yes) barely varies, or that scores no better than a constant
0.5, is never named best calibrated."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from cubeworld.analysis.calibration import N_BINS, calibration_scores, reliability_bins
from cubeworld.analysis.degenerate import CONSTANT_BRIER, worse_than_constant
from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS
from cubeworld.analysis.plotting import (
    kind_legend_handles,
    kind_style,
    legend_in_grid,
    observer_order,
    panel_grid,
    render,
    style,
)
from cubeworld.analysis.unit import RANK_ALIGNMENT, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, flagged, human_share, observer_signal, palette

MIN_BIN = 5  # reliability bins with fewer items are drawn hollow and not joined


def _tables(ctx: AnalysisContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, bins = [], []
    kinds = ctx.kinds()
    flat = flagged(ctx, "flat")
    for s in ctx.sets:
        truth = ctx.data.truth[ctx.data.truth["set"] == s].set_index("stimulus_id")["falls"]
        signals = []
        for obs, g in ctx.pred[ctx.pred["set"] == s].groupby("observer", sort=True):
            sig, what = observer_signal(g)
            signals.append((obs, kinds.get(obs, DEFAULT_KIND), what, sig.to_numpy(), list(sig.columns)))
        hs = ctx.humans_on(s)
        if hs is not None:
            share = human_share(hs)
            signals.append((HUMANS, HUMANS, "share of Yes", share.to_numpy()[None, :], list(share.index)))
        for obs, kind, what, P, ids in signals:
            y = truth.loc[ids].astype(float).to_numpy()
            c = calibration_scores(P, y, n_boot=ctx.n_boot, seed=ctx.seed)
            rows.append(
                {
                    "set": s,
                    "observer": obs,
                    "kind": kind,
                    "signal": what,
                    **c.as_dict(),
                    "flat": (s, obs) in flat,
                    "worse_than_constant": worse_than_constant(c.brier),
                }
            )
            b = reliability_bins(P.mean(0), y)
            bins.append(b.assign(set=s, observer=obs, kind=kind))
    table = pd.DataFrame(rows)
    b = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame()
    if not b.empty:
        b = b[["set", "observer", "kind"] + [c for c in b.columns if c not in ("set", "observer", "kind")]]
    return table, b


def _figure(bins: pd.DataFrame, kinds: dict[str, str], colors: dict[str, tuple]):
    style()
    sets = sorted(bins["set"].unique())
    fig, axes = panel_grid(len(sets), 2, 3.3)
    observers = observer_order(bins["observer"].unique(), kinds)
    looks = kind_style(bins["kind"])
    n_max = max(float(bins["n"].max()), 1.0) if not bins.empty else 1.0
    for ax, s in zip(axes, sets):
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        for o in observers:
            d = bins[(bins["set"] == s) & (bins["observer"] == o)]
            if d.empty:
                continue
            marker, color = looks[d["kind"].iloc[0]][1], colors.get(o, "black")
            big = d[d["n"] >= MIN_BIN]
            ax.plot(big["mean_p_yes"], big["share_yes"], color=color, lw=1.2, ls="--" if o == HUMANS else "-", label=o)
            sizes = 12 + 60 * np.sqrt(d["n"].to_numpy(dtype=float) / n_max)
            few = (d["n"] < MIN_BIN).to_numpy()
            ax.scatter(d["mean_p_yes"][~few], d["share_yes"][~few], s=sizes[~few], marker=marker, color=color, zorder=3)
            ax.scatter(
                d["mean_p_yes"][few],
                d["share_yes"][few],
                s=sizes[few],
                marker=marker,
                facecolors="white",
                edgecolors=color,
                zorder=3,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(s, loc="left", fontweight="bold")
        ax.set_xlabel("P(Yes) (bin mean)")
        ax.set_ylabel("share truly Yes")
    uniq: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            uniq.setdefault(lab, h)
    kh = kind_legend_handles(looks, colored=False) + [
        Line2D([], [], marker="o", mfc="white", color="dimgray", ls="", label=f"bin of fewer than {MIN_BIN} items")
    ]
    legend_in_grid(fig, axes, 2, list(uniq.values()) + kh, list(uniq) + [h.get_label() for h in kh])
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    table, bins = _tables(ctx)
    findings = []
    for s, g in table.groupby("set"):
        m = g[g["observer"] != HUMANS]
        if m.empty:
            continue
        ok = m[~m["flat"].astype(bool) & ~m["worse_than_constant"].astype(bool)]
        if ok.empty:
            findings.append(
                Finding(
                    f"{s}: no observer's P(Yes) both varies and beats a constant 0.5 (Brier score "
                    f"< {CONSTANT_BRIER}): none is named best calibrated.",
                    RANK_ALIGNMENT + 5,
                )
            )
            continue
        best = ok.loc[ok["brier"].idxmin()]
        findings.append(
            Finding(
                f"{s}: best calibrated P(Yes): {best['observer']}, Brier score "
                f"{ci(best['brier'], best['brier_ci_low'], best['brier_ci_high'], 3)} ({CONSTANT_BRIER} = a "
                "constant 0.5; observers whose P(Yes) barely varies or that do no better are not ranked).",
                RANK_ALIGNMENT + 5,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "calibration",
                "Calibration of P(Yes)",
                table,
                f"Brier score (mean squared difference of P(Yes) and the truth; 0 is "
                f"perfect, 0.25 a constant 0.5) and log loss (natural log; P(Yes) clipped "
                f"to machine epsilon, so a confident wrong answer costs about 36), mean "
                f"over items and seeds, with 95% intervals from {ctx.n_boot:,} item "
                "resamples. signal: p_yes = the observer's P(Yes); answers = its 0/1 "
                "answers (no graded P(Yes)); humans: the item's share of Yes answers. flat: "
                "P(Yes) barely varies across items (5th-95th percentile range under 0.05); "
                f"worse_than_constant: Brier score >= {CONSTANT_BRIER}. Neither is ever named best "
                "calibrated.",
            ),
            TableOut(
                "calibration_bins",
                "Reliability diagram data",
                bins,
                f"Items binned by P(Yes) (mean over seeds) into {N_BINS} equal-width bins "
                "(low, high]: mean P(Yes), share of items whose true answer is Yes, and n items.",
                show=False,
            ),
        ],
        figures=[
            render(
                _figure(bins, ctx.kinds(), palette(ctx)),
                "fig_reliability",
                "Reliability diagram",
                f"Items binned by P(Yes) ({N_BINS} equal-width bins; mean over seeds): mean P(Yes) "
                "against the share of items whose true answer is Yes, per observer (its colour in "
                "every figure; marker = kind; humans dashed: the item share of Yes as their "
                "P(Yes)). Marker area grows with the bin's number of items; bins of fewer than "
                f"{MIN_BIN} items are hollow and not joined (their share jumps between 0 and 1). On "
                "the dotted diagonal an observer's P(Yes) means what it says. Observers that only "
                "answer have two points.",
            )
        ],
        findings=findings,
        values={"table": table, "bins": bins},
    )


ANALYSIS = Analysis(
    "calibration", "Calibration", run, summary="Brier score, log loss and reliability diagram of P(Yes)"
)
