"""The fitted physics observer beside people: accuracy per size of the people, the observer
fitted to them and the ideal observer on one axis, with the fitted parameters and their
intervals in the caption (the fit's own tables, read through `formats.fits`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from cubeworld.analysis.plotting import HUMAN_COLOR, PAGE_WIDTH_IN, TRUTH_COLOR, kind_style, render, style
from cubeworld.analysis.unit import RANK_ALIGNMENT, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._fits import fit_reasons, parameters, who

LINES = (("people", "people", HUMAN_COLOR, "o", "-"), ("fitted", "fitted observer", None, "s", "--"))


def _figure(ctx: AnalysisContext):
    style()
    panels = [(f, d) for f in ctx.data.fits for d in dict.fromkeys(f.per_size["domain"])]
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(PAGE_WIDTH_IN, 2.9 * rows), squeeze=False, layout="constrained", sharey=True
    )
    physics = kind_style(["physics"])["physics"][0]
    for ax, (fit, domain) in zip(axes.flat, panels):
        d = fit.per_size[fit.per_size["domain"] == domain].sort_values("n_blocks")
        for column, label, color, marker, line in LINES:
            ax.plot(d["n_blocks"], d[column], marker=marker, linestyle=line, color=color or physics, label=label)
        ax.plot(d["n_blocks"], d["ideal"], linestyle=":", color=TRUTH_COLOR, label="ideal observer")
        ax.set(title=f"{fit.name}: {domain}", xlabel="blocks", ylabel="accuracy", ylim=(0.3, 1.03))
        ax.set_xticks(list(d["n_blocks"]))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    axes[0][0].legend(loc="lower left")
    return fig


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if not ctx.data.fits:
        return AnalysisOutput()
    params = "; ".join(f"{f.name}: {parameters(f)} ({who(f)}, {f.items} items)" for f in ctx.data.fits)
    fig = render(
        _figure(ctx),
        "fig_fit_per_size",
        "The physics observer fitted to people, per size",
        "Accuracy per block count of the people (share of right answers), the physics observer "
        "fitted to them (its expected share right at the fitted settings: P(Yes) on items that "
        "fall, 1 - P(Yes) on the others) and the ideal observer (the noise-free re-simulation "
        f"gives the label: 1). Fitted by maximum likelihood, 95% crossed-bootstrap intervals: {params}.",
    )
    frames = [f.per_size.assign(fit=f.name) for f in ctx.data.fits]
    table = pd.concat(frames, ignore_index=True)[["fit", "domain", "n_blocks", "items", "people", "fitted", "ideal"]]
    findings = [
        Finding(
            f"Fit {f.name}: {parameters(f)} (maximum likelihood, 95% crossed-bootstrap intervals; {who(f)})",
            RANK_ALIGNMENT + 5,
        )
        for f in ctx.data.fits
    ]
    return AnalysisOutput(
        tables=[
            TableOut(
                "fit_per_size",
                "Accuracy per size: people, the fitted and the ideal observer",
                table,
                "people: share of right answers; fitted: the fitted observer's expected share right; "
                "ideal: the noise-free observer (1).",
            )
        ],
        figures=[fig],
        findings=findings,
        methods=[
            "Fits (cubeworld fit physics): the physics observer's settings and a lapse fitted to "
            "people's item-level answers by maximum likelihood on a grid with one refinement, "
            "common random numbers across settings; intervals from the crossed bootstrap "
            "(participants and items resampled, refitted). The report reads the fit's folder."
        ],
        values={"table": table},
    )


ANALYSIS = Analysis(
    "fit_curve",
    "The fitted physics observer per size",
    run,
    fit_reasons,
    "accuracy per size of people, the fitted and the ideal observer; fitted parameters with intervals",
)
