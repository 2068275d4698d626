"""Which participants the human table flags as excluded, by which rule (contract D), and
whether the analysis left them out (the default) or was asked to include them."""

from __future__ import annotations

from cubeworld.analysis.unit import RANK_WARNING, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import NO_HUMANS


def check(ctx: AnalysisContext) -> list[str]:
    return [] if ctx.data.humans is not None else [NO_HUMANS]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    ex = ctx.data.exclusions
    if ex is None:
        return AnalysisOutput()
    if not ex.flagged:
        return AnalysisOutput(
            methods=[
                "The human table carries no exclusion flags (no 'excluded' column): every participant is analysed."
            ]
        )
    rules = "; ".join(f"{r.rule}: {r.n_participants}" for r in ex.by_rule.itertuples())
    if ex.included:
        text = (
            f"{ex.n_excluded} of {ex.n_participants} participants are flagged excluded "
            f"({rules or 'no rule named'}) and are INCLUDED on request "
            "(--include-excluded)."
        )
    else:
        text = (
            f"{ex.n_excluded} of {ex.n_participants} participants were excluded before "
            f"analysis by the study's declared rules ({rules or 'none flagged'}); "
            f"{ex.n_participants - ex.n_excluded} remain."
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "exclusions",
                "Excluded participants by rule",
                ex.by_rule,
                "Participants (and their responses) that the human study's export flags as "
                "excluded, per rule named in exclusion_rules (a participant flagged by two rules "
                "counts under both). "
                + (
                    "They are included in this analysis on request."
                    if ex.included
                    else "They are left out of every human statistic in this report."
                ),
            )
        ],
        findings=[Finding(text, RANK_WARNING + 2)],
        methods=[
            "Exclusions are decided by the human study before the data (its rules are "
            "applied at export); the analysis leaves out every participant flagged "
            "excluded = 1 unless asked to include them (--include-excluded)."
        ],
        values={"exclusions": ex},
    )


ANALYSIS = Analysis(
    "exclusions", "Exclusions", run, check, "participants excluded by the human study's rules, per rule"
)
