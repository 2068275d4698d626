"""Error consistency: Cohen's kappa to the ground truth and to every participant, with
crossed bootstrap intervals (items and participants resampled; the paper's participant-only
intervals beside them), the range the accuracies allow, and one-sided, Holm-corrected
p-values. Observers that give one answer to nearly every item are marked, not tested."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cubeworld.analysis.loading import HUMANS
from cubeworld.analysis.metrics import ITEM_DRAWS
from cubeworld.analysis.plotting import kappa_figure, render
from cubeworld.analysis.tables import kappa_results
from cubeworld.analysis.unit import RANK_KAPPA, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, p_text, palette

TRUTH_COLUMNS = [
    "set",
    "observer",
    "kind",
    "n_items",
    "accuracy",
    "share_yes",
    "one_answer",
    "kappa_truth",
    "kappa_truth_ci_low",
    "kappa_truth_ci_high",
    "kappa_truth_min",
    "kappa_truth_max",
    "kappa_truth_p",
    "kappa_truth_p_holm",
]
HUMAN_COLUMNS = [
    "set",
    "observer",
    "one_answer",
    "kappa_humans",
    "kappa_humans_ci_low",
    "kappa_humans_ci_high",
    "kappa_humans_ci_low_paper",
    "kappa_humans_ci_high_paper",
    "kappa_humans_min",
    "kappa_humans_max",
    "kappa_humans_p",
    "kappa_humans_p_holm",
    "kappa_humans_p_paper",
    "share_participants_p05",
    "n_participants",
]


def _names(rows: pd.DataFrame, col: str) -> str:
    return ", ".join(f"{r['observer']} {r[col]:.2f}" for _, r in rows.iterrows())


def _findings(kappa: pd.DataFrame) -> list[Finding]:
    out = []
    for s, g in kappa.groupby("set"):
        m = g[g["observer"] != HUMANS]
        single = m["one_answer"].astype(bool)
        usable = m[~single]
        sig = usable[(usable["kappa_truth"] > 0) & (usable["kappa_truth_p_holm"] < 0.05)]
        text = (
            f"{s}: {len(sig)} of {len(m)} observers agree with the ground truth beyond chance "
            "(kappa > 0, one-sided exact test, Holm-adjusted p < 0.05)"
        )
        if single.any():
            text += f"; {int(single.sum())} not tested (one answer)"
        neg = usable[usable["kappa_truth"] < 0]
        if not neg.empty:
            text += f"; below chance: {_names(neg, 'kappa_truth')}"
        if usable["kappa_truth"].notna().any():
            best = usable.loc[usable["kappa_truth"].idxmax()]
            text += (
                f"; highest kappa {best['observer']} "
                f"{ci(best['kappa_truth'], best['kappa_truth_ci_low'], best['kappa_truth_ci_high'])}"
            )
        out.append(Finding(text + ".", RANK_KAPPA + 1))
        h = g[g["observer"] == HUMANS]
        if "kappa_humans" not in g.columns or h.empty:
            continue
        hr = h.iloc[0]
        ceiling = (
            f"the human-human ceiling is "
            f"{ci(hr['kappa_humans'], hr['kappa_humans_ci_low'], hr['kappa_humans_ci_high'])}"
        )
        with_h = usable[usable["kappa_humans"].notna()]
        if with_h.empty:
            out.append(Finding(f"{s}: no observer's kappa to humans can be tested; {ceiling}.", RANK_KAPPA))
            continue
        best = with_h.loc[with_h["kappa_humans"].idxmax()]
        shared = with_h[(with_h["kappa_humans"] > 0) & (with_h["kappa_humans_p_holm"] < 0.05)]
        text = (
            f"{s}: most human-like errors: {best['observer']}, kappa to humans "
            f"{ci(best['kappa_humans'], best['kappa_humans_ci_low'], best['kappa_humans_ci_high'])} "
            f"(items and participants resampled; {p_text(best['kappa_humans_p_holm'])} Holm); {ceiling}. "
            f"{len(shared)} of {len(m)} observers share the humans' errors beyond chance "
            "(kappa > 0, one-sided, Holm-adjusted p < 0.05)"
        )
        neg = with_h[with_h["kappa_humans"] < 0]
        if not neg.empty:
            text += f"; fewer shared errors than chance: {_names(neg, 'kappa_humans')}"
        if single.any():
            text += f"; {int(single.sum())} not tested (one answer)"
        out.append(Finding(text + ".", RANK_KAPPA, weight=float(best["kappa_humans"])))
    return out


def _display(kappa: pd.DataFrame) -> tuple[tuple[str, pd.DataFrame], ...]:
    parts = [("To the ground truth", kappa[[c for c in TRUTH_COLUMNS if c in kappa.columns]])]
    if "kappa_humans" in kappa.columns:
        h = kappa[kappa["kappa_humans"].notna()]
        parts.append(("To the humans (humans row: the human-human ceiling)", h[[c for c in HUMAN_COLUMNS if c in h]]))
    return tuple(parts)


def run(ctx: AnalysisContext) -> AnalysisOutput:
    res = kappa_results(ctx.pred, ctx.data.truth, ctx.data.humans, n_boot=ctx.n_boot, seed=ctx.seed)
    kappa = res.kappa
    fig = render(
        kappa_figure(kappa, ctx.kinds(), palette(ctx)),
        "fig_kappa",
        "Error consistency with the ground truth and humans",
        f"Left: Cohen's kappa of each observer's answers with the correct answers. Right: "
        "error consistency with the human participants (mean over participants); dashed line "
        "and band: the human-human ceiling (mean over all pairs of participants) and its "
        f"interval. Black bars: 95% intervals from {ctx.n_boot:,} crossed resamples (items, "
        "participants and seeds drawn together). Colour: the observer's colour in every "
        "figure; marker: its kind. Grey bars: the range of kappa the two accuracies allow "
        "(Klein et al. 2025). Hollow grey: an observer that gives one answer to nearly every "
        "item (its kappa only reflects that people find one kind of item easier; not tested). "
        "Stars: Holm-adjusted one-sided p < .05 / .01 / .001 (kappa > 0). Dotted: kappa = 0.",
    )
    tables = [
        TableOut(
            "kappa",
            "Cohen's kappa to the ground truth and to humans",
            kappa,
            f"kappa_truth: Cohen's kappa of the answers with the correct answers (interval: items "
            f"and seeds resampled {ctx.n_boot:,} times; for humans items and participants); "
            "kappa_truth_p: one-sided p of kappa > 0 (exact test against an independent "
            "observer with the same Yes-rate, seeds pooled; humans: crossed bootstrap). "
            "kappa_humans: error consistency with each participant, mean over participants "
            "(interval: crossed bootstrap of items, participants and seeds; *_paper: the "
            "paper's interval, participants only); kappa_humans_p: one-sided crossed-bootstrap "
            "p of kappa > 0; kappa_humans_p_paper: the paper's t-test across participants "
            "(items fixed, one-sided). *_holm: Holm-adjusted across the table (one family per "
            "column). share_participants_p05: share of participants whose own kappa with the "
            "observer is above 0 at one-sided p < 0.05 (uncorrected; 5% expected by chance). "
            "For the humans row kappa_humans is the human-human ceiling (mean over all pairs). "
            "one_answer: one answer to nearly every item (kappa kept, no p-value). "
            "*_min/*_max: the kappa range the accuracies allow (Klein et al. 2025). "
            "Degenerate kappas (c_exp = 1) are left out and counted in n_degenerate.",
            display=_display(kappa),
        )
    ]
    if not res.pairs.empty:
        tables.append(
            TableOut(
                "kappa_pairs",
                "Every kappa between an observer and one participant",
                res.pairs,
                "One row per observer x participant and per pair of participants: items both "
                "answered, kappa (mean over seeds) and its exact one-sided p-value (kappa > 0) "
                "against independent observers with the same accuracies (Fisher's exact test on "
                "the right/wrong table; seeds pooled by convolving their null distributions); no "
                "p-value for an observer that gives one answer to nearly every item.",
                show=False,
            )
        )
    n_deg = int(np.nansum(kappa.get("n_degenerate", 0)))
    methods = [
        "Error consistency (Geirhos et al. 2020): c_exp = p_i p_j + (1 - p_i)(1 - p_j), "
        "c_obs = share of trials both observers got right or both got wrong, kappa = "
        "(c_obs - c_exp) / (1 - c_exp). Where c_exp = 1 (both always right or both always "
        "wrong) kappa is undefined: it is left out of means and counted in n_degenerate"
        + (f" ({n_deg} here)." if n_deg else "."),
        "Kappa to the ground truth is Cohen's kappa of the Yes/No answers with the correct "
        "answers (chance agreement from the two Yes-rates): error consistency with the truth "
        "itself would be 0 by construction, as the truth never errs.",
        "Bounds (Klein et al. 2025): given p_i, p_j, c_obs lies in [|p_i + p_j - 1|, "
        "1 - |p_i - p_j|]; *_min/*_max are the kappas at those ends.",
        "Is a kappa real? Every test asks whether it is above 0 (one-sided): a negative "
        "kappa is fewer shared errors than chance and is reported as such. Conditioning on "
        "both accuracies, the number of trials both got right is hypergeometric under "
        "independence (Fisher's exact test) and kappa rises with it, so its upper tail gives "
        "an exact p-value; several seeds: their counts add up and the null distributions "
        "convolve. A mean kappa over participants is tested with the crossed bootstrap (the "
        "share of resamples at or below 0); the paper's t-test across participants holds "
        "the items fixed and is kept beside it. p-values are Holm-corrected within each "
        "family (kappa to the truth; kappa to humans), raw and adjusted side by side.",
        "An observer that gives one answer to (nearly) every item (fewer than 5% of its "
        "answers the other way) keeps its kappa, marked one_answer, but gets no p-value and is "
        "never named most human-like: its kappa with people only reflects that they do "
        "better on one kind of item than on the other.",
        f"Bootstrap: {ctx.n_boot:,} crossed resamples, numpy Generator seed {ctx.seed} "
        "(rerunning gives the same intervals): each draws the items, the participants and "
        "the seeds with replacement, independently, and recomputes every kappa. The "
        "human-human ceiling weights each pair of distinct drawn participants; its "
        f"{ctx.n_boot:,} resamples are {min(ctx.n_boot, ITEM_DRAWS):,} item draws, each crossed "
        f"with {-(-ctx.n_boot // min(ctx.n_boot, ITEM_DRAWS))} participant draws (a pair kappa "
        "matrix per item draw is the costly part).",
    ]
    return AnalysisOutput(
        tables=tables,
        figures=[fig],
        findings=_findings(kappa),
        methods=methods,
        values={"results": res, "table": kappa},
    )


ANALYSIS = Analysis(
    "kappa",
    "Error consistency",
    run,
    summary="kappa to the truth and to humans: crossed intervals, bounds, one-sided Holm-corrected p-values",
)
