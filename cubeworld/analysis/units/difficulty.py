"""Difficulty curves: P(Yes) and accuracy as functions of each stimulus' recorded
difficulty (contract B), with a logistic psychometric fit per observer and the humans.

Which measure a set records, and its name and unit, come from the set (rows' `difficulty`,
the card's `difficulty` entry): nothing here knows about towers or pyramids. Sets without
a difficulty (photos) are skipped with a reason; asking for this analysis by name on such
a set is bad input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS
from cubeworld.analysis.plotting import (
    CHANCE,
    PAGE_WIDTH_IN,
    kind_legend_handles,
    kind_style,
    legend_below,
    observer_order,
    render,
    style,
)
from cubeworld.analysis.psychometric import fit_psychometric
from cubeworld.analysis.significance import adjust
from cubeworld.analysis.unit import RANK_DIFFICULTY, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci, flagged, palette

MAX_BINS = 8


def check(ctx: AnalysisContext) -> list[str]:
    reasons = []
    for s in ctx.sets:
        info = ctx.set_info(s)
        if info.folder is None:
            reasons.append(f"set {s!r}: no set folder given (--truth), so no difficulty")
        elif not info.has_difficulty:
            reasons.append(f"set {s!r} ({info.folder}) has no 'difficulty' in its rows")
    return reasons


def _sets(ctx: AnalysisContext) -> list[str]:
    return [s for s in ctx.sets if ctx.set_info(s).has_difficulty]


def _trials(ctx: AnalysisContext, s: str) -> list[tuple[str, str, str, pd.DataFrame, object]]:
    """Per observer (and humans): (name, kind, response, trials[difficulty, y, correct],
    cluster groups or None). y is P(Yes) where the observer gives one, else its answer."""
    d = ctx.data.truth[ctx.data.truth["set"] == s].set_index("stimulus_id")["difficulty"]
    kinds = ctx.kinds()
    out: list[tuple[str, str, str, pd.DataFrame, object]] = []
    for obs, g in ctx.pred[ctx.pred["set"] == s].groupby("observer", sort=True):
        p = g["p_yes"]
        graded = p.notna().all() and bool(((p > 0) & (p < 1)).any())
        t = pd.DataFrame(
            {
                "stimulus_id": g["stimulus_id"].to_numpy(),
                "difficulty": g["stimulus_id"].map(d).to_numpy(dtype=float),
                "y": (p if graded else g["says_yes"]).to_numpy(dtype=float),
                "correct": g["correct"].to_numpy(dtype=float),
            }
        )
        out.append((obs, kinds.get(obs, DEFAULT_KIND), "p_yes" if graded else "answers", t, None))
    hs = ctx.humans_on(s)
    if hs is not None:
        t = pd.DataFrame(
            {
                "stimulus_id": hs["stimulus_id"].to_numpy(),
                "difficulty": hs["stimulus_id"].map(d).to_numpy(dtype=float),
                "y": hs["response"].to_numpy(dtype=float),
                "correct": hs["correct"].to_numpy(dtype=float),
            }
        )
        out.append((HUMANS, HUMANS, "responses", t, hs["participant"].to_numpy()))
    return out


def _edges(values: np.ndarray) -> np.ndarray:
    """Quantile bin edges over the set's items (about 6+ items per bin, at most MAX_BINS)."""
    n_bins = int(max(2, min(MAX_BINS, values.size // 6)))
    return np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)))


def _binned(t: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    idx = np.clip(np.searchsorted(edges, t["difficulty"], side="right") - 1, 0, len(edges) - 2)
    g = t.assign(bin=idx).groupby("bin")
    return pd.DataFrame(
        {
            "bin_low": edges[:-1][g.size().index],
            "bin_high": edges[1:][g.size().index],
            "difficulty": g["difficulty"].mean(),
            "p_yes": g["y"].mean(),
            "accuracy": g["correct"].mean(),
            "n": g.size(),
        }
    ).reset_index(drop=True)


def _compute(ctx: AnalysisContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    fits, bins = [], []
    for s in _sets(ctx):
        info = ctx.set_info(s)
        dname = (info.difficulty or {}).get("name", "difficulty")
        unit = (info.difficulty or {}).get("unit", "")
        items = ctx.data.truth.loc[ctx.data.truth["set"] == s, "difficulty"].to_numpy()
        edges = _edges(items)
        for obs, kind, response, t, groups in _trials(ctx, s):
            f = fit_psychometric(t["difficulty"].to_numpy(), t["y"].to_numpy(), groups=groups, name=f"{obs} on {s}")
            fits.append(
                {
                    "set": s,
                    "observer": obs,
                    "kind": kind,
                    "response": response,
                    "difficulty": dname,
                    "unit": unit,
                    **f.as_dict(),
                }
            )
            bins.append(_binned(t, edges).assign(set=s, observer=obs, kind=kind))
    fits_df = pd.DataFrame(fits)
    if not fits_df.empty:
        flat = flagged(ctx, "flat")
        fits_df["flat"] = [(s, o) in flat for s, o in zip(fits_df["set"], fits_df["observer"])]
        fits_df["slope_p_holm"] = adjust(fits_df["slope_p"].where(~fits_df["flat"]))
    bins_df = pd.concat(bins, ignore_index=True) if bins else pd.DataFrame()
    if not bins_df.empty:
        lead = ["set", "observer", "kind"]
        bins_df = bins_df[lead + [c for c in bins_df.columns if c not in lead]]
    return fits_df, bins_df


def _figure(ctx: AnalysisContext, fits: pd.DataFrame, bins: pd.DataFrame):
    import matplotlib.pyplot as plt

    style()
    kinds = ctx.kinds()
    sets = sorted(fits["set"].unique())
    fig, axes = plt.subplots(
        len(sets), 2, squeeze=False, layout="constrained", figsize=(PAGE_WIDTH_IN, 3.0 * len(sets) + 1.0)
    )
    observers = observer_order(fits["observer"].unique(), kinds)
    colors = palette(ctx)
    looks = kind_style(fits["kind"])
    for r, s in enumerate(sets):
        label = ctx.set_info(s).difficulty_label
        items = ctx.data.truth.loc[ctx.data.truth["set"] == s, "difficulty"].to_numpy()
        grid = np.linspace(items.min(), items.max(), 200)
        for o in observers:
            f = fits[(fits["set"] == s) & (fits["observer"] == o)]
            b = bins[(bins["set"] == s) & (bins["observer"] == o)]
            if f.empty:
                continue
            color, marker = colors.get(o, "black"), looks[f["kind"].iloc[0]][1]
            ls = "--" if o == HUMANS else "-"
            ax = axes[r][0]
            ax.plot(b["difficulty"], b["p_yes"], marker=marker, color=color, ls="", ms=4)
            fit = f.iloc[0]
            if np.isfinite(fit["slope"]):
                ax.plot(
                    grid,
                    1 / (1 + np.exp(-(fit["intercept"] + fit["slope"] * grid))),
                    color=color,
                    ls=ls,
                    lw=1.3,
                    label=o,
                )
            else:
                ax.plot(b["difficulty"], b["p_yes"], color=color, ls=":", lw=1, label=o)
            axes[r][1].plot(b["difficulty"], b["accuracy"], marker=marker, color=color, ls=ls, lw=1.1, ms=4)
        for c, (ylabel, title) in enumerate((("P(Yes)", "P(Yes) with logistic fit"), ("accuracy", "accuracy"))):
            ax = axes[r][c]
            ax.axhline(CHANCE, color="grey", lw=0.8, ls=":")
            ax.axvline(0, color="grey", lw=0.6, ls="-", alpha=0.4)
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{s}: {title}", fontsize=9)
    uniq: dict = {}
    for ax in axes[:, 0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            uniq.setdefault(lab, h)
    kh = kind_legend_handles(looks, colored=False)
    legend_below(fig, list(uniq.values()) + kh, list(uniq) + [h.get_label() for h in kh], ncol=2)
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if not _sets(ctx):
        return AnalysisOutput()
    fits, bins = _compute(ctx)
    findings = []
    for s, g in fits.groupby("set"):
        m = g[g["observer"] != HUMANS]
        graded = m[~m["flat"] & (m["slope_p_holm"] < 0.05)]
        name = g["difficulty"].iloc[0]
        text = (
            f"{s}: P(Yes) falls with {name} as it should for {len(graded)} of {len(m)} observers "
            "(logistic slope < 0, one-sided Wald test, Holm-adjusted p < 0.05"
            + (
                f"; {int(m['flat'].sum())} whose P(Yes) barely varies {'is' if m['flat'].sum() == 1 else 'are'} not counted"
                if m["flat"].any()
                else ""
            )
            + ")"
        )
        h = g[g["observer"] == HUMANS]
        unit = f" {g['unit'].iloc[0]}" if g["unit"].iloc[0] else ""
        if not h.empty and np.isfinite(h["threshold"].iloc[0]):
            hr = h.iloc[0]
            text += (
                f"; humans say Yes half of the time at {name} "
                f"{ci(hr['threshold'], hr['threshold_ci_low'], hr['threshold_ci_high'])}"
                f"{unit}"
            )
        findings.append(Finding(text + ".", RANK_DIFFICULTY))
    noted = fits[fits["note"] != ""]
    return AnalysisOutput(
        tables=[
            TableOut(
                "difficulty",
                "Psychometric fits: P(Yes) against difficulty",
                fits,
                "Logistic fit P(Yes) = 1 / (1 + exp(-(intercept + slope x difficulty))) "
                "per set and observer, by maximum likelihood (statsmodels GLM, binomial, "
                "logit). response: p_yes = the observer's P(Yes) per item and seed "
                "(fractional logit, standard errors scaled by the Pearson dispersion); "
                "answers = its 0/1 answers; responses = every participant's answer "
                "(standard errors robust to clustering by participant). slope: 95% Wald "
                "interval; slope_p: one-sided Wald p of slope < 0 (the direction the contract "
                "predicts), slope_p_holm: Holm-adjusted across the table (observers whose P(Yes) "
                "barely varies, flat, are left out of the family); threshold: difficulty at "
                "P(Yes) = 0.5 (-intercept / slope), 95% delta-method interval. note: why a fit "
                "is missing (constant response, perfect separation).",
            ),
            TableOut(
                "difficulty_bins",
                "Difficulty curves, binned",
                bins,
                "Per set, observer and quantile bin of the set's difficulty: mean "
                "difficulty, mean P(Yes) (the fitted response), accuracy and trials.",
                show=False,
            ),
        ],
        figures=[
            render(
                _figure(ctx, fits, bins),
                "fig_difficulty",
                "Difficulty curves",
                "Left: P(Yes) against each stimulus' recorded difficulty (axis: the set's own "
                "measure and unit), points = quantile bins, lines = logistic fits (dotted where no "
                "fit exists). Right: accuracy in the same bins. Humans dashed; marker = observer "
                "kind. Dotted: 0.5.",
            )
        ],
        findings=findings,
        methods=[
            "Difficulty curves: each row's recorded difficulty (the set's own measure; by "
            "contract larger means more clearly No) against P(Yes) with a logistic fit. "
            + (
                f"{len(noted)} fit(s) have no curve: "
                + "; ".join(f"{r.observer} on {r.set} ({r.note})" for r in noted.itertuples())
                + "."
                if len(noted)
                else ""
            )
        ],
        values={"table": fits, "bins": bins},
    )


ANALYSIS = Analysis(
    "difficulty", "Difficulty curves", run, check, "P(Yes) and accuracy against recorded difficulty, logistic fits"
)
