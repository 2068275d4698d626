"""How much probability an observer put on Yes or No at all (contract C's `p_other`).

P(Yes) in the tables is normalised over the two answers; a model that mostly wanted to
say something else still gets a clean-looking P(Yes). Any observer whose mean mass on
Yes plus No is under `MIN_MASS` is flagged on the report's first screen. Tables without
`p_other` (or with it empty) raise no flag.
"""

from __future__ import annotations

import pandas as pd

from cubeworld.analysis.loading import DEFAULT_KIND
from cubeworld.analysis.unit import RANK_WARNING, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut

MIN_MASS = 0.5


def check(ctx: AnalysisContext) -> list[str]:
    if ctx.pred["p_other"].notna().any():
        return []
    return ["the prediction tables carry no p_other (probability outside Yes and No)"]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    p = ctx.pred[ctx.pred["p_other"].notna()]
    if p.empty:
        return AnalysisOutput()
    kinds = ctx.kinds()
    g = p.groupby(["observer", "set"], sort=True)["p_other"]
    table = pd.DataFrame({"mean_p_other": g.mean(), "n": g.size()}).reset_index()
    table.insert(1, "kind", table["observer"].map(lambda o: kinds.get(o, DEFAULT_KIND)))
    table["mass_yes_no"] = 1 - table["mean_p_other"]
    table["flagged"] = table["mass_yes_no"] < MIN_MASS
    findings = []
    for obs, f in table[table["flagged"]].groupby("observer", sort=True):
        where = ", ".join(f"{r.set} {r.mass_yes_no:.2f}" for r in f.itertuples())
        findings.append(
            Finding(
                f"Warning: {obs} put on average under {MIN_MASS} of its probability on Yes or No "
                f"({where}; the rest went to other tokens): its normalised P(Yes) hides that it "
                "wanted to say something else.",
                RANK_WARNING,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "answer_mass",
                "Probability mass on Yes and No",
                table,
                f"Per observer and set: mean p_other (probability outside the two answers, over "
                f"the full vocabulary) and mass_yes_no = 1 - mean p_other; flagged where that is "
                f"under {MIN_MASS}. Rows without p_other are left out (n counts the rest).",
            )
        ],
        findings=findings,
        values={"table": table},
    )


ANALYSIS = Analysis(
    "answer_mass", "Answer mass", run, check, "flags observers whose mean mass on Yes plus No is under 0.5"
)
