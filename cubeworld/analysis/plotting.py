"""Figures of the analysis (matplotlib/seaborn, Agg): shared style and the study's figures.

Every figure is drawn at the report's page width (`PAGE_WIDTH_IN` at `DPI` is about the
width of the report's column), so it is shown at its own size and its text stays legible;
more sets or observers add panels *downwards* (wrapped), never sideways. Every observer
keeps one colour across all figures of a report (`observer_colors`, computed once over all
observers; the humans always the human colour), and every observer kind (VLM, physics,
CNN, humans, ... - the `kind` column of the prediction tables) one marker (`kind_style`).
Accuracy plots draw chance (0.5); kappa plots draw 0 (chance agreement) and the
human-human ceiling.

The functions return matplotlib figures; `render` turns one into PNG and PDF bytes with
its caption (`unit.FigureOut`), which the pipeline writes.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS  # noqa: E402
from cubeworld.analysis.significance import stars  # noqa: E402
from cubeworld.analysis.tables import ALL  # noqa: E402
from cubeworld.analysis.unit import FigureOut  # noqa: E402
from cubeworld.formats.atomic import atomic_write_bytes  # noqa: E402

CHANCE = 0.5
DPI = 150
PAGE_WIDTH_IN = 7.0  # 1050 px at DPI: the report's column is 1100 px wide
HUMAN_COLOR = "#9b443e"
TRUTH_COLOR = "#4c72b0"

# One look per observer kind, the same in every figure. Kinds are data (the `kind` column),
# so a kind not listed here simply takes the next unused look.
_KIND_LOOKS = {
    "vlm": ("#4c72b0", "o"),
    "physics": ("#55a868", "s"),
    "cnn": ("#dd8452", "^"),
    "humans": (HUMAN_COLOR, "D"),
}
_SPARE_LOOKS = [
    ("#8172b3", "v"),
    ("#937860", "P"),
    ("#da8bc3", "X"),
    ("#8c8c8c", "*"),
    ("#ccb974", "h"),
    ("#64b5cd", "<"),
]


class Figure:
    """A figure on disk (PNG and PDF) and what it shows (what the report embeds)."""

    def __init__(self, name: str, title: str, png: Path, pdf: Path, caption: str):
        self.name, self.title, self.png, self.pdf, self.caption = name, title, png, pdf, caption


def style() -> None:
    sns.set_theme(style="ticks", context="paper", font_scale=1.05)
    plt.rcParams.update(
        {"axes.spines.top": False, "axes.spines.right": False, "legend.fontsize": 8, "axes.titlesize": 10}
    )


def render(fig, name: str, title: str, caption: str) -> FigureOut:
    """PNG (DPI) and PDF bytes of `fig`, then close it.

    Figures use constrained layout (legends inside the canvas), so the canvas is the
    picture: no `bbox_inches="tight"`, which would draw everything twice per format.
    """
    data = {}
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=DPI)
        data[ext] = buf.getvalue()
    plt.close(fig)
    return FigureOut(name, title, data["png"], data["pdf"], caption)


def write_figure(f: FigureOut, out: Path) -> Figure:
    png, pdf = out / f"{f.name}.png", out / f"{f.name}.pdf"
    atomic_write_bytes(png, f.png)
    atomic_write_bytes(pdf, f.pdf)
    return Figure(f.name, f.title, png, pdf, f.caption)


def kind_of(observer: str, kinds: dict[str, str]) -> str:
    """An observer's kind; the participants are always of kind "humans"."""
    return HUMANS if observer == HUMANS else kinds.get(observer, DEFAULT_KIND)


def kind_style(kinds) -> dict[str, tuple[str, str]]:
    """kind -> (colour, marker); known kinds keep their look, others take spare ones."""
    looks: dict[str, tuple[str, str]] = {}
    spare = iter(_SPARE_LOOKS * 4)
    for k in sorted(set(kinds), key=lambda k: (k not in _KIND_LOOKS, k)):
        looks[k] = _KIND_LOOKS.get(k) or next(spare)
    return looks


def observer_order(observers, kinds: dict[str, str]) -> list[str]:
    """Observers grouped by kind (kinds in a fixed order), humans last."""
    ks = kind_style(kind_of(o, kinds) for o in observers)
    rank = {k: i for i, k in enumerate(ks)}
    return sorted(set(observers), key=lambda o: (o == HUMANS, rank[kind_of(o, kinds)], o))


def observer_colors(observers, kinds: dict[str, str]) -> dict[str, tuple]:
    """A colour per observer; humans keep the human colour. Observers of one kind get
    shades of a shared palette, kinds are told apart by marker (see `kind_style`)."""
    others = [o for o in observer_order(observers, kinds) if o != HUMANS]
    # matplotlib's tab palettes without their browns, which read as the human colour
    pal = [c for i, c in enumerate(sns.color_palette("tab10")) if i != 5]
    if len(others) > len(pal):
        pal = [c for i, c in enumerate(sns.color_palette("tab20")) if i not in (10, 11)]
    colors = {o: pal[i % len(pal)] for i, o in enumerate(others)}
    colors[HUMANS] = HUMAN_COLOR
    return colors


def panel_grid(
    n: int,
    ncols: int,
    panel_h: float,
    *,
    width: float = PAGE_WIDTH_IN,
    sharey: bool = False,
    height_ratios=None,
    fill: bool = True,
):
    """n panels wrapped into rows of at most `ncols` (fewer when n is smaller, unless
    `fill`, which keeps the panel width of a full row); unused axes removed."""
    ncols = max(1, ncols if fill else min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width, panel_h * nrows + 0.4),
        squeeze=False,
        sharey=sharey,
        layout="constrained",
        height_ratios=height_ratios,
    )
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def kind_legend_handles(kinds_present, *, colored: bool = True) -> list[Line2D]:
    """Legend entries 'kind: NAME' with each present kind's marker (and colour, unless
    the figure colours observers rather than kinds)."""
    looks = kind_style(kinds_present)
    return [
        Line2D([], [], color=c if colored else "dimgray", marker=m, ls="", label=f"kind: {k}")
        for k, (c, m) in looks.items()
    ]


def legend_in_grid(fig, axes_used, n_slots_ncols: int, handles, labels) -> None:
    """The legend in the grid's free slot when there is one (an odd number of panels in
    rows of two), else below the panels."""
    if len(axes_used) % n_slots_ncols and len(axes_used) > 0:
        gs = axes_used[0].get_subplotspec().get_gridspec()
        ax = fig.add_subplot(gs[len(axes_used) // n_slots_ncols, len(axes_used) % n_slots_ncols])
        ax.set_axis_off()
        ax.legend(handles, labels, loc="center left", frameon=False)
    else:
        legend_below(fig, handles, labels, ncol=2)


def legend_below(fig, handles, labels, *, title: str | None = None, ncol: int = 2) -> None:
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False, title=title)


def _cells(acc: pd.DataFrame) -> pd.DataFrame:
    return acc[acc["n_blocks"] != ALL].assign(n_blocks=lambda d: d["n_blocks"].astype(int))


# --------------------------------------------------------------------------- accuracy


def accuracy_heatmap(
    acc: pd.DataFrame, humans: pd.DataFrame | None, kinds: dict[str, str], colors: dict[str, tuple] | None = None
):
    """One panel per evaluation set (stacked): rows = observers (every kind, humans last),
    columns = block counts and all blocks; tick labels in each observer's colour."""
    style()
    df = acc.copy()
    if humans is not None and not humans.empty:
        df = pd.concat([df, humans], ignore_index=True)
    df["n_blocks"] = df["n_blocks"].astype(str)
    sets = sorted(df["set"].unique())
    rows_per = [df.loc[df["set"] == s, "observer"].nunique() for s in sets]
    fig, axes = plt.subplots(
        len(sets),
        1,
        squeeze=False,
        layout="constrained",
        figsize=(PAGE_WIDTH_IN, sum(0.3 * r + 0.7 for r in rows_per) + 0.3),
        height_ratios=[r + 2.5 for r in rows_per],
    )
    colors = colors or observer_colors(df["observer"].unique(), kinds)
    cmap = sns.color_palette("vlag_r", as_cmap=True)
    for ax, s in zip(axes[:, 0], sets):
        d = df[df["set"] == s]
        cols = sorted((c for c in d["n_blocks"].unique() if c != ALL), key=int) + [ALL]
        rows = observer_order(d["observer"].unique(), kinds)
        grid = d.pivot_table(index="observer", columns="n_blocks", values="accuracy").reindex(index=rows, columns=cols)
        with warnings.catch_warnings():  # seaborn 0.13 calls a soon-deprecated matplotlib API
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            sns.heatmap(
                grid,
                ax=ax,
                annot=True,
                fmt=".2f",
                vmin=0.0,
                vmax=1.0,
                center=CHANCE,
                cmap=cmap,
                linewidths=0.5,
                cbar=False,
                annot_kws={"fontsize": 8},
            )
        ax.set_xticklabels([f"{c} blocks" if c != ALL else "all" for c in cols], rotation=0)
        ax.set_title(s, loc="left", fontweight="bold")
        ax.set_xlabel("")
        ax.set_ylabel("")
        for label in ax.get_yticklabels():
            label.set_color(colors.get(label.get_text(), "black"))
    sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, 1))
    fig.colorbar(
        sm,
        ax=axes[:, 0].tolist(),
        location="right",
        shrink=min(1.0, 3.0 / len(axes[:, 0]) if len(axes[:, 0]) > 1 else 1.0),
        aspect=25,
        pad=0.02,
        label="accuracy (chance = 0.5)",
    )
    return fig


def _bars(d: pd.DataFrame) -> np.ndarray:
    """Error bar lengths below and above each accuracy; a Wilson bound that floating point
    puts a hair beyond an accuracy of exactly 0 or 1 gives a bar of 0, not a negative one."""
    return np.clip(np.array([d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]], dtype=float), 0.0, None)


def sizes_label(sizes) -> str:
    """[2, 3, 4] -> "2-4"; [3, 6] -> "3 & 6"; [3, 6, 10] -> "3, 6 & 10"."""
    v = sorted({int(x) for x in sizes})
    if not v:
        return ""
    if len(v) > 2 and v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}-{v[-1]}"
    return v[0].__str__() if len(v) == 1 else ", ".join(map(str, v[:-1])) + f" & {v[-1]}"


def panel_title(medium: str, domain: str) -> str:
    """ "tower" (rendered), "tower photos", or the domain with its medium."""
    if medium == "photo":
        return f"{domain} photos"
    return domain if medium in ("rendered", "unknown", "") else f"{domain} ({medium})"


def accuracy_by_size(cells: pd.DataFrame, humans: pd.DataFrame | None, kinds: dict[str, str], colors: dict[str, tuple]):
    """The paper's Fig. 2: accuracy per block count on one axis per domain (and medium),
    every evaluation set of that domain pooled, one line per observer (colour = observer,
    marker = kind), humans dashed; filled markers where the observer was trained on that
    size, hollow where it was not (all filled when the training is not known); the trained
    sizes shaded when every trained observer of the panel shares them.

    cells: observer, medium, domain, n_blocks, accuracy, ci_low, ci_high, trained (bool or
    NaN); humans: the same columns without `trained`.
    """
    style()
    panels = sorted(
        cells[["medium", "domain"]].drop_duplicates().itertuples(index=False, name=None),
        key=lambda md: (md[0] != "rendered", md[0], md[1]),
    )
    fig, axes = panel_grid(len(panels), 2, 3.0, sharey=True, fill=False)
    observers = observer_order(cells["observer"].unique(), kinds)
    looks = kind_style(list(kind_of(o, kinds) for o in observers) + ["humans"])
    offsets = dict(zip(observers, np.linspace(-0.12, 0.12, len(observers)) if len(observers) > 1 else [0.0]))
    for ax, (medium, domain) in zip(axes, panels):
        d = cells[(cells["medium"] == medium) & (cells["domain"] == domain)]
        trained_sets = {
            tuple(sorted(g.loc[g["trained"] == True, "n_blocks"]))  # noqa: E712 - NaN is "not known"
            for _, g in d.groupby("observer")
            if (g["trained"] == True).any()  # noqa: E712
        }
        if len(trained_sets) == 1:
            t = next(iter(trained_sets))
            ax.axvspan(min(t) - 0.4, max(t) + 0.4, color="grey", alpha=0.12, lw=0, label="trained sizes")
        for o in observers:
            g = d[d["observer"] == o].sort_values("n_blocks")
            if g.empty:
                continue
            x = g["n_blocks"].to_numpy(dtype=float) + offsets[o]
            color, marker = colors.get(o, "black"), looks[kind_of(o, kinds)][1]
            ax.errorbar(x, g["accuracy"], yerr=_bars(g), color=color, lw=1.2, capsize=2, ls="-", label=o)
            filled = (g["trained"] != False).to_numpy()  # noqa: E712 - unknown counts as filled
            ax.plot(x[filled], g["accuracy"].to_numpy()[filled], ls="", marker=marker, color=color, ms=5)
            ax.plot(x[~filled], g["accuracy"].to_numpy()[~filled], ls="", marker=marker, mfc="white", color=color, ms=5)
        if humans is not None and not humans.empty:
            h = humans[(humans["medium"] == medium) & (humans["domain"] == domain)].sort_values("n_blocks")
            if not h.empty:
                ax.errorbar(
                    h["n_blocks"],
                    h["accuracy"],
                    yerr=_bars(h),
                    marker=looks["humans"][1],
                    ms=4,
                    capsize=2,
                    lw=1.5,
                    ls="--",
                    color=HUMAN_COLOR,
                    label=HUMANS,
                )
        ax.axhline(CHANCE, color="grey", lw=0.8, ls=":")
        ax.set_title(panel_title(medium, domain), loc="left", fontweight="bold")
        ax.set_xlabel("number of blocks")
        ax.set_xticks(sorted(d["n_blocks"].unique()))
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
    uniq: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            uniq.setdefault(lab, h)
    uniq["trained on this size"] = Line2D([], [], marker="o", color="dimgray", ls="")
    uniq["not trained on it"] = Line2D([], [], marker="o", mfc="white", color="dimgray", ls="")
    legend_below(fig, list(uniq.values()), list(uniq), ncol=2)
    return fig


# --------------------------------------------------------------------------- kappa


def _forest(
    ax,
    d: pd.DataFrame,
    col: str,
    kinds,
    looks,
    *,
    p_col: str | None,
    ceiling: tuple[float, float, float] | None,
    title: str,
    colors: dict[str, tuple] | None = None,
) -> None:
    """Horizontal dot-and-interval plot of `col` per observer row of d (top to bottom);
    an observer that gives one answer (`one_answer`) is drawn hollow and grey, without
    stars: its kappa says nothing about shared errors."""
    y = np.arange(len(d))[::-1]
    v = d[col].to_numpy(dtype=float)
    lo = d[f"{col}_ci_low"].to_numpy(dtype=float)
    hi = d[f"{col}_ci_high"].to_numpy(dtype=float)
    bmin = d[f"{col}_min"].to_numpy(dtype=float) if f"{col}_min" in d else None
    bmax = d[f"{col}_max"].to_numpy(dtype=float) if f"{col}_max" in d else None
    if ceiling is not None:
        c, clo, chi = ceiling
        ax.axvspan(clo, chi, color=HUMAN_COLOR, alpha=0.12, lw=0)
        ax.axvline(c, color=HUMAN_COLOR, ls="--", lw=1.2)
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    single = d["one_answer"].astype(bool).to_numpy() if "one_answer" in d else np.zeros(len(d), bool)
    for i, o in enumerate(d["observer"]):
        if not np.isfinite(v[i]):
            ax.text(0, y[i], "n/a", va="center", ha="center", fontsize=7, color="grey")
            continue
        marker = looks[kind_of(o, kinds)][1]
        color = (colors or {}).get(o, looks[kind_of(o, kinds)][0])
        if bmin is not None and bmax is not None and np.isfinite(bmin[i]):
            ax.plot([bmin[i], bmax[i]], [y[i], y[i]], color="grey", lw=5, alpha=0.25, solid_capstyle="butt")
        if single[i]:
            ax.plot([lo[i], hi[i]], [y[i], y[i]], color="grey", lw=1, ls=":")
            ax.plot(v[i], y[i], marker=marker, mfc="white", color="grey", ms=6, ls="")
            ax.text(0.98, y[i], "one answer", va="center", ha="right", fontsize=7, color="grey")
            continue
        ax.plot([lo[i], hi[i]], [y[i], y[i]], color="black", lw=1)
        ax.plot(v[i], y[i], marker=marker, color=color, ms=6, ls="")
        if p_col is not None:
            mark = stars(d[p_col].iloc[i])
            if mark:
                ax.text(min(hi[i] + 0.03, 0.97), y[i], mark, va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(d["observer"])
    ax.set_xlim(-1, 1)
    ax.set_ylim(-0.7, len(d) - 0.3)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("Cohen's kappa")


def kappa_figure(kappa: pd.DataFrame, kinds: dict[str, str], colors: dict[str, tuple] | None = None):
    """Fig. 4: per set a row of forest plots: kappa to the ground truth, and (with humans)
    error consistency with the participants, with the human-human ceiling band; grey bars
    are the range the accuracies allow; stars mark Holm-adjusted one-sided p-values."""
    style()
    sets = sorted(kappa["set"].unique())
    has_h = "kappa_humans" in kappa.columns
    panels, heights = [], []
    for s in sets:
        d = kappa[kappa["set"] == s]
        order = observer_order(d["observer"], kinds)
        d = d.set_index("observer").loc[order].reset_index()
        with_h = has_h and d["kappa_humans"].notna().any()
        panels.append((s, d, with_h))
        heights.append(len(d))
    ncols = 2 if any(p[2] for p in panels) else 1
    fig, axes = plt.subplots(
        len(sets),
        ncols,
        squeeze=False,
        layout="constrained",
        figsize=(PAGE_WIDTH_IN, sum(0.28 * h + 0.9 for h in heights) + 0.7),
        height_ratios=[h + 3 for h in heights],
    )
    looks = kind_style(kind_of(o, kinds) for o in kappa["observer"])
    for r, (s, d, with_h) in enumerate(panels):
        _forest(
            axes[r][0],
            d,
            "kappa_truth",
            kinds,
            looks,
            p_col="kappa_truth_p_holm" if "kappa_truth_p_holm" in d else "kappa_truth_p",
            ceiling=None,
            title=f"{s}: to the ground truth",
            colors=colors,
        )
        if ncols == 2:
            ax = axes[r][1]
            if not with_h:
                ax.set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    f"{s}:\nno human responses",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="grey",
                    wrap=True,
                )
                continue
            h = d[d["observer"] == HUMANS]
            ceiling = None
            if not h.empty:
                ceiling = (
                    float(h["kappa_humans"].iloc[0]),
                    float(h["kappa_humans_ci_low"].iloc[0]),
                    float(h["kappa_humans_ci_high"].iloc[0]),
                )
            m = d[d["observer"] != HUMANS]
            _forest(
                ax,
                m,
                "kappa_humans",
                kinds,
                looks,
                p_col="kappa_humans_p_holm" if "kappa_humans_p_holm" in m else "kappa_humans_p",
                ceiling=ceiling,
                title="error consistency\nwith humans",
                colors=colors,
            )
            ax.tick_params(axis="y", labelleft=True)
    handles = kind_legend_handles(looks, colored=False) + [
        Line2D([], [], color="black", lw=1, label="95% interval (items and people resampled)"),
        Line2D([], [], color="grey", lw=5, alpha=0.3, label="range the accuracies allow"),
    ]
    if has_h:
        handles.append(Line2D([], [], color=HUMAN_COLOR, ls="--", label="human-human ceiling"))
    legend_below(fig, handles, [h.get_label() for h in handles], ncol=3)
    return fig


# --------------------------------------------------------------------------- epochs


def _shade(color, t: float) -> tuple[float, float, float]:
    """`color` blended with white by t (0: the colour itself, 1: white)."""
    r, g, b = matplotlib.colors.to_rgb(color)
    return (r + (1 - r) * t, g + (1 - g) * t, b + (1 - b) * t)


def accuracy_over_epochs(ep: pd.DataFrame, colors: dict[str, tuple] | None = None):
    """Figs. 10B-15B: accuracy per block count over fine-tuning epochs, one panel per
    observer x set (three per row); None when no observer has two epochs. Each panel is
    drawn in its observer's colour (the same in every figure): lighter for fewer blocks,
    darker for more, black for all blocks together."""
    n_epochs = ep.groupby("observer")["epoch"].nunique()
    df = ep[ep["observer"].isin(n_epochs[n_epochs > 1].index)]
    if df.empty:
        return None
    style()
    colors = colors or {}
    keys = sorted(df[["observer", "set"]].drop_duplicates().itertuples(index=False, name=None))
    fig, axes = panel_grid(len(keys), 3, 2.2, sharey=True)
    blocks = sorted({b for b in df["n_blocks"] if b != ALL}, key=int) + [ALL]
    lightness = dict(zip(blocks[:-1], np.linspace(0.65, 0.0, len(blocks) - 1) if len(blocks) > 2 else [0.0]))
    for ax, (o, s) in zip(axes, keys):
        base = colors.get(o, "dimgray")
        for b in blocks:
            d = df[(df["observer"] == o) & (df["set"] == s) & (df["n_blocks"] == b)]
            if d.empty:
                continue
            d = d.sort_values("epoch")
            label = "all blocks" if b == ALL else f"{b} blocks"
            color = "black" if b == ALL else _shade(base, lightness[b])
            ax.plot(d["epoch"], d["accuracy"], marker="o", ms=3, color=color, lw=2 if b == ALL else 1.2, label=label)
            ax.fill_between(d["epoch"], d["ci_low"], d["ci_high"], color=color, alpha=0.12, lw=0)
        ax.axhline(CHANCE, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, 1)
        ax.set_title(f"{o}\non {s}", fontsize=8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.xaxis.get_major_locator().set_params(integer=True)
    handles = [
        Line2D([], [], marker="o", ms=3, color="black" if b == ALL else _shade("dimgray", lightness[b]), lw=1.2)
        for b in blocks
    ]
    labels = [f"{b} blocks" if b != ALL else "all blocks" for b in blocks]
    legend_below(
        fig, handles, labels, title="block count (in each observer's colour, darker = more)", ncol=min(len(labels), 7)
    )
    return fig
