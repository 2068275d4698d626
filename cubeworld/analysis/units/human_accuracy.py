"""Human accuracy per set and block count: mean over participants, with an interval that
resamples items and participants together (the paper's, participants only, beside it)."""

from __future__ import annotations

from cubeworld.analysis.tables import ALL, human_accuracy_table
from cubeworld.analysis.unit import RANK_ACCURACY, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
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
                f"(items and participants resampled; participants only, as the paper: "
                f"[{r['ci_low_paper']:.3f}, {r['ci_high_paper']:.3f}]; {int(r['n_participants'])} "
                f"participants, from {r['participant_min']:.2f} to {r['participant_max']:.2f}).",
                RANK_ACCURACY + 2,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "accuracy_humans",
                "Human accuracy",
                acc,
                "Human participants' accuracy: mean over participants of each one's share "
                "correct; ci_low/ci_high: 95% interval of a crossed bootstrap (items and "
                "participants drawn together); ci_low_paper/ci_high_paper: the paper's interval "
                "(participants only, items fixed); the range of single participants' accuracy.",
            )
        ],
        findings=findings,
        methods=[
            f"Human accuracy: mean over participants of each one's share correct; 95% "
            f"interval: central 95% of {ctx.n_boot:,} crossed resamples (items and "
            "participants each drawn with replacement, every participant's accuracy recomputed "
            "on the drawn items): items are a sample as participants are. The paper's "
            "interval resamples participants only and is several times narrower."
        ],
        values={"table": acc},
    )


ANALYSIS = Analysis(
    "human_accuracy",
    "Human accuracy",
    run,
    check,
    "humans' accuracy per set and block count (items and participants resampled)",
)
