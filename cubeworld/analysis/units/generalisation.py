"""The study's main effect as a contrast: for every trained observer, its accuracy on the
kind of item it was trained on minus its accuracy off it, per domain and size group, with
an interval over items and seeds and a one-sided test.

What counts as "in distribution" comes from what each condition was trained on (the
training set folders a study or `--trained` names): the (medium, domain, block count)
cells of its training sets. Then, per trained observer:

- size: the trained sizes of a domain against that domain's other sizes (towers 2-4 to
  towers 5-7; pyramids 3 & 6 to 10 & 15);
- domain: everything trained in a medium against another domain in it (towers to
  pyramids);
- medium: the trained items against another medium (rendered towers to photos of towers).

Items that sit in two evaluated sets (a set and a split part of it) count once. Every
contrast family is Holm-corrected; an observer that gives one answer to (nearly) every
item is reported, not tested. AUC stands beside each accuracy for observers with a graded
P(Yes): a drop in accuracy with the AUC still above 0.5 means the observer keeps ranking
the items but its threshold moved.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from cubeworld.analysis.contrasts import accuracy_drop
from cubeworld.analysis.degenerate import one_answer
from cubeworld.analysis.discrimination import auc_interval
from cubeworld.analysis.loading import DEFAULT_KIND
from cubeworld.analysis.plotting import PAGE_WIDTH_IN, legend_below, panel_title, render, sizes_label, style
from cubeworld.analysis.significance import adjust
from cubeworld.analysis.unit import RANK_MAIN, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, p_text, palette

KINDS_OF_CONTRAST = ("size", "domain", "medium")
CONTRAST_WORDS = {"size": "Size generalisation", "domain": "Cross-domain", "medium": "Render to photo"}


def check(ctx: AnalysisContext) -> list[str]:
    if not ctx.data.training:
        return ["no training sets given (--trained, or a study's conditions), so nothing is in or out of distribution"]
    conds = set(ctx.pred["condition"].astype(str)) & set(ctx.data.training)
    if not conds:
        return [
            f"no evaluated observer has a condition among the trained ones ({', '.join(sorted(ctx.data.training))})"
        ]
    cells = set().union(*(ctx.data.training[c].cells for c in conds))
    rows = ctx.pred[ctx.pred["condition"].astype(str).isin(conds)]
    evaluated = set(zip(rows["medium"], rows["domain"], rows["n_blocks"].astype(int)))
    if not cells & evaluated:
        return [
            "no evaluated item lies in the cells (medium, domain, block count) a condition was trained on; "
            "give the evaluation sets' folders with --truth"
        ]
    return []


def _label(items: pd.DataFrame) -> str:
    parts = []
    for (m, d), g in items.groupby(["medium", "domain"], sort=True):
        parts.append(f"{panel_title(m, d)} {sizes_label(g['n_blocks'])}")
    return "; ".join(parts)


def contrast_groups(cells: frozenset, items: pd.DataFrame) -> list[tuple[str, pd.Series, pd.Series]]:
    """(kind of contrast, in-distribution mask, out-of-distribution mask) over `items`
    (unique items with medium, domain, n_blocks) for a condition trained on `cells`."""
    key = list(zip(items["medium"], items["domain"], items["n_blocks"].astype(int)))
    inside = pd.Series([k in cells for k in key], index=items.index)
    if not inside.any():
        return []
    trained_md = {(m, d) for m, d, _ in cells}
    trained_media = {m for m, _ in trained_md}
    out = []
    for m, d in sorted(set(zip(items["medium"], items["domain"]))):
        same = (items["medium"] == m) & (items["domain"] == d)
        if (m, d) in trained_md:
            if (same & ~inside).any():
                out.append(("size", inside & same, same & ~inside))
        elif m in trained_media:
            out.append(("domain", inside & (items["medium"] == m), same))
        else:
            ref = inside & (items["domain"] == d)
            out.append(("medium", ref if ref.any() else inside, same))
    return out


def _rows(ctx: AnalysisContext) -> list[dict]:
    kinds = ctx.kinds()
    rows = []
    pred = ctx.pred.drop_duplicates(["observer", "seed", "stimulus_id"])
    for obs, g in pred.groupby("observer", sort=True):
        cond = str(g["condition"].iloc[0])
        scope = ctx.data.training.get(cond)
        if scope is None:
            continue
        items = g.drop_duplicates("stimulus_id").set_index("stimulus_id")[["medium", "domain", "n_blocks", "falls"]]
        corr = g.pivot_table(index="seed", columns="stimulus_id", values="correct", aggfunc="first").dropna(axis=1)
        yes = g.pivot_table(index="seed", columns="stimulus_id", values="says_yes", aggfunc="first")
        p = g["p_yes"]
        graded = p.notna().all() and bool(((p > 0) & (p < 1)).any())
        pyes = g.pivot_table(index="seed", columns="stimulus_id", values="p_yes", aggfunc="first") if graded else None
        items = items.loc[[i for i in items.index if i in corr.columns]]
        for kind, inside, outside in contrast_groups(scope.cells, items):
            ids_in, ids_out = list(items.index[inside]), list(items.index[outside])
            single = one_answer(yes[ids_in].to_numpy()) or one_answer(yes[ids_out].to_numpy())
            c = accuracy_drop(
                corr[ids_in].to_numpy(dtype=float),
                corr[ids_out].to_numpy(dtype=float),
                n_boot=ctx.n_boot,
                seed=ctx.seed,
            )
            row = {
                "observer": obs,
                "kind": kinds.get(obs, DEFAULT_KIND),
                "condition": cond,
                "contrast": kind,
                "in_distribution": _label(items.loc[ids_in]),
                "out_of_distribution": _label(items.loc[ids_out]),
                **c.as_dict(),
                "one_answer": single,
            }
            if single:
                row["p_value"] = np.nan
            for side, ids in (("in", ids_in), ("out", ids_out)):
                a = (np.nan, np.nan, np.nan)
                y = items.loc[ids, "falls"].astype(float).to_numpy()
                if pyes is not None and 0 < y.sum() < y.size:
                    est = auc_interval(pyes[ids].to_numpy(dtype=float), y, n_boot=ctx.n_boot, seed=ctx.seed)
                    a = (est.auc, est.ci_low, est.ci_high)
                row[f"auc_{side}"], row[f"auc_{side}_ci_low"], row[f"auc_{side}_ci_high"] = a
            rows.append(row)
    return rows


def _sentence(r: pd.Series) -> str:
    seeds = f"{int(r['n_seeds'])} seeds" if r["n_seeds"] > 1 else "one seed"
    text = (
        f"{CONTRAST_WORDS[r['contrast']]}: {r['observer']} is right on {r['accuracy_in']:.2f} of "
        f"{r['in_distribution']} (in distribution) and {r['accuracy_out']:.2f} of {r['out_of_distribution']}: "
        f"a drop of {ci(r['drop'], r['drop_ci_low'], r['drop_ci_high'])} (95% interval over items and "
        f"{seeds}; one-sided permutation test {p_text(r['p_value'])}, Holm {p_text(r['p_value_holm'])[2:]})"
    )
    if np.isfinite(r["auc_out"]):
        keeps = r["auc_out_ci_low"] > 0.5
        text += (
            f"; its AUC goes from {r['auc_in']:.2f} to "
            f"{ci(r['auc_out'], r['auc_out_ci_low'], r['auc_out_ci_high'])}"
            + (", so it still ranks those items above chance" if keeps else ", no better than chance")
        )
    return text + "."


def _figure(table: pd.DataFrame, colors: dict[str, tuple]):
    style()
    d = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 0.32 * len(d) + 1.6), layout="constrained")
    y = np.arange(len(d))[::-1]
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    for yi, (_, r) in zip(y, d.iterrows()):
        color = colors.get(r["observer"], "black")
        hollow = bool(r["one_answer"])
        ax.plot([r["drop_ci_low"], r["drop_ci_high"]], [yi, yi], color="grey" if hollow else "black", lw=1)
        ax.plot(r["drop"], yi, "o", color=color, mfc="white" if hollow or not r["p_value_holm"] < 0.05 else color, ms=6)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{r['observer']}: to {r['out_of_distribution']}" for _, r in d.iterrows()], fontsize=7)
    ax.set_xlabel("accuracy in distribution minus out of distribution")
    handles = [
        Line2D([], [], marker="o", color="dimgray", ls="", label="Holm p < 0.05"),
        Line2D([], [], marker="o", mfc="white", color="dimgray", ls="", label="not significant, or one answer"),
        Line2D([], [], color="black", lw=1, label="95% interval (items and seeds)"),
    ]
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if check(ctx):
        return AnalysisOutput()
    rows = _rows(ctx)
    if not rows:
        return AnalysisOutput()
    table = pd.DataFrame(rows)
    table["contrast"] = pd.Categorical(table["contrast"], KINDS_OF_CONTRAST, ordered=True)
    table = table.sort_values(["contrast", "observer"]).reset_index(drop=True)
    table["contrast"] = table["contrast"].astype(str)
    table.insert(list(table.columns).index("p_value") + 1, "p_value_holm", adjust(table["p_value"]))
    findings = []
    for _, r in table.iterrows():
        if r["one_answer"] or not np.isfinite(r["p_value"]):
            continue
        half = (r["drop_ci_high"] - r["drop_ci_low"]) / 2
        strength = float(r["drop"] / half) if half > 0 else 0.0
        rank = RANK_MAIN if r["contrast"] == "size" else RANK_MAIN + 1
        findings.append(Finding(_sentence(r), rank, weight=strength))
    n_boot = f"{ctx.n_boot:,}"
    return AnalysisOutput(
        tables=[
            TableOut(
                "generalisation",
                "Generalisation: accuracy in minus out of distribution",
                table,
                "Per trained observer and contrast: accuracy on the items of the cells it was "
                "trained on (in_distribution: medium, domain and block counts of its training "
                "sets; new items) and on items outside them (out_of_distribution), both means over "
                f"seeds; drop = in - out with a 95% interval from {n_boot} crossed resamples (the "
                "items of each group and the seeds drawn with replacement); p_value: one-sided "
                "permutation test of drop > 0 (group labels permuted over items, each item's "
                "correctness averaged over seeds); p_value_holm: Holm-adjusted across the table. "
                "auc_in/auc_out: ROC AUC of P(Yes) in each group with 95% item-bootstrap "
                "intervals (observers with a graded P(Yes)). one_answer: the observer gives one "
                "answer to nearly every item of a group (not tested). An item in two evaluated "
                "sets counts once.",
            )
        ],
        figures=[
            render(
                _figure(table, palette(ctx)),
                "fig_generalisation",
                "Generalisation: accuracy in minus out of distribution",
                "The drop in accuracy from the cells each observer was trained on to others (other "
                "sizes of the domain, another domain, photos), with 95% intervals over items and "
                "seeds. Filled: Holm-adjusted one-sided p < 0.05; hollow: not significant, or an "
                "observer that gives one answer (not tested). Colour: the observer's colour in "
                "every figure. Dotted: no drop.",
            )
        ],
        findings=findings,
        methods=[
            "Generalisation contrasts: the study's effect is a difference - accuracy on the "
            "kind of item an observer was trained on minus accuracy off it - so it is "
            "estimated as one number with its own interval: a crossed bootstrap over the "
            "items of both groups and the training seeds (several seeds: the run-to-run "
            "spread of training is part of the uncertainty), and tested one-sided with a "
            "permutation test over items (scipy.stats.permutation_test). Holm correction "
            "across all contrasts of the report."
        ],
        values={"table": table},
    )


ANALYSIS = Analysis(
    "generalisation",
    "Generalisation contrasts",
    run,
    check,
    "accuracy drop from trained to untrained sizes, domains and photos, over items and seeds",
)
