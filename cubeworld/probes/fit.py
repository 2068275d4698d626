"""`fit_probes`: cross-validated probes of every cached point, tested and set beside behaviour.

The one library entry point of the probes stage (the command, a study step and a report
call it). It reads any activations cache in the `cubeworld.models.activations` format
(`index.json` with the items, the points and their stages, `POINT@POOL.npy` arrays), so a
cache written by another extractor in the same format (a CNN's) is probed the same way.

Fitting is the slow part at full size (points x pools x targets x (1 + shuffles) x folds
fits), so each array's fits are appended to a resume log under `work` as they finish (one
log per fit settings, cache and tasks: other settings never mix in); a killed fit resumes
with the arrays not yet logged. Arrays are fitted in `config.workers` processes.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cubeworld.formats.atomic import append_jsonl, read_jsonl, truncate_torn_tail
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.intervals import CI_LEVEL
from cubeworld.probes import bootstrap
from cubeworld.probes.behaviour import Behaviour, align, select_observer
from cubeworld.probes.config import ProbeConfig
from cubeworld.probes.errors import ProbeError
from cubeworld.probes.fitting import TaskFit, fit_array, score, shuffled_values
from cubeworld.probes.results import ProbeResults, ProbeRow, holm
from cubeworld.probes.tasks import ProbeTask, build_tasks

STAGE_ORDER = ("vision", "projector", "deepstack", "decoder")
POOL_ORDER = ("image", "answer")


def fit_probes(
    activations: str | Path,
    sets: str | Path | StimulusSet | Iterable[str | Path | StimulusSet],
    config: ProbeConfig | None = None,
    *,
    predictions: Any = None,
    work: str | Path | None = None,
    progress: bool = True,
) -> ProbeResults:
    """Fit, test and summarise probes of the cache `activations` on the items of `sets`.

    sets: the stimulus sets the cache was extracted from (folders or loaded sets; a subset
        of them probes only their items); each must be the cached one (same metadata).
    config: `ProbeConfig` (targets, points, pools, folds, regularisation, shuffles, bootstrap).
    predictions: the observer's answers on the same items, a prediction table (path or
        DataFrame) holding one observer's rows for them (see `select_observer`); None: the
        behaviour columns stay empty.
    work: a folder for the resume log of the fits (None: nothing is logged).
    """
    from cubeworld.models.activations import load_activations

    config = config or ProbeConfig()
    acts = load_activations(activations)
    items = acts.items
    if len(items) > config.max_items:
        raise ProbeError(f"{acts.root}: {len(items)} items, more than max_items={config.max_items}")
    stim_rows = _rows_of(acts, sets)
    keys = select_keys(acts.index, config)
    tasks, notes = build_tasks(items, stim_rows, config)
    if not tasks:
        raise ProbeError("no probe can be fitted: " + "; ".join(notes))
    truth = [None if row is None else bool(row.falls) for row in stim_rows]
    behaviour = None
    if predictions is not None:
        probed = [items[i] for i in sorted({int(r) for t in tasks for r in t.rows})]
        behaviour = align(select_observer(predictions, probed), items, truth)
    fits = _fit_all(acts, keys, tasks, config, work, progress)
    falls = np.array([np.nan if t is None else float(t) for t in truth])
    rows = summarise(acts.index, keys, tasks, fits, falls, behaviour, config)
    cache = {
        "root": str(acts.root),
        **{k: acts.index.get(k) for k in ("model", "adapter", "sets", "points", "settings")},
        "items": len(items),
    }
    return ProbeResults(
        rows=rows,
        config=config,
        cache=cache,
        tasks=tasks,
        predictions={t.key: {k: fits[k][t.key].predictions for k in keys} for t in tasks},
        skipped=notes,
        observer=behaviour.observer if behaviour is not None else {},
        items=items,
    )


def _rows_of(acts: Any, sets: Any) -> list[Any]:
    """The set row of each cached item (None for items of sets not given); each given set
    must be one the cache was extracted from, unchanged."""
    from cubeworld.models.activations import set_identity

    if isinstance(sets, (str, Path, StimulusSet)):
        sets = [sets]
    loaded = [s if isinstance(s, StimulusSet) else load_set(s) for s in sets]
    if not loaded:
        raise ProbeError("no stimulus set given to probe")
    cached = {s["name"]: s for s in acts.index["sets"]}
    by_name: dict[str, dict[str, Any]] = {}
    for s in loaded:
        if s.name not in cached:
            raise ProbeError(
                f"set {s.name!r} ({s.root}) is not in the activations cache {acts.root} (it holds: {', '.join(cached)})"
            )
        if set_identity(s) != cached[s.name]:
            raise ProbeError(
                f"set {s.name!r} ({s.root}) is not the one the activations in {acts.root} were extracted from "
                "(its metadata.jsonl differs); extract again"
            )
        by_name[s.name] = s.by_id()
    return [by_name[name][sid] if name in by_name else None for name, sid in acts.items]


def _stage(index: dict[str, Any], point: str) -> str:
    return str(index.get("point_stages", {}).get(point) or point.split(".")[0])


def select_keys(index: dict[str, Any], config: ProbeConfig) -> list[str]:
    """The cached arrays (`POINT@POOL`) the config asks for, in the cache's point order and
    image before answer; an unknown point, stage or pool is an error naming the cached ones."""
    points = list(index["points"])
    pairs = [tuple(key.rsplit("@", 1)) for key in index["arrays"]]
    stages = {p: _stage(index, p) for p in points}
    if config.points:
        for name in config.points:
            if name not in points and name not in stages.values():
                raise ProbeError(
                    f"points: {name!r} is not cached; the cache holds {', '.join(points)} "
                    f"(stages: {', '.join(sorted(set(stages.values())))})"
                )
        points = [p for p in points if p in config.points or stages[p] in config.points]
    cached_pools = sorted({pool for _, pool in pairs}, key=lambda p: (POOL_ORDER + (p,)).index(p))
    pools = list(config.pools) or cached_pools
    for pool in pools:
        if pool not in cached_pools:
            raise ProbeError(f"pools: {pool!r} is not cached; the cache holds {', '.join(cached_pools)}")
    keys = [f"{p}@{pool}" for p in points for pool in cached_pools if pool in pools and (p, pool) in pairs]
    if not keys:
        raise ProbeError(f"no cached array for points {list(config.points)} and pools {pools}")
    return keys


def _fingerprint(acts: Any, tasks: Sequence[ProbeTask], config: ProbeConfig) -> str:
    ident = {
        "settings": config.fit_settings(),
        "cache": {k: acts.index.get(k) for k in ("model", "adapter", "sets", "points", "arrays", "settings_fixed")},
        "tasks": [t.digest() for t in tasks],
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def _fit_all(
    acts: Any,
    keys: list[str],
    tasks: list[ProbeTask],
    config: ProbeConfig,
    work: str | Path | None,
    progress: bool,
) -> dict[str, dict[str, TaskFit]]:
    from tqdm.auto import tqdm

    from cubeworld.pools import run_calls

    log = Path(work) / f"fits-{_fingerprint(acts, tasks, config)[:16]}.jsonl" if work is not None else None
    done: dict[str, dict[str, Any]] = {}
    if log is not None and log.exists():
        truncate_torn_tail(log)
        done = {rec["key"]: rec["fits"] for rec in read_jsonl(log)}
    todo = [k for k in keys if k not in done]
    bar = tqdm(total=len(keys), initial=len(keys) - len(todo), desc="probes", unit="array", disable=not progress)

    def finished(i: int, record: dict[str, Any]) -> None:
        if log is not None:
            append_jsonl(log, record)
        done[record["key"]] = record["fits"]
        bar.update(1)

    calls = [(str(acts.root), key, acts.index["arrays"][key]["file"], tuple(tasks), config) for key in todo]
    try:
        run_calls(
            fit_array,
            calls,
            workers=config.workers,
            on_result=finished,
            name_of=lambda i: todo[i],
            what="probes",
            error=ProbeError,
        )
    finally:
        bar.close()
    return {k: {t: TaskFit.from_plain(f) for t, f in done[k].items()} for k in keys}


def _weighted(kind: str, W: np.ndarray, y: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """A task's score under each resample's weights."""
    return bootstrap.accuracy(W, predictions == y) if kind == "classification" else bootstrap.r2(W, y, predictions)


def _nan_stats() -> dict[str, float]:
    return dict.fromkeys(("accuracy", "low", "high", "kappa", "kappa_low", "kappa_high"), float("nan"))


def summarise(
    index: dict[str, Any],
    keys: list[str],
    tasks: list[ProbeTask],
    fits: dict[str, dict[str, TaskFit]],
    falls: np.ndarray,
    behaviour: Behaviour | None,
    config: ProbeConfig,
) -> list[ProbeRow]:
    """Scores, intervals, chance levels, tests and the behaviour beside them, one row per
    task x array; Holm over the rows of each target."""
    from sklearn.metrics import cohen_kappa_score

    level = CI_LEVEL
    rows: list[dict[str, Any]] = []
    chance: list[float]
    for task in tasks:
        y = task.y
        truth = falls[task.rows]
        answers = behaviour.answers[task.rows] if behaviour is not None else None
        preds = {k: fits[k][task.key].predictions for k in keys}
        boot: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        boot_beh: list[np.ndarray] = []
        boot_kappa: list[np.ndarray] = []
        salt = zlib.crc32(task.key.encode())
        shuffled_y = [shuffled_values(task, s, config.seed) for s in range(config.shuffles)]
        boot_chance: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for W in bootstrap.resample_weights(task.groups, config.n_boot, config.seed, salt):
            for k in keys:
                boot[k].append(_weighted(task.kind, W, y, preds[k]))
                if shuffled_y:
                    weighted = [
                        _weighted(task.kind, W, y_s, p) for y_s, p in zip(shuffled_y, fits[k][task.key].shuffled)
                    ]
                    boot_chance[k].append(np.mean(weighted, axis=0))
            if answers is not None:
                boot_beh.append(bootstrap.accuracy(W, answers == truth))
                boot_kappa.append(bootstrap.kappa(W, answers, truth))
        beh = _nan_stats()
        beh_samples = np.concatenate(boot_beh) if boot_beh else None
        degenerate_observer = False
        if answers is not None and beh_samples is not None:
            beh["accuracy"] = float(np.mean(answers == truth))
            beh["low"], beh["high"] = bootstrap.percentile_interval(beh_samples, level)
            degenerate_observer = bool(np.ptp(answers) == 0)
            both_constant = degenerate_observer and bool(np.ptp(truth) == 0)
            beh["kappa"] = float("nan") if both_constant else float(cohen_kappa_score(truth, answers))
            beh["kappa_low"], beh["kappa_high"] = bootstrap.percentile_interval(np.concatenate(boot_kappa), level)
        for k in keys:
            fit = fits[k][task.key]
            samples = np.concatenate(boot[k])
            value = score(task.kind, y, preds[k])
            if fit.shuffled:
                chance = [score(task.kind, y_s, p) for y_s, p in zip(shuffled_y, fit.shuffled)]
                reference, kind = float(np.mean(chance)), "shuffled"
                lo_s, hi_s = float(np.min(chance)), float(np.max(chance))
                gains = samples - np.concatenate(boot_chance[k])  # paired: the chance level varies too
            else:
                reference = float(max(y.mean(), 1 - y.mean())) if task.kind == "classification" else 0.0
                kind = "majority" if task.kind == "classification" else "zero"
                lo_s = hi_s = float("nan")
                gains = samples - reference
            lo, hi = bootstrap.percentile_interval(samples, level)
            gain_lo, gain_hi = bootstrap.percentile_interval(gains, level)
            point, pool = k.rsplit("@", 1)
            gap = gap_lo = gap_hi = float("nan")
            if task.kind == "classification" and beh_samples is not None:
                gap = value - beh["accuracy"]
                gap_lo, gap_hi = bootstrap.percentile_interval(samples - beh_samples, level)
            param = "C" if task.kind == "classification" else "alpha"
            rows.append(
                dict(
                    target=task.target,
                    domain=task.domain,
                    point=point,
                    stage=_stage(index, point),
                    pool=pool,
                    metric="accuracy" if task.kind == "classification" else "r2",
                    items=len(task.rows),
                    stimuli=task.n_groups,
                    score=value,
                    score_low=lo,
                    score_high=hi,
                    reference=reference,
                    reference_kind=kind,
                    shuffled_min=lo_s,
                    shuffled_max=hi_s,
                    gain=value - reference,
                    gain_low=gain_lo,
                    gain_high=gain_hi,
                    p_value=bootstrap.one_sided_p(gains),
                    regularisation=f"{param}=" + ";".join(f"{v:g}" for v in fit.regularisation),
                    not_converged=fit.not_converged,
                    probe_degenerate=bool(task.kind == "classification" and np.ptp(preds[k]) == 0),
                    behaviour_accuracy=beh["accuracy"],
                    behaviour_low=beh["low"],
                    behaviour_high=beh["high"],
                    behaviour_kappa=beh["kappa"],
                    kappa_low=beh["kappa_low"],
                    kappa_high=beh["kappa_high"],
                    behaviour_degenerate=degenerate_observer,
                    gap=gap,
                    gap_low=gap_lo,
                    gap_high=gap_hi,
                )
            )
    for target in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == target]
        for r, p in zip(mine, holm([r["p_value"] for r in mine])):
            r["p_holm"] = p
            r["decodable"] = bool(p < config.level and not r["probe_degenerate"])
    return [ProbeRow(**r) for r in rows]
