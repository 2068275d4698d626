"""Centaur-style scoring: how well an observer's P(Yes) predicts held-out people's answers.

Why: majority accuracy says whether an observer answers as the crowd does; the negative
log-likelihood (NLL) of each held-out participant's trial-level answers says whether it
*fits people*, answer by answer, as Binz et al.'s Centaur is scored. Any observer with a
P(Yes) (a VLM from its logits, the physics observer, one trained on human judgments) is
scored alike, against chance (P(Yes) = 0.5, NLL log 2 per trial).

The split (`split_people`) never shares a participant or an item between the answers a
model may learn from (`train`) and the answers it is scored on (`test`): people and items
are each split in two, train = people A on items A, test = people B on items B; the
answers of A on B and of B on A are used by neither.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from cubeworld.fitting.config import FitError
from cubeworld.fitting.likelihood import EPS


def split_people(responses: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) responses: `fraction` of participants and of items to train, the rest to test."""
    rng = np.random.default_rng([seed, 4])
    people = np.array(sorted(responses["participant"].unique()))
    items = np.array(sorted(responses["stimulus_id"].unique()))
    if len(people) < 2 or len(items) < 2:
        raise FitError("a split needs at least 2 participants and 2 items")
    n_p = min(len(people) - 1, max(1, round(fraction * len(people))))
    n_i = min(len(items) - 1, max(1, round(fraction * len(items))))
    train_p, train_i = set(rng.permutation(people)[:n_p]), set(rng.permutation(items)[:n_i])
    in_p, in_i = responses["participant"].isin(train_p), responses["stimulus_id"].isin(train_i)
    return responses[in_p & in_i].copy(), responses[~in_p & ~in_i].copy()


def participant_nll(predictions: pd.DataFrame, responses: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """Per (observer, participant): trials, NLL, NLL per trial, and chance's per trial, on the
    items both the table and the participant answered."""
    keys = ["model", "adapter", "condition", "seed", "epoch"]
    keys = [k for k in keys if k in predictions.columns]
    p = predictions[[*keys, "stimulus_id", "p_yes"]].dropna(subset=["p_yes"])
    if p.empty:
        raise FitError(f"{source}: no row with a P(Yes)")
    merged = p.merge(responses[["stimulus_id", "participant", "response"]], on="stimulus_id")
    if merged.empty:
        raise FitError(f"{source}: no stimulus answered by the people given")
    q = np.clip(merged["p_yes"].astype(float).to_numpy(), EPS, 1 - EPS)
    y = merged["response"].astype(int).to_numpy()
    merged["nll"] = -(y * np.log(q) + (1 - y) * np.log1p(-q))
    out = merged.groupby([*keys, "participant"], dropna=False)["nll"].agg(["size", "sum"]).reset_index()
    out = out.rename(columns={"size": "trials", "sum": "nll"})
    out["nll_per_trial"] = out["nll"] / out["trials"]
    out["chance_per_trial"] = math.log(2)
    return out


def score_tables(predictions: list[Path], humans: Path) -> pd.DataFrame:
    from cubeworld.formats.predictions import read_predictions
    from cubeworld.formats.responses import drop_excluded, read_responses

    responses, _ = drop_excluded(read_responses(humans), source=str(humans))
    return pd.concat([participant_nll(read_predictions(p), responses, str(p)) for p in predictions], ignore_index=True)
