"""The study's figures from the analysis tables (matplotlib/seaborn, Agg, PNG + PDF).

Each function takes the tables of `tables.py` and an output stem and returns the
`Figure` it wrote, with a short caption for the report. Accuracy plots draw chance (0.5);
kappa plots draw 0 (chance agreement) and the human-human ceiling.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from cubeworld.analysis.loading import HUMANS  # noqa: E402
from cubeworld.analysis.tables import ALL  # noqa: E402
from cubeworld.formats.atomic import atomic_write_bytes  # noqa: E402

CHANCE = 0.5
DPI = 150
HUMAN_COLOR = "#9b443e"


@dataclass(frozen=True)
class Figure:
    """A figure on disk (PNG and PDF) and what it shows."""

    name: str
    title: str
    png: Path
    pdf: Path
    caption: str


def _save(fig, out: Path, name: str, title: str, caption: str) -> Figure:
    import io

    paths = {}
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=DPI, bbox_inches="tight")
        paths[ext] = out / f"{name}.{ext}"
        atomic_write_bytes(paths[ext], buf.getvalue())
    plt.close(fig)
    return Figure(name, title, paths["png"], paths["pdf"], caption)


def _style() -> None:
    sns.set_theme(style="ticks", context="paper", font_scale=1.1)
    plt.rcParams.update({"axes.spines.top": False, "axes.spines.right": False})


def _cells(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["n_blocks"] != ALL].assign(n_blocks=lambda d: d["n_blocks"].astype(int))


def accuracy_heatmap(acc: pd.DataFrame, humans: pd.DataFrame | None, out: Path) -> Figure:
    """Fig. 2: rows = condition, columns = evaluation set x block count."""
    _style()
    df = _cells(acc)
    if humans is not None and not humans.empty:
        df = pd.concat([df, _cells(humans)], ignore_index=True)
    df = df.assign(column=df["set"] + "\n" + df["n_blocks"].astype(str) + " blocks")
    cols = (df[["set", "n_blocks", "column"]].drop_duplicates()
            .sort_values(["set", "n_blocks"])["column"].tolist())
    rows = [o for o in sorted(df["observer"].unique()) if o != HUMANS]
    rows += [HUMANS] if HUMANS in set(df["observer"]) else []
    grid = df.pivot_table(index="observer", columns="column", values="accuracy").reindex(
        index=rows, columns=cols)
    size = (max(4.0, 0.9 * len(cols) + 2.5), max(2.0, 0.45 * len(rows) + 1.2))
    fig, ax = plt.subplots(figsize=size)
    with warnings.catch_warnings():  # seaborn 0.13 calls a soon-deprecated matplotlib API
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(grid, ax=ax, annot=True, fmt=".2f", vmin=0.0, vmax=1.0, center=CHANCE,
                    cmap="vlag_r", linewidths=0.5,
                    cbar_kws={"label": "accuracy (chance = 0.5)"})
    ax.set_xlabel("evaluation set x number of blocks")
    ax.set_ylabel("condition")
    # Long set names side by side overlap: slant them when the cells are many.
    slant = len(cols) * max(len(str(s)) for s in df["set"]) > 100
    ax.set_xticks(ax.get_xticks(), ax.get_xticklabels(), rotation=55 if slant else 0,
                  ha="right" if slant else "center", rotation_mode="anchor")
    return _save(fig, out, "fig_accuracy_heatmap", "Accuracy per condition and evaluation cell",
                 "Accuracy (share of correct Yes/No answers; mean over seeds) of each condition "
                 "(rows) on each evaluation set and block count (columns). Blue is above "
                 "chance (0.5), red below." + (" The last row is the human participants' mean."
                                             if HUMANS in rows else ""))


def accuracy_by_blocks(acc: pd.DataFrame, humans: pd.DataFrame | None, out: Path) -> Figure:
    """Fig. 3: accuracy by block count, Wilson bars, one line per condition."""
    _style()
    df = _cells(acc)
    hum = _cells(humans) if humans is not None and not humans.empty else None
    sets = sorted(df["set"].unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets) + 1.5, 3.4), squeeze=False,
                             sharey=True)
    observers = sorted(df["observer"].unique())
    palette = dict(zip(observers, sns.color_palette("colorblind", len(observers))))
    offsets = np.linspace(-0.15, 0.15, len(observers)) if len(observers) > 1 else [0.0]
    for ax, s in zip(axes[0], sets):
        for off, o in zip(offsets, observers):
            d = df[(df["set"] == s) & (df["observer"] == o)].sort_values("n_blocks")
            if d.empty:
                continue
            ax.errorbar(d["n_blocks"] + off, d["accuracy"],
                        yerr=[d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]],
                        marker="o", ms=4, capsize=2, lw=1.3, color=palette[o], label=o)
        if hum is not None:
            d = hum[hum["set"] == s].sort_values("n_blocks")
            if not d.empty:
                ax.errorbar(d["n_blocks"], d["accuracy"],
                            yerr=[d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]],
                            marker="s", ms=4, capsize=2, lw=1.6, ls="--", color=HUMAN_COLOR,
                            label=HUMANS)
        ax.axhline(CHANCE, color="grey", lw=0.8, ls=":", label="chance")
        ax.set_title(s)
        ax.set_xlabel("number of blocks")
        ax.set_xticks(sorted(df.loc[df["set"] == s, "n_blocks"].unique()))
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("accuracy (share correct)")
    uniq: dict = {}
    for ax in axes[0]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            uniq.setdefault(l, h)
    fig.legend(uniq.values(), uniq.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False, title="condition")
    fig.tight_layout()
    return _save(fig, out, "fig_accuracy_by_blocks", "Accuracy by number of blocks",
                 "Accuracy by number of blocks per evaluation set, one line per condition "
                 "(mean over seeds; bars: 95% Wilson score intervals, averaged over seeds). "
                 "Humans (dashed): mean over participants, 95% bootstrap interval over "
                 "participants. Dotted: chance (0.5).")


def kappa_figure(kappa: pd.DataFrame, out: Path) -> Figure:
    """Fig. 4: kappa to ground truth and to humans, intervals, bounds, human ceiling."""
    _style()
    sets = sorted(kappa["set"].unique())
    has_h = "kappa_humans" in kappa.columns
    measures = [("kappa_truth", "to ground truth", "#4c72b0")]
    if has_h:
        measures.append(("kappa_humans", "to humans", HUMAN_COLOR))
    n_obs = kappa.groupby("set")["observer"].nunique().max()
    fig, axes = plt.subplots(1, len(sets), figsize=(max(4.5, 0.9 * n_obs + 2) * len(sets), 4.0),
                             squeeze=False, sharey=True)
    width = 0.38
    for ax, s in zip(axes[0], sets):
        d = kappa[kappa["set"] == s].copy()
        d["_h"] = d["observer"] == HUMANS
        d = d.sort_values(["_h", "observer"]).reset_index(drop=True)
        x = np.arange(len(d))
        for i, (col, label, color) in enumerate(measures):
            pos = x + (i - (len(measures) - 1) / 2) * width
            v = d[col].to_numpy(dtype=float)
            ok = np.isfinite(v)
            if d["_h"].any() and col == "kappa_humans":
                ok &= ~d["_h"].to_numpy()  # humans' kappa to humans is the ceiling line
            lo = d[f"{col}_ci_low"].to_numpy(dtype=float)
            hi = d[f"{col}_ci_high"].to_numpy(dtype=float)
            ax.bar(pos[ok], v[ok], width * 0.9, color=color, alpha=0.85, label=f"kappa {label}")
            ax.errorbar(pos[ok], v[ok], yerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none",
                        ecolor="black", capsize=2, lw=1)
            bmin = d[f"{col}_min"].to_numpy(dtype=float)
            bmax = d[f"{col}_max"].to_numpy(dtype=float)
            ax.vlines(pos[ok] + width * 0.42, bmin[ok], bmax[ok], color="grey", lw=2.5, alpha=0.45,
                      label="range the accuracies allow" if i == 0 else None)
        if has_h and d["_h"].any():
            ceil = d.loc[d["_h"], "kappa_humans"].iloc[0]
            lo_c = d.loc[d["_h"], "kappa_humans_ci_low"].iloc[0]
            hi_c = d.loc[d["_h"], "kappa_humans_ci_high"].iloc[0]
            ax.axhspan(lo_c, hi_c, color=HUMAN_COLOR, alpha=0.12, lw=0)
            ax.axhline(ceil, color=HUMAN_COLOR, ls="--", lw=1.2,
                       label=f"human-human ceiling ({ceil:.2f})")
        ax.axhline(0, color="grey", lw=0.8, ls=":", label="chance agreement (0)")
        ax.set_xticks(x)
        ax.set_xticklabels(d["observer"], rotation=30, ha="right")
        ax.set_title(s)
        ax.set_ylim(-1, 1)
        ax.set_xlabel("observer")
    axes[0][0].set_ylabel("Cohen's kappa")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return _save(fig, out, "fig_kappa", "Error consistency with the ground truth and humans",
                 "Cohen's kappa of each observer with the ground truth (answers vs. correct "
                 "answers; 95% interval from 10,000 item resamples) and with the human "
                 "participants (error consistency, mean over participants; 95% interval from "
                 "10,000 resamples of the per-participant kappas). Grey bars: the range of kappa "
                 "that the two accuracies allow (Klein et al. 2025). Dashed: human-human "
                 "ceiling (mean kappa over all pairs of participants, band: 95% interval). "
                 "Dotted: chance agreement (kappa = 0).")


def accuracy_over_epochs(ep: pd.DataFrame, out: Path) -> Figure | None:
    """Figs. 10B-15B: accuracy per block count over fine-tuning epochs (None if one epoch)."""
    if ep["epoch"].nunique() < 2:
        return None
    _style()
    n_epochs = ep.groupby("observer")["epoch"].nunique()
    df = ep[ep["observer"].isin(n_epochs[n_epochs > 1].index)]
    observers = sorted(df["observer"].unique())
    sets = sorted(df["set"].unique())
    fig, axes = plt.subplots(len(observers), len(sets),
                             figsize=(3.8 * len(sets) + 1.5, 2.8 * len(observers)),
                             squeeze=False, sharey=True)
    blocks = sorted({b for b in df["n_blocks"] if b != ALL}, key=int) + [ALL]
    palette = dict(zip(blocks[:-1], sns.color_palette("viridis", len(blocks) - 1)))
    palette[ALL] = "black"
    for r, o in enumerate(observers):
        for c, s in enumerate(sets):
            ax = axes[r][c]
            for b in blocks:
                d = df[(df["observer"] == o) & (df["set"] == s) & (df["n_blocks"] == b)]
                if d.empty:
                    continue
                d = d.sort_values("epoch")
                label = "all blocks" if b == ALL else f"{b} blocks"
                ax.plot(d["epoch"], d["accuracy"], marker="o", ms=3, color=palette[b],
                        lw=2 if b == ALL else 1.2, label=label)
                ax.fill_between(d["epoch"], d["ci_low"], d["ci_high"], color=palette[b],
                                alpha=0.12, lw=0)
            ax.axhline(CHANCE, color="grey", lw=0.8, ls=":")
            ax.set_ylim(0, 1)
            ax.set_title(f"{o} on {s}", fontsize=9)
            ax.set_xlabel("epoch (0 = before fine-tuning)")
            if c == 0:
                ax.set_ylabel("accuracy")
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(l, h)
    fig.legend(handles.values(), handles.keys(), loc="center left", bbox_to_anchor=(1.0, 0.5),
               frameon=False, title="block count")
    fig.tight_layout()
    return _save(fig, out, "fig_accuracy_over_epochs", "Accuracy over fine-tuning epochs",
                 "Accuracy per block count (and over all blocks, black) after each fine-tuning "
                 "epoch, per condition (rows) and evaluation set (columns); bands: 95% Wilson "
                 "intervals averaged over seeds. Dotted: chance (0.5).")
