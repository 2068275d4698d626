"""Human labels against the truth (the paper's section 3.6): for every training set a
condition learned people's majority answers on, and for every evaluated set with human
responses, how often the majority is right and its phi correlation with the truth."""

from __future__ import annotations

import pandas as pd

from cubeworld.analysis.human_labels import majority_agreement
from cubeworld.analysis.unit import RANK_OTHER, Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.analysis.units._common import ci


def _label_sets(ctx: AnalysisContext) -> list[tuple[str, str, pd.DataFrame, pd.DataFrame]]:
    """(role, set name, truth rows, responses) for every human-labelled training set and
    every evaluated set with people's answers."""
    out = []
    for scope in ctx.data.training.values():
        for hl in scope.human_labels:
            out.append((f"training labels of {hl.condition}", hl.set_name, hl.truth, hl.responses))
    for s in ctx.sets:
        hs = ctx.humans_on(s)
        if hs is not None:
            out.append(("evaluation set", s, ctx.data.truth[ctx.data.truth["set"] == s], hs))
    return out


def check(ctx: AnalysisContext) -> list[str]:
    if _label_sets(ctx):
        return []
    return ["no human responses, and no condition trained on human labels"]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    rows = []
    for role, name, truth, responses in _label_sets(ctx):
        R = responses.pivot_table(index="stimulus_id", columns="participant", values="response", aggfunc="first")
        t = truth.drop_duplicates("stimulus_id").set_index("stimulus_id")["falls"]
        R = R.loc[[i for i in R.index if i in t.index]]
        a = majority_agreement(
            R.to_numpy(dtype=float), t.loc[R.index].astype(float).to_numpy(), n_boot=ctx.n_boot, seed=ctx.seed
        )
        rows.append({"role": role, "set": name, **a.as_dict()})
    if not rows:
        return AnalysisOutput()
    table = pd.DataFrame(rows)
    findings = []
    for _, r in table.iterrows():
        first = r["role"] != "evaluation set"
        findings.append(
            Finding(
                f"Human labels ({r['role']}, {r['set']}): the majority answer of {int(r['n_participants'])} "
                f"participants is right on {ci(r['accuracy'], r['accuracy_ci_low'], r['accuracy_ci_high'])} of "
                f"{int(r['n_items'])} items, phi {ci(r['phi'], r['phi_ci_low'], r['phi_ci_high'])} with the truth"
                + (f" ({int(r['n_ties'])} ties left out)" if r["n_ties"] else "")
                + ".",
                RANK_OTHER - 5 if first else RANK_OTHER,
            )
        )
    return AnalysisOutput(
        tables=[
            TableOut(
                "human_labels",
                "Human majority labels against the truth",
                table,
                "Per set: the share of items whose majority answer (over participants) is the true "
                "one (accuracy) and the phi coefficient of majority and truth, with 95% intervals "
                f"from {ctx.n_boot:,} crossed resamples (items and participants drawn, the majority "
                "recomputed from the drawn people); ties (as many Yes as No) are left out and "
                "counted. role: the training labels of a condition, or an evaluated set.",
            )
        ],
        findings=findings,
        methods=[
            "Human labels: the majority answer per item against the ground truth (accuracy, and "
            "phi, the correlation of two 0/1 variables), the agreement the paper reports in its "
            "section 3.6: what a model trained on people's answers can learn about the truth."
        ],
        values={"table": table},
    )


ANALYSIS = Analysis(
    "human_labels",
    "Human labels against the truth",
    run,
    check,
    "majority answers of people against the truth (accuracy, phi) for human-label training sets",
)
