"""Small helpers the analysis units share: number formats and observer signals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cubeworld.analysis.loading import DEFAULT_KIND

NO_HUMANS = "no human responses given (--humans)"


def ci(v: float, lo: float, hi: float, digits: int = 2) -> str:
    """'0.61 [0.52, 0.70]' (or 'n/a' for NaN)."""
    if not np.isfinite(v):
        return "n/a"
    f = f"{{:.{digits}f}}"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f.format(v)
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


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
