"""The per-layer figure: decodable (each point's probe) vs used (the observer's answers).

One panel per target: the points on the x axis in the model's order (vision blocks, the
projector(s), decoder layers), one line per pool (and domain, for per-domain targets)
with its bootstrap interval as a band; a filled marker is a probe that is decodable after
the Holm correction, a hollow one is not. The dotted line is each probe's chance level;
on the label panel the observer's own accuracy on the same items is the grey band, with
its kappa to the ground truth in the legend.
"""

from __future__ import annotations

import io
import math
from typing import Any

PANEL_W, PANEL_H = 0.34, 3.2  # inches per point, panel height


def plot_probes(results: Any) -> bytes:
    """The figure of `results` (`ProbeResults`) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results.rows
    targets = list(dict.fromkeys(r.target for r in rows))
    points = list(dict.fromkeys(r.point for r in rows))
    x_of = {p: i for i, p in enumerate(points)}
    width = max(6.0, 1.5 + PANEL_W * len(points))
    fig, axes = plt.subplots(len(targets), 1, figsize=(width, PANEL_H * len(targets) + 0.8), squeeze=False)
    for ax, target in zip(axes[:, 0], targets):
        mine = [r for r in rows if r.target == target]
        lines = list(dict.fromkeys((r.domain, r.pool) for r in mine))
        for n, (domain, pool) in enumerate(lines):
            line = sorted((r for r in mine if r.domain == domain and r.pool == pool), key=lambda r: x_of[r.point])
            xs = [x_of[r.point] for r in line]
            colour = f"C{n % 10}"
            label = pool if domain == "all" else f"{domain}, {pool}"
            ax.plot(xs, [r.score for r in line], "-", color=colour, label=label, lw=1.5)
            ax.fill_between(xs, [r.score_low for r in line], [r.score_high for r in line], color=colour, alpha=0.18)
            ax.plot(xs, [r.reference for r in line], ":", color=colour, lw=1)
            for r, x in zip(line, xs):
                ax.plot(x, r.score, "o", color=colour, mfc=colour if r.decodable else "white", ms=5)
        first = mine[0]
        if first.metric == "accuracy" and not math.isnan(first.behaviour_accuracy):
            ax.axhspan(first.behaviour_low, first.behaviour_high, color="0.5", alpha=0.2, lw=0)
            kappa = f"{first.behaviour_kappa:.2f}" if not math.isnan(first.behaviour_kappa) else "n/a"
            note = " (one answer to every item)" if first.behaviour_degenerate else ""
            ax.axhline(
                first.behaviour_accuracy,
                color="0.3",
                lw=1.2,
                label=f"observer's answers: accuracy {first.behaviour_accuracy:.2f}, kappa {kappa}{note}",
            )
        ax.set_ylabel("probe accuracy" if first.metric == "accuracy" else "probe R$^2$ (out of fold)")
        ax.set_title(
            f"{target}: filled = decodable (Holm, {results.config.level:g}); dotted = chance level", fontsize=9
        )
        ax.set_xticks(range(len(points)))
        ax.set_xticklabels(points, rotation=90, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    model = results.cache.get("model") or ""
    adapter = results.cache.get("adapter") or ""
    fig.suptitle(f"probes of {model}" + (f" + {adapter}" if adapter else ""), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
