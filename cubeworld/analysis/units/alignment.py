"""Graded alignment: correlation of each observer's P(Yes) (or answers) with the share of
participants answering Yes per item, with crossed intervals (items and participants
resampled); beside it the benchmark a single answerer can be held to - each person against
the others' share (leave one out), with every observer's percentile among single people -
and the split-half ceiling of the whole panel."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from cubeworld.analysis.correlation import alignments, leave_one_out, percentile_among, split_half_ceiling
from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS
from cubeworld.analysis.people import PersonObserver, leave_one_out_share, person_observer
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
from cubeworld.analysis.unit import RANK_ALIGNMENT, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import NO_HUMANS, ci, flagged, human_share, observer_signal, palette

SIGNAL = "human share of Yes"
LOO = "single people (leave one out)"
CEILING = "split-half ceiling"
MAJORITY_LOO = "others' share vs each participant (leave one out)"


def check(ctx: AnalysisContext) -> list[str]:
    if ctx.data.humans is None:
        return [NO_HUMANS]
    return [f"set {s!r}: fewer than two participants answered its items" for s in ctx.sets if ctx.humans_on(s) is None]


def _rows(ctx: AnalysisContext) -> tuple[list[dict], int, dict[str, np.ndarray]]:
    rows, n_constant, people = [], 0, {}
    kinds = ctx.kinds()
    for s in ctx.sets:
        hs = ctx.humans_on(s)
        if hs is None:
            continue
        share = human_share(hs)
        R = ctx.human_matrix(s, "response")
        if R is None:
            continue
        loo = leave_one_out(R.to_numpy(), n_boot=ctx.n_boot, seed=ctx.seed) if R.shape[1] >= 3 else None
        if loo is not None:
            people[s] = loo.per_participant
        # observers on the same items (and people) share their resamples (one batch each)
        batches: dict[tuple[tuple[str, ...], str | None], list] = {}
        for obs, g in ctx.pred[ctx.pred["set"] == s].groupby("observer", sort=True):
            sig, what = observer_signal(g)
            who = person_observer(g)
            if who is not None and who.majority:  # the others' share against each participant
                rows.append(_majority_row(s, obs, kinds, loo))
                continue
            items = tuple(i for i in sig.columns if i in share.index)
            if len(items) >= 3:
                key = (items, None if who is None else who.participant)
                batches.setdefault(key, []).append((obs, what, sig[list(items)].mean(axis=0)))
        for (items, person), members in batches.items():
            Rp, target = R, share
            if person is not None:  # a person against the others' share
                Rp = leave_one_out_share(PersonObserver(person), R)
                target = Rp.mean(axis=1).dropna()
                items = tuple(i for i in items if i in target.index)
                if len(items) < 3:
                    continue
            cs = alignments(
                [m[2].loc[list(items)].to_numpy() for m in members],
                target.loc[list(items)].to_numpy(),
                n_boot=ctx.n_boot,
                seed=ctx.seed,
                names=[f"{m[0]} on {s}" for m in members],
                responses=Rp.loc[list(items)].to_numpy(),
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
                        "percentile_among_people": np.nan
                        if loo is None
                        else percentile_among(c.pearson, loo.per_participant),
                        "constant": c.constant,
                    }
                )
        if loo is not None:
            rows.append(
                {
                    "set": s,
                    "observer": HUMANS,
                    "kind": HUMANS,
                    "signal": LOO,
                    **loo.as_dict(),
                    "percentile_among_people": 50.0,
                    "constant": False,
                    "n_participants": loo.n_participants,
                }
            )
        ceil = split_half_ceiling(R.to_numpy(), n_boot=ctx.n_boot, seed=ctx.seed)
        rows.append(
            {
                "set": s,
                "observer": HUMANS,
                "kind": HUMANS,
                "signal": CEILING,
                **ceil.as_dict(),
                "constant": False,
                "n_participants": ceil.n_participants,
                "n_splits": ceil.n_splits,
            }
        )
    return rows, n_constant, people


def _majority_row(s: str, obs: str, kinds: dict[str, str], loo) -> dict:
    """The people's majority as an observer: its P(Yes) is the whole panel's share, so its
    correlation with that share would be 1 by construction. Compared like every person
    with the others (leave one out): each participant's answers against the share of the
    others, the single-people benchmark (NaN with fewer than three participants)."""
    base = {"set": s, "observer": obs, "kind": kinds.get(obs, DEFAULT_KIND), "signal": MAJORITY_LOO}
    if loo is None:
        return {**base, "pearson": np.nan, "constant": False}
    return {**base, **loo.as_dict(), "percentile_among_people": 50.0, "constant": False}


def _figure(table: pd.DataFrame, people: dict[str, np.ndarray], kinds: dict[str, str], colors: dict[str, tuple]):
    """Per set: Pearson r of every observer, the single people's distribution (leave one
    out) as a strip and box at the top, and the split-half ceiling as a band."""
    style()
    sets = sorted(table["set"].unique())
    sizes = [int(((table["set"] == s) & (table["observer"] != HUMANS)).sum()) + 1 for s in sets]
    fig, axes = plt.subplots(
        len(sets),
        1,
        squeeze=False,
        layout="constrained",
        figsize=(PAGE_WIDTH_IN, sum(0.3 * n + 0.9 for n in sizes) + 0.7),
        height_ratios=[n + 3 for n in sizes],
    )
    looks = kind_style(table["kind"])
    for r, s in enumerate(sets):
        ax = axes[r][0]
        d = table[table["set"] == s]
        ceil = d[d["signal"] == CEILING]
        m = d[d["observer"] != HUMANS].set_index("observer")
        m = m.loc[observer_order(m.index, kinds)].reset_index()
        y = np.arange(len(m) + 1)[::-1]
        if not ceil.empty:
            c = ceil.iloc[0]
            ax.axvspan(c["pearson_ci_low"], c["pearson_ci_high"], color=HUMAN_COLOR, alpha=0.12, lw=0)
            ax.axvline(c["pearson"], color=HUMAN_COLOR, ls="--", lw=1.2)
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        r_people = people.get(s)
        if r_people is not None:
            v = r_people[np.isfinite(r_people)]
            ax.boxplot(v, positions=[y[0]], orientation="horizontal", widths=0.5, showfliers=False, manage_ticks=False)
            jitter = np.random.default_rng(0).uniform(-0.18, 0.18, v.size)
            ax.plot(v, y[0] + jitter, ls="", marker="D", ms=2.5, color=HUMAN_COLOR, alpha=0.45)
        for yi, (_, row) in zip(y[1:], m.iterrows()):
            color, marker = colors.get(row["observer"], "black"), looks[row["kind"]][1]
            if not np.isfinite(row["pearson"]):
                ax.text(0, yi, "constant", va="center", ha="center", fontsize=7, color="grey")
                continue
            ax.plot([row["pearson_ci_low"], row["pearson_ci_high"]], [yi, yi], color="black", lw=1)
            ax.plot(row["pearson"], yi, marker=marker, color=color, ms=6, ls="")
            pct = row.get("percentile_among_people", np.nan)
            if np.isfinite(pct):
                right = min(0.95, float(ceil["pearson"].iloc[0]) - 0.04) if not ceil.empty else 0.95
                ax.text(right, yi, f"{pct:.0f}th pct.", va="center", ha="right", fontsize=7, color="dimgray")
        ax.set_yticks(y)
        ax.set_yticklabels([LOO] + list(m["observer"]))
        ax.set_xlim(-1, 1)
        ax.set_ylim(-0.7, len(m) + 0.7)
        ax.set_title(s, loc="left", fontweight="bold")
        ax.set_xlabel(f"Pearson r with the {SIGNAL} per item")
    handles = kind_legend_handles(looks, colored=False) + [
        Line2D([], [], color="black", lw=1, label="95% interval (items and people)"),
        Line2D([], [], color=HUMAN_COLOR, marker="D", ls="", ms=3, label="one person vs the others"),
        Line2D([], [], color=HUMAN_COLOR, ls="--", label="split-half ceiling (whole panel)"),
    ]
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if ctx.data.humans is None:
        return AnalysisOutput()
    rows, n_constant, people = _rows(ctx)
    if not rows:
        return AnalysisOutput()
    table = pd.DataFrame(rows)
    table = (
        table.assign(_h=table["observer"] == HUMANS)
        .sort_values(["set", "_h", "observer", "signal"], ascending=[True, True, True, False])
        .drop(columns="_h")
        .reset_index(drop=True)
    )
    single = flagged(ctx, "one_answer")
    findings = []
    for s, g in table.groupby("set"):
        loo = g[g["signal"] == LOO]
        ceil = g[g["signal"] == CEILING]
        m = g[(g["observer"] != HUMANS) & g["pearson"].notna()]
        m = m[[(s, o) not in single for o in m["observer"]]]
        if ceil.empty:
            continue
        c = ceil.iloc[0]
        tail = f"the split-half ceiling of the whole panel is {ci(c['pearson'], c['pearson_ci_low'], c['pearson_ci_high'])}"
        if not loo.empty:
            lr = loo.iloc[0]
            text = (
                f"{s}: one person's answers follow the others' share of Yes at mean r "
                f"{ci(lr['pearson'], lr['pearson_ci_low'], lr['pearson_ci_high'])} (leave one out; 10th-90th "
                f"percentile of people {lr['p10']:.2f}-{lr['p90']:.2f})"
            )
            if not m.empty:
                best = m.loc[m["pearson"].idxmax()]
                text += (
                    f"; the closest observer, {best['observer']} "
                    f"({'P(Yes)' if best['signal'] == 'p_yes' else 'answers'}), reaches r "
                    f"{ci(best['pearson'], best['pearson_ci_low'], best['pearson_ci_high'])}, the "
                    f"{best['percentile_among_people']:.0f}th percentile of single people"
                )
            text += f"; {tail} (no single answerer can reach it)."
        elif not m.empty:
            best = m.loc[m["pearson"].idxmax()]
            text = (
                f"{s}: the {SIGNAL} per item is best followed by {best['observer']} (Pearson r "
                f"{ci(best['pearson'], best['pearson_ci_low'], best['pearson_ci_high'])}); {tail}."
            )
        else:
            continue
        findings.append(Finding(text, RANK_ALIGNMENT))
    if n_constant:
        findings.append(
            Finding(
                f"{n_constant} observer(s) gave the same value on every item: no correlation (NaN) for them.",
                RANK_ALIGNMENT + 1,
            )
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
                f"answering Yes, with 95% intervals from {ctx.n_boot:,} crossed resamples (items and "
                "participants drawn; the share recomputed from the drawn participants). "
                "percentile_among_people: where the observer's Pearson r falls among single "
                f"people's. Humans, '{LOO}': each participant's answers against the other "
                "participants' share (Pearson r), mean over participants with a crossed interval, "
                "and its 10th, 50th and 90th percentiles: the benchmark for an observer that "
                f"answers, as one person does. Humans, '{CEILING}': correlation of two random halves "
                "of the participants, Spearman-Brown corrected (2r / (1 + r)), mean over n_splits "
                "random splits; its interval draws a new split and a new item resample each time; "
                "no single answerer can reach it. constant: the observer gave one value everywhere "
                "(its correlations are NaN).",
            )
        ],
        figures=[
            render(
                _figure(table, people, ctx.kinds(), palette(ctx)),
                "fig_alignment",
                "Graded alignment with the human share of Yes",
                f"Pearson correlation of each observer's P(Yes) (or its answers) with the per-item "
                f"share of participants answering Yes (bars: 95% intervals from {ctx.n_boot:,} "
                "crossed resamples of items and participants; right: the observer's percentile "
                "among single people). Top row: every single person against the others' share "
                "(leave one out; box: quartiles), the benchmark for an observer that gives one "
                "answer per item. Dashed line and band: split-half ceiling of the whole panel "
                "(Spearman-Brown corrected) and its interval. Colour: the observer's colour in "
                "every figure; marker: its kind. Spearman correlations are in the table.",
            )
        ],
        findings=findings,
        methods=[
            "Graded alignment: the correlation of an observer's P(Yes) per item with the "
            "share of participants answering Yes uses the graded human signal that kappa "
            "(right/wrong only) ignores. An observer that answers only Yes or No cannot reach "
            "the split-half ceiling (a share of many people is far smoother than one answer), "
            "so each is compared with single people: every participant's answers against the "
            "others' share (leave one out), the observer's place among them as a percentile. "
            "The leave-one-out interval resamples items and participants (each person's "
            "'others' stay the whole panel without them). A constant observer has no "
            f"correlation (NaN, warned and counted: {n_constant} here)."
        ],
        values={"table": table, "people": people},
    )


ANALYSIS = Analysis(
    "alignment",
    "Graded alignment",
    run,
    check,
    "correlation of P(Yes) with the human share of Yes; single people (leave one out); split-half ceiling",
)
