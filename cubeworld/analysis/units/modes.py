"""Prompting modes on the same items: each mode's accuracy and failure rate, and how far
the modes agree.

A VLM asked in a generating mode (free, step) is its own observer, "<model>@<mode>" in
the `model` column; its rows carry `mode` and `extraction`. Rows whose text gave no Yes
or No (`extraction` "failed: ...") have no answer: the loader keeps them out of every
other analysis (a failure is never read as a "No") and hands them here, where they are
counted. Per model (the label without "@<mode>"), condition, seed and set:

- `modes`: per mode, the items asked, the items answered, the failure rate
  (unanswered / asked, with its Wilson interval) and the accuracy on the answered items
  (Wilson interval);
- `mode_agreement`: per pair of modes, Cohen's kappa between their answers on the items
  both answered, with its bootstrap interval over items, and the raw agreement. A kappa is
  agreement between two ways of asking one model, not error consistency with people.
Rows without a `mode` (tables written before modes existed, other observer kinds) count as
the study's logprob mode for a VLM and are left out for other kinds.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from cubeworld.analysis.loading import DEFAULT_KIND
from cubeworld.analysis.metrics import kappa_to_truth
from cubeworld.analysis.tables import select_epoch
from cubeworld.analysis.unit import Analysis, AnalysisContext, AnalysisOutput, Finding, TableOut
from cubeworld.formats.predictions import LOGPROB_MODE, base_model
from cubeworld.intervals import wilson_interval

GROUP = ["base", "adapter", "condition", "seed", "set"]


def _rows(ctx: AnalysisContext) -> pd.DataFrame:
    """Answered and unanswered VLM rows at the report's epoch, with their mode and model."""
    frames = [ctx.data.predictions]
    if ctx.data.unanswered is not None and not ctx.data.unanswered.empty:
        frames.append(ctx.data.unanswered)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["kind"] == DEFAULT_KIND]
    rows = select_epoch(rows, ctx.epoch).copy()
    mode = rows["mode"] if "mode" in rows.columns else pd.Series("", index=rows.index)
    rows["mode"] = mode.fillna("").astype(str).replace("", LOGPROB_MODE)
    rows["base"] = [base_model(m, md) for m, md in zip(rows["model"], rows["mode"])]
    return rows


def check(ctx: AnalysisContext) -> list[str]:
    frames = [f for f in (ctx.data.predictions, ctx.data.unanswered) if f is not None and "mode" in f.columns]
    if any((~f["mode"].fillna("").astype(str).isin(["", LOGPROB_MODE])).any() for f in frames):
        return []
    return ["no prediction table was scored in a free or step mode"]


def run(ctx: AnalysisContext) -> AnalysisOutput:
    rows = _rows(ctx)
    if (rows["mode"] == LOGPROB_MODE).all():
        return AnalysisOutput()  # `check` says why
    per_mode = []
    for (base, adapter, condition, seed, set_name, mode), g in rows.groupby([*GROUP, "mode"], sort=True):
        asked, answered = len(g), int(g["answered"].sum())
        failed = asked - answered
        right = int(g.loc[g["answered"], "correct"].sum())
        f_lo, f_hi = wilson_interval(failed, asked)
        a_lo, a_hi = wilson_interval(right, answered) if answered else (np.nan, np.nan)
        per_mode.append(
            {
                "model": base,
                "adapter": adapter,
                "condition": condition,
                "seed": seed,
                "set": set_name,
                "mode": mode,
                "asked": asked,
                "answered": answered,
                "failure_rate": failed / asked,
                "failure_ci_low": float(f_lo),
                "failure_ci_high": float(f_hi),
                "accuracy": right / answered if answered else np.nan,
                "accuracy_ci_low": float(a_lo),
                "accuracy_ci_high": float(a_hi),
            }
        )
    modes = pd.DataFrame(per_mode)
    pairs = []
    for key, g in rows[rows["answered"]].groupby(GROUP, sort=True):
        answers = g.pivot_table(index="stimulus_id", columns="mode", values="says_yes", aggfunc="first")
        for a, b in combinations(sorted(answers.columns), 2):
            both = answers[[a, b]].dropna()
            if both.empty:
                continue
            est = kappa_to_truth(both[a].to_numpy(), both[b].to_numpy(), n_boot=ctx.n_boot, seed=ctx.seed)
            pairs.append(
                {
                    **dict(zip(["model", "adapter", "condition", "seed", "set"], key)),
                    "mode_a": a,
                    "mode_b": b,
                    "n_items": len(both),
                    "agreement": float((both[a] == both[b]).mean()),
                    "kappa": est.kappa,
                    "ci_low": est.ci_low,
                    "ci_high": est.ci_high,
                }
            )
    agreement = pd.DataFrame(pairs)
    findings = [
        Finding(
            f"Warning: {r.model} in {r.mode} mode gave no readable Yes or No on {r.failure_rate:.0%} of "
            f"{r.set} ({r.asked - r.answered} of {r.asked} items; condition {r.condition or 'zero-shot'}).",
            0,
            r.failure_rate,
        )
        for r in modes.itertuples()
        if r.mode != LOGPROB_MODE and r.failure_rate > 0
    ]
    tables = [
        TableOut(
            "modes",
            "Prompting modes: accuracy and extraction failures",
            modes,
            "Per model, condition, seed, set and prompting mode (logprob: the study's P(Yes) from the "
            "answer logits; free: a generated answer; step: reasoning first, then the answer): items asked, "
            "items with a readable answer, the failure rate (95% Wilson interval) and the accuracy on the "
            "answered items (95% Wilson interval). A failure is never counted as a No.",
        )
    ]
    if not agreement.empty:
        tables.append(
            TableOut(
                "mode_agreement",
                "Agreement between prompting modes",
                agreement,
                "Per pair of modes of one model on one set: Cohen's kappa between their Yes/No answers on the "
                "items both answered (95% bootstrap interval over items) and the raw share of equal answers.",
            )
        )
    return AnalysisOutput(
        tables=tables,
        findings=findings,
        methods=[
            "Prompting modes: answers of generating modes were read from the text by one rule (a final "
            "'Answer: Yes/No', else a leading yes/no, else the only one of the two words); texts without an "
            "answer are counted as extraction failures and left out of every other analysis."
        ],
        values={"modes": modes, "agreement": agreement},
    )


ANALYSIS = Analysis(
    "modes",
    "Prompting modes",
    run,
    check,
    "accuracy and extraction failures per prompting mode, and the agreement (kappa) between modes",
)
