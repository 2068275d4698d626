"""`cubeworld fit physics`: the physics observer's parameters fitted to people, written to a folder.

Outputs (in `out`):
    fit.json       fitted parameters with bootstrap intervals, the log-likelihood, the grid,
                   the held-out summary and the kappa of the fitted observer with people
    observer.yaml  the fitted observer as a study's `models:` entry (kind physics + scoring)
    heldout.csv    held-out log-likelihood per fold and model (physics, per-size, chance)
    participants.csv  held-out negative log-likelihood per participant and model (Centaur-style)
    per_size.csv / per_size.png  accuracy per size: people, the fitted and the ideal observer
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cubeworld.fitting.config import FITTABLE, FitConfig, FitError
from cubeworld.fitting.crossval import bootstrap_weights, counts, crossed_folds
from cubeworld.fitting.items import FitItems, load_items, match_answers
from cubeworld.fitting.likelihood import decisions, fit_grid, log_lik, p_yes, per_size_p, per_size_yes
from cubeworld.fitting.shares import SIMULATED, coarse_points, refined_points, share_table
from cubeworld.formats.fits import (
    FIT_JSON,
    HELDOUT_CSV,
    HELDOUT_MODELS,
    OBSERVER_YAML,
    PARTICIPANTS_CSV,
    PER_SIZE_CSV,
    PER_SIZE_PNG,
)
from cubeworld.observers.noisy_newton import PhysicsScoring

MODELS = HELDOUT_MODELS


@dataclasses.dataclass(frozen=True)
class Fitted:
    """A fit: the parameters (simulated ones, threshold, lapse), its log-likelihood and data size."""

    params: dict[str, Any]
    lapse: float
    log_lik: float
    trials: int
    p_yes: np.ndarray  # per item, at the fitted parameters


def check_params(config: FitConfig) -> None:
    bad = [p for p in config.params if p not in FITTABLE]
    if bad:
        raise FitError(
            f"--params: {bad[0]!r} cannot be fitted; choose from {', '.join(FITTABLE)} (the lapse always is)"
        )


def _thresholds(config: FitConfig, base: PhysicsScoring) -> list[float | None]:
    return list(config.threshold_grid) if "threshold" in config.params else [base.threshold]


def _best(shares: np.ndarray, points: Sequence[dict], thresholds: list, k, n, config: FitConfig) -> Fitted:
    g = fit_grid(shares, thresholds, k, n, config.lapse_max)
    params = {name: points[g.point][name] for name in SIMULATED if name in config.params}
    if "threshold" in config.params:
        params["threshold"] = g.threshold
    p = p_yes(decisions(shares[g.point : g.point + 1], [g.threshold])[0, 0], g.lapse)
    return Fitted({**params, "_point": g.point, "_threshold": g.threshold}, g.lapse, g.log_lik, int(n.sum()), p)


def _kappas(items: FitItems, people: np.ndarray, idx: np.ndarray, p: np.ndarray) -> list[float]:
    """Error consistency (Cohen's kappa) of the observer's answers with each participant's,
    on the items `idx` each answered (None where a kappa is undefined: all right or all wrong)."""
    from cubeworld.analysis.metrics import error_consistency

    says = p >= 0.5
    out = []
    for q in np.flatnonzero(people):
        on = idx & (items.seen[q] > 0)
        if on.sum() < 2:
            continue
        right_obs = says[on] == items.truth[on]
        right_person = (items.yes[q, on] > 0) == items.truth[on]
        if right_obs.all() or right_person.all() or not right_obs.any() or not right_person.any():
            continue
        out.append(float(error_consistency(right_person, right_obs).kappa))
    return out


def fit_physics(
    sets: Sequence[Path],
    humans: Path,
    out: Path,
    config: FitConfig,
    base: PhysicsScoring | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit, cross-validate and write (see the module's docstring); returns fit.json's content."""
    from cubeworld.formats.atomic import atomic_write_json, atomic_write_text
    from cubeworld.formats.responses import drop_excluded, read_responses

    check_params(config)
    base = base or PhysicsScoring()
    started, cpu0 = time.time(), _cpu()
    rows = load_items(sets)
    responses, _ = drop_excluded(read_responses(humans), source=str(humans))
    items = match_answers(rows, responses, str(humans))
    if len(items.participants) < config.folds or len(items.ids) < config.folds:
        raise FitError(
            f"{humans}: {len(items.participants)} participants and {len(items.ids)} items; "
            f"cross-validation needs at least --folds ({config.folds}) of each"
        )
    out.mkdir(parents=True, exist_ok=True)
    everyone = np.ones(len(items.participants), dtype=bool)
    all_items = np.ones(len(items.ids), dtype=bool)
    k_all, n_all = counts(items.yes, items.seen, everyone, all_items)
    thresholds = _thresholds(config, base)

    points = coarse_points(config, base)
    shares = share_table(items, points, base, config, progress)
    best = _best(shares, points, thresholds, k_all, n_all, config)
    if config.refine:
        extra = refined_points(config, points, points[best.params["_point"]])
        if extra:
            shares = np.vstack([shares, share_table(items, extra, base, config, progress)])
            points = [*points, *extra]
            best = _best(shares, points, thresholds, k_all, n_all, config)

    # cross-validation: crossed folds, every model fitted on the fold's training cells
    keys = items.size_keys
    held: list[dict[str, Any]] = []
    per_person: list[dict[str, Any]] = []
    kappas: list[float] = []
    for fold in crossed_folds(len(items.participants), len(items.ids), config.folds, config.seed):
        k_tr, n_tr = counts(items.yes, items.seen, fold.train_people, fold.train_items)
        fitted = _best(shares, points, thresholds, k_tr, n_tr, config)
        acc = per_size_p(
            [key for key, on in zip(keys, fold.train_items) if on],
            items.truth[fold.train_items],
            k_tr[fold.train_items],
            n_tr[fold.train_items],
        )
        preds = {
            "physics": fitted.p_yes,
            "per-size": per_size_yes(keys, items.truth, acc),
            "chance": np.full(len(keys), 0.5),
        }
        k_te, n_te = counts(items.yes, items.seen, fold.test_people, fold.test_items)
        for name, p in preds.items():
            held.append(
                {"fold": fold.index, "model": name, "log_lik": float(log_lik(p, k_te, n_te)), "trials": int(n_te.sum())}
            )
        for q in np.flatnonzero(fold.test_people):
            seen = items.seen[q] * fold.test_items
            if seen.sum() == 0:
                continue
            for name, p in preds.items():
                ll = float(log_lik(p, items.yes[q] * seen, seen))
                per_person.append(
                    {
                        "participant": items.participants[q],
                        "fold": fold.index,
                        "model": name,
                        "nll": -ll,
                        "trials": int(seen.sum()),
                        "nll_per_trial": -ll / seen.sum(),
                    }
                )
        kappas.extend(_kappas(items, fold.test_people, fold.test_items, fitted.p_yes))
    held_df = pd.DataFrame(held)
    summary = held_df.groupby("model")[["log_lik", "trials"]].sum()
    summary["per_trial"] = summary["log_lik"] / summary["trials"]

    # intervals: the crossed bootstrap (participants and items resampled), refitted on the grid
    draws: dict[str, list[float]] = {name: [] for name in [*config.params, "lapse"]}
    for w_people, w_items in bootstrap_weights(len(items.participants), len(items.ids), config.bootstrap, config.seed):
        k_b, n_b = counts(items.yes, items.seen, w_people, w_items.astype(float))
        g = fit_grid(shares, thresholds, k_b, n_b, config.lapse_max, polish=False)
        for name in config.params:
            value = g.threshold if name == "threshold" else points[g.point][name]
            draws[name].append(float("nan") if value is None else float(value))
        draws["lapse"].append(g.lapse)
    fitted_values = {name: best.params[name] for name in config.params}
    fitted_values["lapse"] = best.lapse
    intervals = {
        name: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None for name, v in draws.items()
    }

    scoring = {
        **{name: getattr(base, name) for name in SIMULATED},
        **{name: best.params[name] for name in config.params},
        "threshold": best.params["_threshold"],
        "lapse": round(best.lapse, 6),
        "n_simulations": config.n_simulations,
        "stop_at_rest": config.stop_at_rest,
        "seed": config.seed,
    }
    per_size = _per_size(items, best.p_yes)
    from cubeworld.formats.sets import read_card

    result = {
        "observer": "physics-fit",
        "sets": [str(read_card(Path(s)).get("name") or Path(s).name) for s in sets],
        "scoring": scoring,
        "fitted": fitted_values,
        "intervals_95": intervals,
        "log_lik": best.log_lik,
        "trials": best.trials,
        "participants": len(items.participants),
        "items": len(items.ids),
        "grid_points": [{k: float(v) for k, v in p.items()} for p in points],
        "heldout": {
            m: {"log_lik": float(r.log_lik), "trials": int(r.trials), "per_trial": float(r.per_trial)}
            for m, r in summary.iterrows()
        },
        "kappa_heldout": {"mean": float(np.mean(kappas)) if kappas else None, "participants": len(kappas)},
        "config": dataclasses.asdict(config),
        "simulated_participants": bool(responses.get("simulated", pd.Series([0])).astype(int).all()),
        "seconds": round(time.time() - started, 1),
        "cpu_seconds": round(_cpu() - cpu0, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    # fit.json last: a folder with it is a finished fit (`formats.fits`)
    atomic_write_text(out / OBSERVER_YAML, _observer_yaml(scoring, result))
    atomic_write_text(out / HELDOUT_CSV, held_df.to_csv(index=False))
    atomic_write_text(out / PARTICIPANTS_CSV, pd.DataFrame(per_person).to_csv(index=False))
    atomic_write_text(out / PER_SIZE_CSV, per_size.to_csv(index=False))
    _figure(per_size, fitted_values, out / PER_SIZE_PNG)
    atomic_write_json(out / FIT_JSON, result)
    return result


def _cpu() -> float:
    """CPU seconds of this process and its finished workers (the simulating processes)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _per_size(items: FitItems, p: np.ndarray) -> pd.DataFrame:
    """Accuracy per size: people (share of right answers), the fitted observer (expected
    share right: P(Yes) on Yes items, 1 - P(Yes) on No items) and the ideal observer (the
    noise-free re-simulation gives the label: 1)."""
    rows = []
    keys = np.array(items.size_keys)
    for key in sorted(set(keys), key=lambda x: (x.split("-")[0], int(x.split("-")[1]))):
        on = keys == key
        right = np.where(items.truth[on], items.yes[:, on], 1 - items.yes[:, on]) * items.seen[:, on]
        people = float(right.sum() / items.seen[:, on].sum())
        fitted = float(np.where(items.truth[on], p[on], 1 - p[on]).mean())
        domain, size = key.split("-")
        rows.append(
            {
                "domain": domain,
                "n_blocks": int(size),
                "items": int(on.sum()),
                "people": people,
                "fitted": fitted,
                "ideal": 1.0,
            }
        )
    return pd.DataFrame(rows)


def _observer_yaml(scoring: dict[str, Any], result: dict[str, Any]) -> str:
    import yaml

    head = (
        "# The physics observer fitted to people by `cubeworld fit physics` (maximum likelihood).\n"
        f"# {result['participants']} participants, {result['items']} items"
        + (" (SIMULATED participants)" if result["simulated_participants"] else "")
        + f"; held-out log-likelihood per trial {result['heldout']['physics']['per_trial']:.4f}.\n"
        "# Paste under a study's `models:`.\n"
    )
    return head + yaml.safe_dump({"physics-fit": {"kind": "physics", "scoring": scoring}}, sort_keys=False)


def _figure(per_size: pd.DataFrame, fitted: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cubeworld.formats.atomic import atomic_write_bytes

    domains = list(dict.fromkeys(per_size["domain"]))
    fig, axes = plt.subplots(1, len(domains), figsize=(4 * len(domains), 3.2), squeeze=False)
    for ax, domain in zip(axes[0], domains):
        d = per_size[per_size["domain"] == domain]
        for column, style in (("people", "o-"), ("fitted", "s--"), ("ideal", ":")):
            ax.plot(d["n_blocks"], d[column], style, label=column)
        ax.set(title=domain, xlabel="blocks", ylabel="accuracy", ylim=(0.3, 1.02))
        ax.set_xticks(list(d["n_blocks"]))
    axes[0][0].legend(loc="lower left")
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in fitted.items())
    fig.suptitle(f"fitted: {shown}", fontsize=9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def recovery_check(truth: dict[str, float], fitted: dict[str, float]) -> dict[str, float]:
    """Absolute error of each recovered parameter."""
    return {k: abs(float(fitted[k]) - float(v)) for k, v in truth.items() if k in fitted and not math.isnan(float(v))}
