"""The report's tables, as DataFrames: accuracy by cell and epoch, kappa, paired differences.

How seeds combine (the study reports the mean over three seeds):
- accuracy: the mean of the per-seed accuracies; the interval is the mean of the per-seed
  95% Wilson bounds, so its width reflects the number of items (repeating the same items
  with another seed is not new evidence about them); `seed_sd` shows the spread.
- kappa: per participant the mean over seeds; an item bootstrap applies each resample to
  every seed alike (see `metrics`).
Humans: a participant is one observer; the human accuracy is the mean over participants
and its interval the central 95% of 10,000 resamples of participants.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from cubeworld.analysis.loading import HUMANS, condition_label
from cubeworld.analysis.metrics import (
    CI_LEVEL,
    DEFAULT_SEED,
    N_BOOT,
    human_human_kappa,
    kappa_to_humans,
    kappa_to_truth,
    item_bootstrap_mean_kappa,
    kappa_difference_from_boots,
    wilson_interval,
)

ALL = "all"
MAX_PAIRS = 45  # beyond 10 observers in one set, compare each only with the most human-like


def select_epoch(pred: pd.DataFrame, epoch: int | str = "last") -> pd.DataFrame:
    """Rows at one epoch per run: the last one each run reached (default) or a given one.

    A run is (model, adapter, condition, seed) on one set; zero-shot rows are epoch 0.
    """
    if epoch == "last":
        keys = ["model", "adapter", "condition", "seed", "set"]
        last = pred.groupby(keys, dropna=False)["epoch"].transform("max")
        return pred[pred["epoch"] == last]
    return pred[pred["epoch"] == int(epoch)]


def _with_observer(pred: pd.DataFrame) -> pd.DataFrame:
    if "observer" in pred.columns:
        return pred
    pred = pred.copy()
    pred["observer"] = [
        condition_label(m, a, c, e)
        for m, a, c, e in zip(pred["model"], pred["adapter"], pred["condition"], pred["epoch"])
    ]
    return pred


def accuracy_table(
    pred: pd.DataFrame,
    by: tuple[str, ...] = ("observer", "set", "n_blocks"),
    *,
    totals: bool = True,
) -> pd.DataFrame:
    """Accuracy with 95% Wilson intervals per group, averaged over seeds.

    With `totals`, and `n_blocks` in `by`, each group also gets an `n_blocks = "all"` row.
    Columns: the `by` keys, accuracy, ci_low, ci_high, n_items (per seed), n_seeds,
    seed_sd, correct, n (pooled over seeds).
    """
    pred = _with_observer(pred)
    by = list(by)
    frames = [pred.assign(n_blocks=pred["n_blocks"].astype(str))] if "n_blocks" in by else [pred]
    if totals and "n_blocks" in by:
        frames.append(pred.assign(n_blocks=ALL))
    df = pd.concat(frames, ignore_index=True)
    if "seed" not in df.columns:
        df = df.assign(seed="")
    per_seed = (
        df.groupby(by + ["seed"], dropna=False, sort=False)["correct"]
        .agg(k="sum", n="count")
        .reset_index()
    )
    per_seed["acc"] = per_seed["k"] / per_seed["n"]
    lo, hi = wilson_interval(per_seed["k"].to_numpy(), per_seed["n"].to_numpy())
    per_seed["lo"], per_seed["hi"] = lo, hi
    out = (
        per_seed.groupby(by, dropna=False, sort=False)
        .agg(
            accuracy=("acc", "mean"),
            ci_low=("lo", "mean"),
            ci_high=("hi", "mean"),
            n_items=("n", "mean"),
            n_seeds=("acc", "size"),
            seed_sd=("acc", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0),
            correct=("k", "sum"),
            n=("n", "sum"),
        )
        .reset_index()
    )
    return _sort_blocks(out, by)


def _sort_blocks(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if "n_blocks" not in df.columns:
        return df.sort_values(by).reset_index(drop=True)
    order = df["n_blocks"].map(lambda v: (1, 0) if v == ALL else (0, int(v)))
    df = df.assign(_o=order).sort_values([c for c in by if c != "n_blocks"] + ["_o"])
    return df.drop(columns="_o").reset_index(drop=True)


def human_accuracy_table(
    humans: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """Humans' accuracy per set x n_blocks (+ "all"): mean over participants, bootstrap CI."""
    rng = np.random.default_rng(seed)
    frames = [humans.assign(n_blocks=humans["n_blocks"].astype(str)), humans.assign(n_blocks=ALL)]
    df = pd.concat(frames, ignore_index=True)
    rows = []
    tail = (1 - CI_LEVEL) / 2 * 100
    for (s, nb), g in df.groupby(["set", "n_blocks"], sort=False):
        acc = g.groupby("participant")["correct"].mean().to_numpy()
        idx = rng.integers(0, acc.size, size=(n_boot, acc.size))
        lo, hi = np.percentile(acc[idx].mean(axis=1), [tail, 100 - tail])
        rows.append({
            "observer": HUMANS, "set": s, "n_blocks": nb, "accuracy": float(acc.mean()),
            "ci_low": float(lo), "ci_high": float(hi),
            "n_items": int(g["stimulus_id"].nunique()), "n_participants": int(acc.size),
            "participant_min": float(acc.min()), "participant_max": float(acc.max()),
            "correct": int(g["correct"].sum()), "n": int(len(g)),
        })
    return _sort_blocks(pd.DataFrame(rows), ["observer", "set", "n_blocks"])


def epoch_table(pred: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per observer x set x n_blocks (+ all) x epoch (for the learning curves)."""
    return accuracy_table(pred, by=("observer", "set", "n_blocks", "epoch"))


# --------------------------------------------------------------------------- kappa


def _model_matrix(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """(seed x stimulus) matrix of `column`; stimuli not answered under every seed dropped."""
    m = rows.pivot_table(index="seed", columns="stimulus_id", values=column, aggfunc="first")
    return m.dropna(axis=1)


def kappa_table(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    humans: pd.DataFrame | None,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per set and observer: kappa to the truth and to the humans, intervals and bounds.

    Returns (kappa, differences). With humans, the `humans` row holds their mean kappa to
    the truth and the human-human ceiling; `differences` holds paired item-bootstrap tests
    of the difference in mean kappa to the humans between observers.
    """
    rows, diffs = [], []
    pred = _with_observer(pred)
    for set_name, sp in pred.groupby("set", sort=True):
        t = truth[truth["set"] == set_name].set_index("stimulus_id")
        hs = None
        if humans is not None:
            hs = humans[humans["set"] == set_name]
            if hs.empty or hs["participant"].nunique() < 2:
                hs = None
        H = None
        if hs is not None:
            H = hs.pivot_table(index="stimulus_id", columns="participant", values="correct",
                               aggfunc="first").astype(float)
        human_corr: dict[str, tuple[np.ndarray, list[str]]] = {}
        for obs, g in sp.groupby("observer", sort=True):
            yes = _model_matrix(g, "says_yes")
            ids = list(yes.columns)
            truth_yes = t.loc[ids, "falls"].astype(int).to_numpy()
            kt = kappa_to_truth(yes.to_numpy(), truth_yes, n_boot=n_boot, seed=seed)
            row = {
                "set": set_name, "observer": obs,
                "model": ", ".join(sorted(g["model"].unique())),
                "n_seeds": int(yes.shape[0]), "n_items": len(ids),
                "accuracy": float(_model_matrix(g, "correct").to_numpy().mean()),
                "kappa_truth": kt.kappa, "kappa_truth_ci_low": kt.ci_low,
                "kappa_truth_ci_high": kt.ci_high, "kappa_truth_min": kt.kappa_min,
                "kappa_truth_max": kt.kappa_max,
            }
            if H is not None:
                shared = [i for i in ids if i in H.index]
                if len(shared) >= 2:
                    corr = _model_matrix(g, "correct")[shared].astype(float).to_numpy()
                    Hm = H.loc[shared].to_numpy()
                    keep = ~np.all(np.isnan(Hm), axis=0)
                    kh = kappa_to_humans(corr, Hm[:, keep], n_boot=n_boot, seed=seed)
                    row.update({
                        "kappa_humans": kh.kappa, "kappa_humans_ci_low": kh.ci_low,
                        "kappa_humans_ci_high": kh.ci_high, "kappa_humans_min": kh.kappa_min,
                        "kappa_humans_max": kh.kappa_max, "n_participants": kh.n_observers,
                        "n_items_humans": len(shared), "n_degenerate": kh.n_degenerate,
                    })
                    human_corr[obs] = (corr, shared)
            rows.append(row)
        if H is not None:
            rows.append(_human_row(set_name, hs, H, t, n_boot, seed))
            diffs.extend(_differences(set_name, human_corr, H, rows, n_boot, seed))
    kappa = pd.DataFrame(rows)
    return kappa, pd.DataFrame(diffs)


def _human_row(set_name, hs, H, t, n_boot, seed) -> dict:
    R = hs.pivot_table(index="stimulus_id", columns="participant", values="response",
                       aggfunc="first").astype(float)
    R = R.loc[H.index, H.columns]
    truth_yes = t.loc[list(H.index), "falls"].astype(int).to_numpy()
    kt = kappa_to_truth(R.to_numpy().T, truth_yes, n_boot=n_boot, seed=seed)
    hh = human_human_kappa(H.to_numpy(), n_boot=n_boot, seed=seed)
    return {
        "set": set_name, "observer": HUMANS, "model": HUMANS, "n_seeds": 0,
        "n_items": int(H.shape[0]), "accuracy": float(np.nanmean(H.to_numpy(), axis=0).mean()),
        "kappa_truth": kt.kappa, "kappa_truth_ci_low": kt.ci_low,
        "kappa_truth_ci_high": kt.ci_high, "kappa_truth_min": kt.kappa_min,
        "kappa_truth_max": kt.kappa_max,
        "kappa_humans": hh.kappa, "kappa_humans_ci_low": hh.ci_low,
        "kappa_humans_ci_high": hh.ci_high, "kappa_humans_min": hh.kappa_min,
        "kappa_humans_max": hh.kappa_max, "n_participants": hh.n_observers,
        "n_items_humans": int(H.shape[0]), "n_degenerate": hh.n_degenerate,
    }


def _differences(set_name, human_corr, H, rows, n_boot, seed) -> list[dict]:
    names = sorted(human_corr)
    pairs = list(itertools.combinations(names, 2))
    if len(pairs) > MAX_PAIRS:
        best = max(
            (r for r in rows if r["set"] == set_name and r["observer"] in human_corr),
            key=lambda r: r["kappa_humans"],
        )["observer"]
        pairs = [(best, n) for n in names if n != best]
    cache: dict[tuple[str, tuple[str, ...]], tuple[float, np.ndarray]] = {}

    def boots(name: str, items: list[str]) -> tuple[float, np.ndarray]:
        key = (name, tuple(items))
        if key not in cache:
            corr, ids = human_corr[name]
            c = pd.DataFrame(corr, columns=ids)[items].to_numpy()
            cache[key] = item_bootstrap_mean_kappa(c, H.loc[items].to_numpy(), n_boot=n_boot,
                                                   seed=seed)
        return cache[key]

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for a, b in pairs:
            ib = set(human_corr[b][1])
            shared = [i for i in human_corr[a][1] if i in ib]
            if len(shared) < 2:
                continue
            # same items + same seed = same resamples: the difference is a paired bootstrap
            d = kappa_difference_from_boots(*boots(a, shared), *boots(b, shared))
            out.append({"set": set_name, "observer_a": a, "observer_b": b,
                        "n_items": len(shared), **d.as_dict()})
    return out
