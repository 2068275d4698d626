"""Degenerate observers: which observers give one answer to (nearly) every item of a set,
or a P(Yes) that barely varies (`cubeworld.analysis.degenerate`). The other analyses read
the same flags: they mark such observers' kappas, leave them out of tests and never name
them best; this unit lists them and warns on the first screen."""

from __future__ import annotations

from cubeworld.analysis.degenerate import MIN_MINORITY_SHARE, MIN_SPREAD
from cubeworld.analysis.unit import RANK_WARNING, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import answer_profiles


def _observers(n: int) -> str:
    return "1 observer gives" if n == 1 else f"{n} observers give"


def _where(rows) -> str:
    by_obs: dict[str, list[str]] = {}
    for r in rows.itertuples():
        by_obs.setdefault(r.observer, []).append(r.set)
    return "; ".join(f"{o} ({', '.join(s)})" for o, s in by_obs.items())


def run(ctx: AnalysisContext) -> AnalysisOutput:
    prof = answer_profiles(ctx)
    findings = []
    single = prof[prof["one_answer"].astype(bool)]
    if not single.empty:
        findings.append(
            Finding(
                f"Warning: {_observers(single['observer'].nunique())} one answer to (nearly) every "
                f"item of a set: {_where(single)}. Their accuracy is the base rate and their kappas "
                "only reflect which kind of item people find easier: kappas marked, untested, never "
                "ranked.",
                RANK_WARNING + 1,
            )
        )
    flat = prof[prof["flat"].astype(bool) & ~prof["one_answer"].astype(bool)]
    if not flat.empty:
        findings.append(
            Finding(
                f"Warning: the P(Yes) of {flat['observer'].nunique()} observer{'s' * (flat['observer'].nunique() != 1)} "
                f"barely varies across items: {_where(flat)}. Never named best calibrated nor counted as changing "
                "with difficulty.",
                RANK_WARNING + 2,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "answer_profiles",
                "How each observer answered",
                prof,
                "Per set and observer: share of Yes answers (pooled over seeds), the share of the "
                f"less frequent answer (minority_share; one_answer where under {MIN_MINORITY_SHARE}), "
                "and the 5th-95th percentile range of its per-item P(Yes), mean over seeds "
                f"(p_yes_spread; flat where under {MIN_SPREAD}; an observer that only answers is "
                "judged on its 0/1 answers).",
            )
        ],
        findings=findings,
        methods=[
            f"Degenerate observers: one that gives one answer to (nearly) every item of a set (fewer "
            f"than {MIN_MINORITY_SHARE:.0%} of its answers the other way) keeps its numbers but gets no "
            "p-value for its kappas, is left out of paired differences, and is never named best or "
            "most human-like; one whose P(Yes) barely varies (5th-95th percentile range under "
            f"{MIN_SPREAD}), or that scores a Brier score no better than a constant 0.5, is never "
            "named best calibrated nor counted as changing with difficulty."
        ],
        values={"table": prof},
    )


ANALYSIS = Analysis(
    "degenerate",
    "Degenerate observers",
    run,
    summary="observers that give one answer to nearly every item, or a P(Yes) that barely varies",
)
