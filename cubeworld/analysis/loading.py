"""Data loading for the analysis: prediction tables, ground truth, human responses.

Everything is checked here, once, with errors that name the file and the problem
(`AnalysisInputError`); the metric and plotting code downstream can then trust its input.
Ground truth comes from set folders (`--truth`) when given, otherwise from the `falls`
column the prediction tables carry (which must then agree across rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from cubeworld.errors import CubeworldError
from cubeworld.formats.predictions import (
    KEY_COLUMNS,
    PredictionsFormatError,
    read_predictions,
    validate_predictions,
)
from cubeworld.formats.responses import ResponsesFormatError, read_responses, validate_responses
from cubeworld.formats.sets import SetFormatError, load_set

HUMANS = "humans"
ZERO_SHOT = "zero-shot"
TRUTH_COLUMNS = ("set", "stimulus_id", "domain", "n_blocks", "falls")


class AnalysisInputError(CubeworldError):
    """An input of the analysis is unusable; the message names the file and the problem."""


@dataclass
class AnalysisData:
    """Checked inputs: predictions (with an `observer` label), truth and human responses.

    predictions: all rows of all tables (every epoch), plus `source` (file) and `observer`.
    truth: one row per (set, stimulus_id). humans: responses joined to the truth (one row
    per set the stimulus is in), with `correct`; None when no human table was given.
    """

    predictions: pd.DataFrame
    truth: pd.DataFrame
    humans: pd.DataFrame | None
    sources: list[str]


def condition_label(model: str, adapter: str, condition: str, epoch: int) -> str:
    """What a row of the figures is called: its condition, or "zero-shot" for a base model."""
    if condition:
        return condition
    if not adapter and int(epoch) == 0:
        return ZERO_SHOT
    return adapter or "fine-tuned"


def load_predictions(paths: Sequence[str | Path | pd.DataFrame]) -> pd.DataFrame:
    """Read and concatenate prediction tables; duplicates across files are an error too.

    Items may be paths or DataFrames already in memory (named `predictions[i]` in errors).
    """
    if not paths:
        raise AnalysisInputError("no prediction tables given")
    frames = []
    for i, p in enumerate(paths):
        name = f"predictions[{i}]" if isinstance(p, pd.DataFrame) else str(p)
        try:
            df = validate_predictions(p, name) if isinstance(p, pd.DataFrame) else (
                read_predictions(p))
        except PredictionsFormatError as e:
            raise AnalysisInputError(str(e)) from None
        df["source"] = name
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df["seed"] = df["seed"].astype(str).replace({"nan": "", "None": ""})
    df["seed"] = df["seed"].str.replace(r"\.0$", "", regex=True)
    try:
        df["epoch"] = df["epoch"].astype(int)
        df["n_blocks"] = df["n_blocks"].astype(int)
    except (TypeError, ValueError) as e:
        raise AnalysisInputError(f"{', '.join(map(str, paths))}: epoch and n_blocks must be "
                                 f"integers ({e})") from None
    dup = df.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        files = sorted(set(df.loc[dup, "source"]))
        raise AnalysisInputError(
            f"{', '.join(files)}: {int(dup.sum())} duplicate prediction rows across tables, e.g. "
            f"stimulus {first['stimulus_id']!r} of model {first['model']!r} "
            f"(condition {first['condition']!r}, seed {first['seed']!r}, epoch {first['epoch']})"
        )
    labels = {
        r: condition_label(*r)
        for r in df[["model", "adapter", "condition", "epoch"]].drop_duplicates().itertuples(
            index=False, name=None)
    }
    cond = [labels[r] for r in df[["model", "adapter", "condition", "epoch"]].itertuples(
        index=False, name=None)]
    multi_model = df["model"].nunique() > 1
    df["observer"] = [f"{m} · {c}" if multi_model else c for m, c in zip(df["model"], cond)]
    df["correct"] = df["correct"].astype(bool)
    df["says_yes"] = (df["answer"] == "Yes").astype(int)
    bad = df["correct"] != (df["says_yes"].astype(bool) == df["falls"].astype(bool))
    if bad.any():
        first = df[bad].iloc[0]
        raise AnalysisInputError(
            f"{first['source']}: row for stimulus {first['stimulus_id']!r}: correct="
            f"{first['correct']} contradicts answer {first['answer']!r} and falls={first['falls']}"
        )
    return df


def load_truth(set_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """Ground truth rows of the given set folders, keyed by (set card name, stimulus id)."""
    rows = []
    for d in set_dirs:
        try:
            s = load_set(d, check_images=False)
        except SetFormatError as e:
            raise AnalysisInputError(str(e)) from None
        for r in s.rows:
            rows.append((s.name, r.stimulus_id, r.domain, r.n_blocks, r.falls))
    df = pd.DataFrame(rows, columns=list(TRUTH_COLUMNS))
    dup = df.duplicated(["set", "stimulus_id"])
    if dup.any():
        raise AnalysisInputError(f"--truth: set {df.loc[dup, 'set'].iloc[0]!r} was given twice "
                                 "(two set folders with the same card name)")
    return df


def truth_from_predictions(pred: pd.DataFrame) -> pd.DataFrame:
    """Ground truth as the prediction tables state it; they must agree with each other."""
    t = pred[["set", "stimulus_id", "domain", "n_blocks", "falls", "source"]]
    u = t.drop_duplicates(list(TRUTH_COLUMNS))
    clash = u.duplicated(["set", "stimulus_id"], keep=False)
    if clash.any():
        first = u[clash].iloc[0]
        files = sorted(set(u.loc[clash, "source"]))
        raise AnalysisInputError(
            f"{', '.join(files)}: rows for stimulus {first['stimulus_id']!r} of set "
            f"{first['set']!r} disagree on domain, n_blocks or falls"
        )
    return u[list(TRUTH_COLUMNS)].reset_index(drop=True)


def check_against_truth(pred: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Every prediction must name a (set, stimulus) of the truth and agree with its label."""
    m = pred.merge(truth, on=["set", "stimulus_id"], how="left", suffixes=("", "_truth"),
                   indicator=True)
    lacking = m["_merge"] == "left_only"
    if lacking.any():
        first = m[lacking].iloc[0]
        sets = sorted(truth["set"].unique())
        raise AnalysisInputError(
            f"{first['source']}: {int(lacking.sum())} prediction(s) for stimulus ids the ground "
            f"truth lacks, e.g. {first['stimulus_id']!r} in set {first['set']!r} "
            f"(truth sets: {sets})"
        )
    wrong = (m["falls"].astype(bool) != m["falls_truth"].astype(bool)) | (
        m["n_blocks"].astype(int) != m["n_blocks_truth"].astype(int))
    if wrong.any():
        first = m[wrong].iloc[0]
        raise AnalysisInputError(
            f"{first['source']}: stimulus {first['stimulus_id']!r} of set {first['set']!r} has "
            f"falls={first['falls']}, n_blocks={first['n_blocks']} but the truth says "
            f"falls={first['falls_truth']}, n_blocks={first['n_blocks_truth']}"
        )


def load_humans(source: str | Path | pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Human responses joined on stimulus_id with every truth set that holds the stimulus."""
    name = "humans" if isinstance(source, pd.DataFrame) else str(source)
    try:
        h = validate_responses(source, name) if isinstance(source, pd.DataFrame) else (
            read_responses(source))
    except ResponsesFormatError as e:
        raise AnalysisInputError(str(e)) from None
    n_part = h["participant"].nunique()
    if n_part < 2:
        raise AnalysisInputError(
            f"{name}: the human table has only {n_part} participant; the analysis needs at "
            "least two (the human-human consistency is the ceiling of every kappa)"
        )
    joined = h.merge(truth, on="stimulus_id", how="inner")
    unknown = ~h["stimulus_id"].isin(truth["stimulus_id"])
    if unknown.all():
        raise AnalysisInputError(
            f"{name}: none of its stimulus ids is in the predictions or truth sets "
            f"(e.g. {h['stimulus_id'].iloc[0]!r})"
        )
    if unknown.any():
        warnings.warn(
            f"{name}: {int(unknown.sum())} response(s) for "
            f"{h.loc[unknown, 'stimulus_id'].nunique()} stimulus id(s) outside the analysed "
            "sets are ignored", stacklevel=2)
    joined["correct"] = (joined["response"].astype(bool) == joined["falls"].astype(bool))
    return joined


def load_inputs(
    predictions: Sequence[str | Path | pd.DataFrame] | str | Path | pd.DataFrame,
    truth: Iterable[str | Path] = (),
    humans: str | Path | pd.DataFrame | None = None,
) -> AnalysisData:
    """Load and check everything `analyze` needs (see `AnalysisData`)."""
    if isinstance(predictions, (str, Path, pd.DataFrame)):
        predictions = [predictions]
    pred = load_predictions(list(predictions))
    truth = list(truth)
    if truth:
        t = load_truth(truth)
        check_against_truth(pred, t)
    else:
        t = truth_from_predictions(pred)
    h = load_humans(humans, t) if humans is not None else None
    return AnalysisData(pred, t, h, sorted(set(pred["source"])))
