"""Human accuracy per set and block count: mean over participants, bootstrap interval."""

from __future__ import annotations

from cubeworld.analysis.tables import ALL, human_accuracy_table
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import NO_HUMANS, ci


def check(ctx: AnalysisContext) -> list[str]:
    return [] if ctx.data.humans is not None else [NO_HUMANS]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    if ctx.data.humans is None:
        return AnalysisOutput()
    acc = human_accuracy_table(ctx.data.humans, n_boot=ctx.n_boot, seed=ctx.seed)
    acc = acc[acc["set"].isin(ctx.sets)].reset_index(drop=True)
    findings = []
    for s, g in acc[acc["n_blocks"] == ALL].groupby("set"):
        r = g.iloc[0]
        findings.append(
            Finding(
                f"{s}: humans' mean accuracy {ci(r['accuracy'], r['ci_low'], r['ci_high'], 3)} "
                f"({int(r['n_participants'])} participants; single participants from "
                f"{r['participant_min']:.2f} to {r['participant_max']:.2f}).",
                12,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "accuracy_humans",
                "Human accuracy",
                acc,
                "Human participants' accuracy: mean over participants of each one's share "
                "correct; 95% interval from resampling participants; the range of single "
                "participants' accuracy.",
            )
        ],
        findings=findings,
        methods=[
            f"Human accuracy: mean over participants of each one's share correct; 95% "
            f"interval: central 95% of {ctx.n_boot:,} resamples of participants."
        ],
        values={"table": acc},
    )


ANALYSIS = Analysis(
    "human_accuracy", "Human accuracy", run, check, "humans' accuracy per set and block count (participants resampled)"
)
