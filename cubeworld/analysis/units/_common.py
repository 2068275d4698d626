"""Small helpers the analysis units share: number formats, observer signals, and what is
known once per report about every observer (its answer profile, its colour)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cubeworld.analysis.degenerate import answer_profile
from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS

if TYPE_CHECKING:
    from cubeworld.analysis.unit import AnalysisContext

NO_HUMANS = "no human responses given (--humans)"


def ci(v: float, lo: float, hi: float, digits: int = 2) -> str:
    """'0.61 [0.52, 0.70]' (or 'n/a' for NaN)."""
    if not np.isfinite(v):
        return "n/a"
    f = f"{{:.{digits}f}}"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f.format(v)
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def verb(n: int, singular: str, plural: str) -> str:
    """'1 gives' / '2 give': the count and the verb that agrees with it."""
    return f"{n} {singular if n == 1 else plural}"


def p_text(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def with_kind(df: pd.DataFrame, kinds: dict[str, str], after: str = "observer") -> pd.DataFrame:
    """`df` with a `kind` column right after `after` (the observer's kind)."""
    if df.empty or "kind" in df.columns:
        return df
    df = df.copy()
    df.insert(list(df.columns).index(after) + 1, "kind", df[after].map(lambda o: kinds.get(o, DEFAULT_KIND)))
    return df


def observer_signal(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """An observer's graded signal on its items: (seed x item) P(Yes), and its name.

    P(Yes) where every row has one and some value lies strictly between 0 and 1; else the
    0/1 answers ("answers": an observer that only answers, like the published models).
    """
    p = rows["p_yes"]
    graded = p.notna().all() and bool(((p > 0) & (p < 1)).any())
    col = "p_yes" if graded else "says_yes"
    m = rows.pivot_table(index="seed", columns="stimulus_id", values=col, aggfunc="first")
    return m.dropna(axis=1).astype(float), ("p_yes" if graded else "answers")


def human_share(hs: pd.DataFrame) -> pd.Series:
    """Per item, the share of participants who answered Yes."""
    return hs.groupby("stimulus_id")["response"].mean().astype(float)


def answer_profiles(ctx: AnalysisContext) -> pd.DataFrame:
    """Per set and observer: how it answered (`degenerate.answer_profile`): share of Yes,
    minority share, `one_answer` (one answer to nearly every item) and `flat` (P(Yes)
    barely varies). Computed once per report; every unit reads the same flags."""
    if "answer_profiles" not in ctx.cache:
        kinds = ctx.kinds()
        rows = []
        for (s, obs), g in ctx.pred.groupby(["set", "observer"], sort=True):
            yes = g.pivot_table(index="seed", columns="stimulus_id", values="says_yes", aggfunc="first")
            sig, what = observer_signal(g)
            prof = answer_profile(yes.to_numpy(), sig.to_numpy() if what == "p_yes" else None)
            rows.append(
                {"set": s, "observer": obs, "kind": kinds.get(obs, DEFAULT_KIND), "signal": what, **prof.as_dict()}
            )
        ctx.cache["answer_profiles"] = pd.DataFrame(
            rows,
            columns=[
                "set",
                "observer",
                "kind",
                "signal",
                "n_items",
                "share_yes",
                "minority_share",
                "one_answer",
                "p_yes_spread",
                "flat",
            ],
        )
    return ctx.cache["answer_profiles"]


def flagged(ctx: AnalysisContext, flag: str) -> set[tuple[str, str]]:
    """(set, observer) pairs whose answer profile has `flag` ("one_answer" or "flat")."""
    prof = answer_profiles(ctx)
    f = prof[prof[flag].astype(bool)]
    return set(zip(f["set"], f["observer"]))


def palette(ctx: AnalysisContext) -> dict[str, tuple]:
    """One colour per observer for every figure of the report (humans: the human colour)."""
    if "palette" not in ctx.cache:
        from cubeworld.analysis.plotting import observer_colors

        observers = sorted(ctx.data.predictions["observer"].unique()) + [HUMANS]
        ctx.cache["palette"] = observer_colors(observers, ctx.kinds())
    return ctx.cache["palette"]
