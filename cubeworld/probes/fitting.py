"""Cross-validated probes of one cached array: out-of-fold predictions and the chance level.

A probe is scikit-learn's `StandardScaler` then `LogisticRegression` (a class) or `Ridge`
(a number), fitted on the training folds of a task and asked about its test fold, so each
item is predicted once, by a probe that never saw it (nor any row of its stimulus). The
scaler is fitted inside the training part, never on the test rows.

Regularisation: a fixed `c` / `alpha`, or (the default) chosen inside each outer training
part by `GridSearchCV` over the grid, with inner folds grouped like the outer ones
(stratified for a class) and scored by log-loss (a class: smoother than accuracy, which
ties on small folds) or mean squared error (a number). The value each fold chose is kept.

The chance level is the same procedure (nested choice included) refitted on shuffled
values, permuted among the stimuli of each outer fold (`shuffled_values`), the same
shuffles for every point, so the chance levels of two layers are paired like their scores.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.probes.config import ProbeConfig
from cubeworld.probes.errors import ProbeError
from cubeworld.probes.tasks import ProbeTask


@dataclass(frozen=True)
class TaskFit:
    """One task's probe on one array: the out-of-fold predictions (task row order), the
    regularisation each fold used, the out-of-fold predictions of each shuffled-value refit
    (of `shuffled_values(task, s, seed)`) and how many fits stopped before converging."""

    predictions: np.ndarray
    regularisation: tuple[float, ...]
    shuffled: tuple[np.ndarray, ...]
    not_converged: int

    def to_plain(self) -> dict[str, Any]:
        return {
            "pred": self.predictions.tolist(),
            "reg": list(self.regularisation),
            "shuffled": [p.tolist() for p in self.shuffled],
            "not_converged": self.not_converged,
        }

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> TaskFit:
        return cls(
            predictions=np.asarray(data["pred"], dtype=np.float64),
            regularisation=tuple(float(v) for v in data["reg"]),
            shuffled=tuple(np.asarray(p, dtype=np.float64) for p in data["shuffled"]),
            not_converged=int(data["not_converged"]),
        )


def make_probe(kind: str, config: ProbeConfig) -> Any:
    """The probe a task of `kind` fits on a training part (a `GridSearchCV` when nested:
    fit it with `groups=`)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedGroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "classification":
        model: Any = LogisticRegression(C=config.c or 1.0, max_iter=config.max_iter)
        grid, inner, scoring = {"probe__C": list(config.c_grid)}, StratifiedGroupKFold, "neg_log_loss"
    else:
        model = Ridge(alpha=config.alpha or 1.0)
        grid, inner, scoring = {"probe__alpha": list(config.alpha_grid)}, GroupKFold, "neg_mean_squared_error"
    pipe = Pipeline([("scale", StandardScaler()), ("probe", model)])
    if not config.nested[kind]:
        return pipe
    cv = inner(n_splits=config.inner_folds, shuffle=True, random_state=config.seed)
    return GridSearchCV(pipe, grid, cv=cv, scoring=scoring, refit=True, error_score="raise")


def score(kind: str, y: np.ndarray, predictions: np.ndarray) -> float:
    """Accuracy (a class) or out-of-fold R^2 (a number: 1 - SSE / the values' sum of squares)."""
    if kind == "classification":
        return float(np.mean(predictions == y))
    sst = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - predictions) ** 2)) / sst if sst > 0 else float("nan")


def shuffled_values(task: ProbeTask, s: int, seed: int) -> np.ndarray:
    """Shuffle `s` of the task's values: within each outer fold, the stimuli's values are
    permuted among the stimuli of that fold (every row of a stimulus gets the same value).

    Why within folds: the real folds are stratified, so each training part keeps the
    label's balance; a shuffle across folds would unbalance them, and a probe that learns
    nothing scores below 0.5 out of fold on unbalanced folds (it leans towards the class
    the test part lacks), which would make the chance level too easy to beat. Seeded by
    (seed, s, task), not the point, so two points' chance levels are paired."""
    rng = np.random.default_rng([seed, s, zlib.crc32(task.key.encode())])
    values = np.zeros(task.n_groups)
    np.add.at(values, task.groups, task.y)
    values /= np.bincount(task.groups, minlength=task.n_groups)
    out = np.empty_like(task.y)
    for k in range(int(task.folds.max()) + 1):
        members = np.unique(task.groups[task.folds == k])
        permuted = dict(zip(members.tolist(), values[rng.permutation(members)].tolist()))
        rows = np.flatnonzero(task.folds == k)
        out[rows] = [permuted[int(g)] for g in task.groups[rows]]
    return out


def cross_validate(
    X: np.ndarray, y: np.ndarray, task: ProbeTask, config: ProbeConfig
) -> tuple[np.ndarray, list[float], int]:
    """Out-of-fold predictions of `y` from `X` over the task's folds, the regularisation
    each fold used and how many fits stopped before converging."""
    from sklearn.exceptions import ConvergenceWarning

    nested = config.nested[task.kind]
    param = "C" if task.kind == "classification" else "alpha"
    fixed = config.c if task.kind == "classification" else config.alpha
    target = y.astype(np.int64) if task.kind == "classification" else y
    predictions = np.zeros(len(y), dtype=np.float64)
    chosen: list[float] = []
    not_converged = 0
    for k in range(config.folds):
        train, test = task.folds != k, task.folds == k
        if not test.any():
            continue
        probe = make_probe(task.kind, config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            if nested:
                probe.fit(X[train], target[train], groups=task.groups[train])
                chosen.append(float(probe.best_params_[f"probe__{param}"]))
            else:
                probe.fit(X[train], target[train])
                chosen.append(float(fixed))  # type: ignore[arg-type]
        not_converged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        predictions[test] = probe.predict(X[test])
    return predictions, chosen, not_converged


def fit_task(X: np.ndarray, task: ProbeTask, config: ProbeConfig) -> TaskFit:
    """The task's probe on `X` (its rows, float32) and its shuffled-value refits."""
    predictions, chosen, not_converged = cross_validate(X, task.y, task, config)
    shuffled = []
    for s in range(config.shuffles):
        pred_s, _, nc = cross_validate(X, shuffled_values(task, s, config.seed), task, config)
        shuffled.append(pred_s)
        not_converged += nc
    return TaskFit(predictions, tuple(chosen), tuple(shuffled), not_converged)


def fit_array(root: str, key: str, file: str, tasks: tuple[ProbeTask, ...], config: ProbeConfig) -> dict[str, Any]:
    """Every task's probe on the cached array `root/file` (`key` = POINT@POOL), as plain
    data (it crosses processes and goes to the resume log). Runs in a worker process."""
    from threadpoolctl import threadpool_limits

    array = np.load(f"{root}/{file}", mmap_mode="r")
    fits: dict[str, Any] = {}
    # One BLAS thread: the solver's many small steps ran 7x slower with two threads on a
    # busy 2-core machine (7 vs 51 ms a fit); parallel work is `workers` processes instead.
    with threadpool_limits(1):
        for task in tasks:
            X = np.asarray(array[task.rows], dtype=np.float32)
            bad = ~np.isfinite(X).all(axis=1)
            if bad.any():
                raise ProbeError(
                    f"{root}: activations {key} are not finite for {int(bad.sum())} item(s), e.g. "
                    f"{task.stimulus_ids[int(np.argmax(bad))]!r}; leave the point out (--points)"
                )
            fits[task.key] = fit_task(X, task, config).to_plain()
    return {"key": key, "fits": fits}
