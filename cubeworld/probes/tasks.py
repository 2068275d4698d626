"""Probe tasks: one target on the cached items it applies to, with its grouped folds.

Why here, once: every point and pool of a cache is probed on the same task (same rows,
same values, same folds, same shuffles), so differences between layers are differences of
the activations, not of the split. The folds are grouped by stimulus id (a stimulus that
two sets share, e.g. a subset and its parent, is one group), so one item never sits in
both the training and the test part of a fold; the label's folds are also stratified.

A task that cannot be fitted as asked (too few items or groups for the folds, one class
only, a margin no row records) is skipped with a note naming why; only a request that
leaves no task at all is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cubeworld.probes.config import ProbeConfig
from cubeworld.probes.errors import ProbeError
from cubeworld.probes.targets import ALL_DOMAINS, PROBE_TARGETS, Kind


@dataclass(frozen=True, eq=False)
class ProbeTask:
    """One target on some rows of an activations cache.

    rows: indices into the cache's items; y: the target's values there (0/1 for a class);
    groups: stimulus-id codes 0..G-1 (the unit of folds and bootstrap); folds: each row's
    outer test fold.
    """

    target: str
    domain: str
    kind: Kind
    rows: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    folds: np.ndarray
    stimulus_ids: tuple[str, ...]

    @property
    def key(self) -> str:
        """`target` over every item, `target/domain` for a per-domain target."""
        return self.target if self.domain == ALL_DOMAINS else f"{self.target}/{self.domain}"

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1

    def digest(self) -> str:
        """What makes two tasks the same fit: rows, values, groups and folds."""
        h = hashlib.sha256(self.key.encode())
        for a in (self.rows, self.y, self.groups, self.folds):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def build_tasks(
    items: Sequence[tuple[str, str]], rows: Sequence[Any | None], config: ProbeConfig
) -> tuple[list[ProbeTask], list[str]]:
    """The tasks of `config.targets` over the cache rows whose set row is given (`rows[i]`
    is the `StimulusRow` of cache item i, or None when its set was not asked for), and the
    notes of the tasks skipped. A stimulus id whose rows disagree on the label is an error."""
    tasks: list[ProbeTask] = []
    notes: list[str] = []
    given = {i: row for i, row in enumerate(rows) if row is not None}
    for name in config.targets:
        target = PROBE_TARGETS.get(name)
        values: dict[int, float] = {}
        for i, row in given.items():
            value = target.value(row)
            if value is not None:
                values[i] = float(value)
        if not values:
            notes.append(f"{name}: skipped: no item of the sets records it ({target.description})")
            continue
        have = list(values)
        if target.per_domain:
            domains = sorted({given[i].domain for i in have})
            subsets = [(d, [i for i in have if given[i].domain == d]) for d in domains]
        else:
            subsets = [(ALL_DOMAINS, have)]
        for domain, idx in subsets:
            task, note = _task(name, domain, target.kind, idx, [values[i] for i in idx], items, config)
            if task is not None:
                tasks.append(task)
            if note:
                notes.append(note)
    return tasks, notes


def _task(
    name: str,
    domain: str,
    kind: Kind,
    idx: list[int],
    values: list[float],
    items: Sequence[tuple[str, str]],
    config: ProbeConfig,
) -> tuple[ProbeTask | None, str]:
    key = name if domain == ALL_DOMAINS else f"{name}/{domain}"
    ids = [items[i][1] for i in idx]
    codes: dict[str, int] = {}
    groups = np.array([codes.setdefault(sid, len(codes)) for sid in ids], dtype=np.int64)
    y = np.asarray(values, dtype=np.float64)
    if kind == "classification":
        first: dict[int, float] = {}
        for g, v, sid in zip(groups, y, ids):
            if first.setdefault(int(g), v) != v:
                raise ProbeError(f"{key}: stimulus {sid!r} has a different {name} in two sets")
    n_groups = len(codes)
    skip = f"{key}: skipped: "
    if n_groups < config.folds:
        return None, skip + f"{n_groups} stimuli, fewer than folds={config.folds}"
    if kind == "classification":
        per_class = [len({int(g) for g, v in zip(groups, y) if v == c}) for c in (0.0, 1.0)]
        if min(per_class) < config.folds:
            return None, skip + (
                f"{per_class[0]} stimuli with {name}=False and {per_class[1]} with {name}=True; "
                f"each class needs at least folds={config.folds}"
            )
    elif float(np.ptp(y)) == 0.0:
        return None, skip + f"every one of its {len(y)} items has the same value"
    folds = _folds(kind, y, groups, config)
    if config.nested[kind]:
        for k in range(config.folds):
            train = folds != k
            counts = (
                [len(set(groups[train & (y == c)])) for c in (0.0, 1.0)]
                if kind == "classification"
                else [len(set(groups[train]))]
            )
            if min(counts) < config.inner_folds:
                return None, skip + (
                    f"a training fold holds {min(counts)} stimuli{' of one class' if len(counts) > 1 else ''}, "
                    f"fewer than inner_folds={config.inner_folds} (give fewer folds, or a fixed "
                    f"{'c' if kind == 'classification' else 'alpha'})"
                )
    task = ProbeTask(
        target=name,
        domain=domain,
        kind=kind,
        rows=np.asarray(idx, dtype=np.int64),
        y=y,
        groups=groups,
        folds=folds,
        stimulus_ids=tuple(ids),
    )
    return task, ""


def _folds(kind: Kind, y: np.ndarray, groups: np.ndarray, config: ProbeConfig) -> np.ndarray:
    """Each row's outer test fold: grouped (and stratified by label for a class), seeded."""
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    splitter: Any
    if kind == "classification":
        splitter = StratifiedGroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    else:
        splitter = GroupKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    folds = np.full(len(y), -1, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class has only ..."
        for k, (_, test) in enumerate(splitter.split(np.zeros((len(y), 1)), y, groups)):
            folds[test] = k
    assert (folds >= 0).all()
    return folds
