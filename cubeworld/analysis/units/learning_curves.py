"""Accuracy over fine-tuning epochs (every epoch of every run, not only the chosen one)."""

from __future__ import annotations

from cubeworld.analysis.plotting import accuracy_over_epochs, render
from cubeworld.analysis.tables import epoch_table
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, TableOut
from cubeworld.analysis.units._common import palette, with_kind


def check(ctx: AnalysisContext) -> list[str]:
    per_obs = ctx.data.predictions.groupby("observer")["epoch"].nunique()
    return [] if (per_obs > 1).any() else ["every observer has one epoch only"]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if check(ctx):
        return AnalysisOutput()
    ep = with_kind(epoch_table(ctx.data.predictions), ctx.kinds())
    fig = accuracy_over_epochs(ep, palette(ctx))
    return AnalysisOutput(
        tables=[
            TableOut(
                "accuracy_by_epoch",
                "Accuracy per epoch",
                ep,
                "Accuracy per observer, set, block count and fine-tuning epoch "
                "(0 = before fine-tuning), as in the learning-curve figure.",
            )
        ],
        figures=[]
        if fig is None
        else [
            render(
                fig,
                "fig_accuracy_over_epochs",
                "Accuracy over fine-tuning epochs",
                "Accuracy per block count (in the observer's colour: lighter for fewer blocks, "
                "darker for more; over all blocks, black) after each fine-tuning epoch, one panel "
                "per observer and evaluation set; bands: 95% Wilson intervals averaged over seeds. "
                "Dotted: chance (0.5).",
            )
        ],
        values={"table": ep},
    )


ANALYSIS = Analysis(
    "learning_curves", "Learning curves", run, check, "accuracy per block count over fine-tuning epochs"
)
