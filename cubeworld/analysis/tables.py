"""The report's tables, as DataFrames: accuracy by cell and epoch, kappa, paired differences.

How seeds combine (the study reports the mean over three seeds):
- accuracy: the mean of the per-seed accuracies; the interval is the mean of the per-seed
  95% Wilson bounds, so its width reflects the number of items (repeating the same items
  with another seed is not new evidence about them); `seed_sd` shows the spread.
- kappa: per participant the mean over seeds; intervals are crossed bootstraps over
  items, participants and seeds (see `metrics`).
Humans: a participant is one observer; the human accuracy is the mean over participants
and its interval the central 95% of 10,000 crossed resamples of items and participants
(`ci_low`/`ci_high`); the paper's interval, participants only, is kept beside it
(`ci_low_paper`/`ci_high_paper`).

Observers that give one answer to (nearly) every item of a set (`degenerate.one_answer`)
keep their kappas, marked `one_answer`, but get no p-value: their kappa only reflects that
people find one kind of item easier than the other. Every p-value is one-sided (kappa > 0)
and each family of tests (kappa to the truth, kappa to humans, paired differences) is
Holm-corrected across the whole table, raw and adjusted side by side.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cubeworld.analysis.degenerate import one_answer
from cubeworld.analysis.loading import DEFAULT_KIND, HUMANS, condition_label
from cubeworld.analysis.metrics import (
    CI_LEVEL,
    DEFAULT_SEED,
    N_BOOT,
    bootstrap_mean_kappa,
    human_human_kappa,
    human_pair_counts,
    item_weights,
    kappa_difference_from_boots,
    kappa_to_humans,
    kappa_to_truth,
    pair_counts,
    pairwise_human_kappas,
    resample_weights,
    weighted_nanmean,
    wilson_interval,
)
from cubeworld.analysis.people import leave_one_out_correct, person_observer
from cubeworld.analysis.significance import (
    adjust,
    bootstrap_p_value,
    consistency_p_value,
    mean_kappa_test,
    pooled_consistency_p_value,
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
    keys = list(by)
    frames = [pred.assign(n_blocks=pred["n_blocks"].astype(str))] if "n_blocks" in keys else [pred]
    if totals and "n_blocks" in keys:
        frames.append(pred.assign(n_blocks=ALL))
    df = pd.concat(frames, ignore_index=True)
    if "seed" not in df.columns:
        df = df.assign(seed="")
    per_seed = df.groupby(keys + ["seed"], dropna=False, sort=False)["correct"].agg(k="sum", n="count").reset_index()
    per_seed["acc"] = per_seed["k"] / per_seed["n"]
    lo, hi = wilson_interval(per_seed["k"].to_numpy(), per_seed["n"].to_numpy())
    per_seed["lo"], per_seed["hi"] = lo, hi
    out = (
        per_seed.groupby(keys, dropna=False, sort=False)
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
    return _sort_blocks(out, keys)


def _sort_blocks(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if "n_blocks" not in df.columns:
        return df.sort_values(by).reset_index(drop=True)
    order = df["n_blocks"].map(lambda v: (1, 0) if v == ALL else (0, int(v)))
    df = df.assign(_o=order).sort_values([c for c in by if c != "n_blocks"] + ["_o"])
    return df.drop(columns="_o").reset_index(drop=True)


def _percentile_pair(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CI_LEVEL) / 2 * 100
    v = values[np.isfinite(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [tail, 100 - tail])
    return float(lo), float(hi)


def human_accuracy_table(
    humans: pd.DataFrame,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
    by: tuple[str, ...] = ("set",),
    totals: bool = True,
) -> pd.DataFrame:
    """Humans' accuracy per `by` x n_blocks (+ "all" with `totals`): mean over
    participants; interval from a crossed bootstrap of items and participants (the paper's,
    participants only, beside it). A person's answer to an item counts once even where
    the item is in two of the grouped sets."""
    rng = np.random.default_rng(seed)
    humans = humans.drop_duplicates(list(by) + ["participant", "stimulus_id"])
    frames = [humans.assign(n_blocks=humans["n_blocks"].astype(str))]
    if totals:
        frames.append(humans.assign(n_blocks=ALL))
    df = pd.concat(frames, ignore_index=True)
    rows = []
    for key, g in df.groupby(list(by) + ["n_blocks"], sort=False):
        C = g.pivot_table(index="stimulus_id", columns="participant", values="correct", aggfunc="first").astype(float)
        M = C.notna().to_numpy().astype(np.float32)
        Cz = np.nan_to_num(C.to_numpy()).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = Cz.sum(0) / M.sum(0)
        idx = rng.integers(0, acc.size, size=(n_boot, acc.size))
        paper = _percentile_pair(acc[idx].mean(axis=1))
        W = item_weights(C.shape[0], n_boot, rng)
        V = resample_weights(C.shape[1], n_boot, rng)
        with np.errstate(invalid="ignore", divide="ignore"):
            per = (W @ Cz) / (W @ M)  # (n_boot, P): each participant's accuracy on the drawn items
        crossed = _percentile_pair(weighted_nanmean(per, V))
        rows.append(
            {
                "observer": HUMANS,
                **dict(zip(list(by) + ["n_blocks"], key)),
                "accuracy": float(acc.mean()),
                "ci_low": crossed[0],
                "ci_high": crossed[1],
                "ci_low_paper": paper[0],
                "ci_high_paper": paper[1],
                "n_items": int(C.shape[0]),
                "n_participants": int(acc.size),
                "participant_min": float(acc.min()),
                "participant_max": float(acc.max()),
                "correct": int(g["correct"].sum()),
                "n": int(len(g)),
            }
        )
    return _sort_blocks(pd.DataFrame(rows), ["observer", *by, "n_blocks"])


def epoch_table(pred: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per observer x set x n_blocks (+ all) x epoch (for the learning curves)."""
    return accuracy_table(pred, by=("observer", "set", "n_blocks", "epoch"))


# --------------------------------------------------------------------------- kappa


def _model_matrix(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """(seed x stimulus) matrix of `column`; stimuli not answered under every seed dropped."""
    m = rows.pivot_table(index="seed", columns="stimulus_id", values=column, aggfunc="first")
    return m.dropna(axis=1)


@dataclass
class KappaResults:
    """Everything the kappa analysis computed.

    kappa: one row per set x observer (+ humans). pairs: every kappa between a model and
    one participant, and between two participants, with its exact p-value.
    human_corr: per set, observer -> (seed x item correctness, item ids) for the paired
    differences; human_matrix: per set, the (item x participant) correctness matrix.
    """

    kappa: pd.DataFrame
    pairs: pd.DataFrame
    human_corr: dict[str, dict[str, tuple[np.ndarray, list[str]]]] = field(default_factory=dict)
    human_matrix: dict[str, pd.DataFrame] = field(default_factory=dict)


def _truth_p(yes: np.ndarray, truth_yes: np.ndarray) -> float:
    """Exact one-sided p of Cohen's kappa of answers (seeds x items) with the truth
    (kappa > 0), seeds pooled."""
    tables = [(yes.shape[1], row.sum(), truth_yes.sum(), (row * truth_yes).sum()) for row in yes]
    return pooled_consistency_p_value(tables)


def _participant_p(corr: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Exact one-sided p of the model's kappa with each participant (seeds pooled)."""
    c = pair_counts(corr, H)
    if corr.shape[0] == 1:
        return np.asarray(
            consistency_p_value(c["n"][0], c["right_i"][0], c["right_j"][0], c["both_right"][0]), dtype=float
        )
    return np.array(
        [
            pooled_consistency_p_value(zip(*(c[k][:, j] for k in ("n", "right_i", "right_j", "both_right"))))
            for j in range(H.shape[1])
        ]
    )


def kappa_results(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    humans: pd.DataFrame | None,
    *,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
) -> KappaResults:
    """Per set and observer: kappa to the truth and to the humans, intervals, bounds and
    p-values (see `KappaResults` and the module docstring)."""
    rows, pairs = [], []
    res = KappaResults(pd.DataFrame(), pd.DataFrame())
    pred = _with_observer(pred)
    nan = float("nan")
    for set_name, sp in pred.groupby("set", sort=True):
        t = truth[truth["set"] == set_name].set_index("stimulus_id")
        hs = None
        if humans is not None:
            hs = humans[humans["set"] == set_name]
            if hs.empty or hs["participant"].nunique() < 2:
                hs = None
        H = None
        if hs is not None:
            H = hs.pivot_table(index="stimulus_id", columns="participant", values="correct", aggfunc="first").astype(
                float
            )
            res.human_matrix[set_name] = H
            R = hs.pivot_table(index="stimulus_id", columns="participant", values="response", aggfunc="first")
            R = R.astype(float).reindex(index=H.index, columns=H.columns)
        human_corr: dict[str, tuple[np.ndarray, list[str]]] = {}
        for obs, g in sp.groupby("observer", sort=True):
            yes = _model_matrix(g, "says_yes")
            ids = list(yes.columns)
            truth_yes = t.loc[ids, "falls"].astype(int).to_numpy()
            single = one_answer(yes.to_numpy())
            kt = kappa_to_truth(yes.to_numpy(), truth_yes, n_boot=n_boot, seed=seed)
            row = {
                "set": set_name,
                "observer": obs,
                "model": ", ".join(sorted(g["model"].unique())),
                "kind": "+".join(sorted(g["kind"].unique())) if "kind" in g else DEFAULT_KIND,
                "n_seeds": int(yes.shape[0]),
                "n_items": len(ids),
                "accuracy": float(_model_matrix(g, "correct").to_numpy().mean()),
                "share_yes": float(yes.to_numpy().mean()),
                "one_answer": single,
                "kappa_truth": kt.kappa,
                "kappa_truth_ci_low": kt.ci_low,
                "kappa_truth_ci_high": kt.ci_high,
                "kappa_truth_min": kt.kappa_min,
                "kappa_truth_max": kt.kappa_max,
                "kappa_truth_p": nan if single else _truth_p(yes.to_numpy(), truth_yes),
            }
            if H is not None:
                shared = [i for i in ids if i in H.index]
                if len(shared) >= 2:
                    corr = _model_matrix(g, "correct")[shared].astype(float).to_numpy()
                    Hm = H.loc[shared]
                    keep = ~np.all(np.isnan(Hm.to_numpy()), axis=0)
                    Hm = Hm.loc[:, keep]
                    who = person_observer(g)
                    stored = corr
                    if who is not None:  # people as observers: nobody is compared with themselves
                        # per participant over every column of H (the paired differences use all of them)
                        stored = leave_one_out_correct(
                            who, corr, R.loc[shared], t.loc[shared, "falls"].astype(int).to_numpy()
                        )
                        corr = stored[:, :, keep]
                    kh = kappa_to_humans(corr, Hm.to_numpy(), n_boot=n_boot, seed=seed)
                    paper = kappa_to_humans(corr, Hm.to_numpy(), n_boot=n_boot, seed=seed, resample="participants")
                    p_each = np.full(Hm.shape[1], nan) if single else _participant_p(corr, Hm.to_numpy())
                    row.update(
                        {
                            "kappa_humans": kh.kappa,
                            "kappa_humans_ci_low": kh.ci_low,
                            "kappa_humans_ci_high": kh.ci_high,
                            "kappa_humans_min": kh.kappa_min,
                            "kappa_humans_max": kh.kappa_max,
                            "kappa_humans_p": nan if single else bootstrap_p_value(kh.boots),
                            "kappa_humans_ci_low_paper": paper.ci_low,
                            "kappa_humans_ci_high_paper": paper.ci_high,
                            "kappa_humans_p_paper": nan if single else mean_kappa_test(kh.per_observer).p_value,
                            "share_participants_p05": _share_sig(p_each),
                            "n_participants": kh.n_observers,
                            "n_items_humans": len(shared),
                            "n_degenerate": kh.n_degenerate,
                        }
                    )
                    human_corr[obs] = (stored, shared)
                    n_pair = pair_counts(corr, Hm.to_numpy())["n"].max(0)
                    pairs.append(
                        pd.DataFrame(
                            {
                                "set": set_name,
                                "observer_a": obs,
                                "observer_b": [f"participant {p}" for p in Hm.columns],
                                "n_items": n_pair.astype(int),
                                "kappa": kh.per_observer,
                                "p_value": p_each,
                            }
                        )[n_pair > 0]
                    )
            rows.append(row)
        if H is not None:
            row, hpairs = _human_row(set_name, hs, H, t, n_boot, seed)
            rows.append(row)
            pairs.append(hpairs)
        res.human_corr[set_name] = human_corr
    kappa = pd.DataFrame(rows)
    for col in ("kappa_truth_p", "kappa_humans_p"):  # one family each, across sets
        if col in kappa.columns:
            kappa.insert(list(kappa.columns).index(col) + 1, f"{col}_holm", adjust(kappa[col]))
    res.kappa = kappa
    res.pairs = (
        pd.concat(pairs, ignore_index=True)
        if pairs
        else pd.DataFrame(columns=["set", "observer_a", "observer_b", "n_items", "kappa", "p_value"])
    )
    return res


def _share_sig(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p)]
    return float(np.mean(p < 0.05)) if p.size else float("nan")


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
    res = kappa_results(pred, truth, humans, n_boot=n_boot, seed=seed)
    return res.kappa, kappa_differences_table(res, n_boot=n_boot, seed=seed)


def _human_row(set_name, hs, H, t, n_boot, seed) -> tuple[dict, pd.DataFrame]:
    R = hs.pivot_table(index="stimulus_id", columns="participant", values="response", aggfunc="first").astype(float)
    R = R.loc[H.index, H.columns]
    truth_yes = t.loc[list(H.index), "falls"].astype(int).to_numpy()
    kt = kappa_to_truth(R.to_numpy().T, truth_yes, n_boot=n_boot, seed=seed)
    hh = human_human_kappa(H.to_numpy(), n_boot=n_boot, seed=seed)
    hh_paper = human_human_kappa(H.to_numpy(), n_boot=n_boot, seed=seed, resample="participants")
    c = human_pair_counts(H.to_numpy())
    iu = np.triu_indices(H.shape[1], 1)
    p_pairs = np.asarray(
        consistency_p_value(c["n"][iu], c["right_i"][iu], c["right_j"][iu], c["both_right"][iu]), dtype=float
    )
    k_pairs = pairwise_human_kappas(H.to_numpy())[iu]
    names = np.asarray([f"participant {p}" for p in H.columns], dtype=object)
    pairs = pd.DataFrame(
        {
            "set": set_name,
            "observer_a": names[iu[0]],
            "observer_b": names[iu[1]],
            "n_items": c["n"][iu].astype(int),
            "kappa": k_pairs,
            "p_value": p_pairs,
        }
    )
    row = {
        "set": set_name,
        "observer": HUMANS,
        "model": HUMANS,
        "kind": HUMANS,
        "n_seeds": 0,
        "n_items": int(H.shape[0]),
        "accuracy": float(np.nanmean(H.to_numpy(), axis=0).mean()),
        "share_yes": float(np.nanmean(R.to_numpy())),
        "one_answer": False,
        "kappa_truth": kt.kappa,
        "kappa_truth_ci_low": kt.ci_low,
        "kappa_truth_ci_high": kt.ci_high,
        "kappa_truth_min": kt.kappa_min,
        "kappa_truth_max": kt.kappa_max,
        "kappa_truth_p": bootstrap_p_value(kt.boots),
        "kappa_humans": hh.kappa,
        "kappa_humans_ci_low": hh.ci_low,
        "kappa_humans_ci_high": hh.ci_high,
        "kappa_humans_min": hh.kappa_min,
        "kappa_humans_max": hh.kappa_max,
        "kappa_humans_p": bootstrap_p_value(hh.boots),
        "kappa_humans_ci_low_paper": hh_paper.ci_low,
        "kappa_humans_ci_high_paper": hh_paper.ci_high,
        "kappa_humans_p_paper": mean_kappa_test(hh.per_observer).p_value,
        "share_participants_p05": _share_sig(p_pairs),
        "n_participants": hh.n_observers,
        "n_items_humans": int(H.shape[0]),
        "n_degenerate": hh.n_degenerate,
    }
    return row, pairs


def kappa_differences_table(res: KappaResults, *, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Paired crossed-bootstrap tests of the difference in mean kappa to the humans
    between observers of the same set (all pairs; beyond `MAX_PAIRS`, the most human-like
    observer against each other one). Observers that give one answer to (nearly) every
    item are left out; the p-values are two-sided and Holm-corrected across the table."""
    diffs = []
    k = res.kappa
    flagged = k[k["one_answer"].astype(bool)] if "one_answer" in k.columns else k.iloc[:0]
    single = set(zip(flagged["set"], flagged["observer"]))
    for set_name, human_corr in res.human_corr.items():
        if set_name in res.human_matrix:
            usable = {o: v for o, v in human_corr.items() if (set_name, o) not in single}
            diffs.extend(_differences(set_name, usable, res.human_matrix[set_name], res.kappa, n_boot, seed))
    out = pd.DataFrame(
        diffs,
        columns=["set", "observer_a", "observer_b", "n_items", "difference", "ci_low", "ci_high", "p_value", "n_boot"],
    )
    out.insert(list(out.columns).index("p_value") + 1, "p_value_holm", adjust(out["p_value"]) if len(out) else [])
    return out


def _differences(set_name, human_corr, H, kappa, n_boot, seed) -> list[dict]:
    names = sorted(human_corr)
    pairs = list(itertools.combinations(names, 2))
    if len(pairs) > MAX_PAIRS:
        k = kappa[(kappa["set"] == set_name) & kappa["observer"].isin(names)]
        best = k.loc[k["kappa_humans"].idxmax(), "observer"]
        pairs = [(best, n) for n in names if n != best]
    cache: dict[tuple[str, tuple[str, ...]], tuple[float, np.ndarray]] = {}

    def boots(name: str, items: list[str]) -> tuple[float, np.ndarray]:
        key = (name, tuple(items))
        if key not in cache:
            corr, ids = human_corr[name]
            c = corr[:, [ids.index(i) for i in items]]  # (seeds, items) or (seeds, items, participants)
            cache[key] = bootstrap_mean_kappa(c, H.loc[items].to_numpy(), n_boot=n_boot, seed=seed)
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
            out.append({"set": set_name, "observer_a": a, "observer_b": b, "n_items": len(shared), **d.as_dict()})
    return out
