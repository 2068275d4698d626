"""Error consistency: Cohen's kappa to the ground truth and to every participant, with
bootstrap intervals, the range the accuracies allow, and exact p-values."""

from __future__ import annotations

import numpy as np

from cubeworld.analysis.loading import HUMANS
from cubeworld.analysis.plotting import kappa_figure, render
from cubeworld.analysis.tables import kappa_results
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, p_text


def _findings(kappa) -> list[Finding]:
    out = []
    for s, g in kappa.groupby("set"):
        m = g[g["observer"] != HUMANS]
        sig = m[m["kappa_truth_p"] < 0.05]
        best = m.loc[m["kappa_truth"].idxmax()] if m["kappa_truth"].notna().any() else None
        if best is not None:
            out.append(
                Finding(
                    f"{s}: {len(sig)} of {len(m)} observers agree with the ground truth beyond "
                    f"chance (exact test, p < 0.05); highest kappa {best['observer']} "
                    f"{ci(best['kappa_truth'], best['kappa_truth_ci_low'], best['kappa_truth_ci_high'])}.",
                    21,
                )
            )
        h = g[g["observer"] == HUMANS]
        if "kappa_humans" not in g.columns or h.empty or not m["kappa_humans"].notna().any():
            continue
        best = m.loc[m["kappa_humans"].idxmax()]
        hsig = m[m["kappa_humans_p"] < 0.05]
        hr = h.iloc[0]
        out.append(
            Finding(
                f"{s}: most human-like errors: {best['observer']}, kappa to humans "
                f"{ci(best['kappa_humans'], best['kappa_humans_ci_low'], best['kappa_humans_ci_high'])}"
                f" ({p_text(best['kappa_humans_p'])}); human-human ceiling "
                f"{ci(hr['kappa_humans'], hr['kappa_humans_ci_low'], hr['kappa_humans_ci_high'])}. "
                f"{len(hsig)} of {len(m)} observers share the humans' errors beyond chance "
                "(mean kappa over participants > 0, t-test, p < 0.05).",
                20,
            )
        )
    return out


def run(ctx: AnalysisContext) -> AnalysisOutput:
    res = kappa_results(ctx.pred, ctx.data.truth, ctx.data.humans, n_boot=ctx.n_boot, seed=ctx.seed)
    kappa = res.kappa
    fig = render(
        kappa_figure(kappa, ctx.kinds()),
        "fig_kappa",
        "Error consistency with the ground truth and humans",
        f"Left: Cohen's kappa of each observer's answers with the correct answers (95% "
        f"interval from {ctx.n_boot:,} item resamples). Right: error consistency with the "
        "human participants (mean over participants; 95% interval from resampling the "
        "per-participant kappas); dashed line and band: the human-human ceiling (mean over "
        "all pairs of participants) and its interval. Marker and colour: observer kind. Grey "
        "bars: the range of kappa the two accuracies allow (Klein et al. 2025). Stars: p < "
        ".05 / .01 / .001 against independent observers with the same accuracies (left: "
        "exact test; right: t-test of the mean across participants). Dotted: kappa = 0.",
    )
    tables = [
        TableOut(
            "kappa",
            "Cohen's kappa to the ground truth and to humans",
            kappa,
            f"kappa_truth: Cohen's kappa of the answers with the correct answers (interval: items "
            f"resampled {ctx.n_boot:,} times); kappa_truth_p: exact two-sided p against an "
            "independent observer with the same Yes-rate (seeds pooled; for humans: t-test of "
            "the participants' kappas). kappa_humans: error consistency with each participant, "
            "mean over participants (interval: per-participant kappas resampled); kappa_humans_p: "
            "t-test of that mean against 0 across participants; share_participants_p05: share of "
            "participants whose own kappa with the observer is significant (exact test, p < "
            "0.05). For the humans row kappa_humans is the human-human ceiling (mean over all "
            "pairs). *_min/*_max: the kappa range the accuracies allow (Klein et al. 2025). "
            "Degenerate kappas (c_exp = 1) are left out and counted in n_degenerate.",
        )
    ]
    if not res.pairs.empty:
        tables.append(
            TableOut(
                "kappa_pairs",
                "Every kappa between an observer and one participant",
                res.pairs,
                "One row per observer x participant and per pair of participants: items both "
                "answered, kappa (mean over seeds) and its exact two-sided p-value against "
                "independent observers with the same accuracies (Fisher's exact test on the "
                "right/wrong table; seeds pooled by convolving their null distributions).",
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
        "Is a kappa real? Conditioning on both accuracies, the number of trials both got "
        "right is hypergeometric under independence (Fisher's exact test) and kappa rises "
        "with it, so its tails give an exact two-sided p-value (twice the smaller tail). "
        "Several seeds: their counts add up and the null distributions convolve. A mean "
        "kappa over participants is tested against 0 with a one-sample t-test across "
        "participants (for the human-human ceiling the participants' mean kappas are not "
        "independent, so that p-value is approximate). p-values are not corrected for "
        "multiple comparisons.",
        f"Bootstrap: {ctx.n_boot:,} resamples, numpy Generator seed {ctx.seed} (rerunning "
        "gives the same intervals). Model to humans: per-participant kappas resampled; to "
        "the truth and paired differences: items resampled.",
    ]
    return AnalysisOutput(
        tables=tables,
        figures=[fig],
        findings=_findings(kappa),
        methods=methods,
        values={"results": res, "table": kappa},
    )


ANALYSIS = Analysis(
    "kappa", "Error consistency", run, summary="kappa to the truth and to humans, intervals, bounds, p-values"
)
