"""The study's fits (`fits:`): run once, between making the sets and the runs.

Why a step of the study rather than a command run by hand: the fitted values used to be
pasted into the study's YAML, where they went stale when the set, the people's answers or
the fit's settings changed. Here a fit runs after its set is made, writes its folder under
the study's runs folder (`<study>/fits/<name>/`: fit.json, observer.yaml, tables, figure;
`cubeworld.fitting.fit`), and a model that names it (`fit: NAME`) is scored with the
fitted settings read from its observer.yaml. The fit's inputs (the set's identity, the
responses table's content, the fit's and the base observer's settings) are stamped in
`inputs.json`, written last: a finished fit with the same inputs is not run again, one
whose inputs changed is run again, and a fit killed half way has no stamp and runs again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from cubeworld.experiments.plan import set_dir, set_identity
from cubeworld.experiments.prepare import StudyInputError
from cubeworld.experiments.recipe import HUMAN_TABLE
from cubeworld.experiments.schema import FitSpec, StudyConfig
from cubeworld.formats.fits import FIT_JSON, OBSERVER_YAML
from cubeworld.typed import to_plain

FITS = "fits"
STAMP = "inputs.json"
# Settings that change how fast a fit runs, never what it finds.
NOT_INPUTS = ("workers",)


def fit_dir(cfg: StudyConfig, name: str) -> Path:
    """Where fit `name` of the study writes (the folder `cubeworld fit physics --out` makes)."""
    return cfg.study_dir / FITS / name


def fit_humans(cfg: StudyConfig, spec: FitSpec) -> Path:
    """The responses table a fit reads: its own `humans:`, the set's, or the set folder's."""
    return spec.humans or cfg.sets[spec.set].humans or set_dir(cfg, spec.set) / HUMAN_TABLE


def fit_inputs(cfg: StudyConfig, spec: FitSpec) -> dict[str, Any]:
    """What a fit's result depends on (compared with the stamp of a finished fit)."""
    humans = fit_humans(cfg, spec)
    digest = hashlib.sha256(humans.read_bytes()).hexdigest() if humans.is_file() else None
    drop = lambda d: {k: v for k, v in d.items() if k not in NOT_INPUTS}  # noqa: E731
    return {
        "set": set_identity(cfg, spec.set),
        "humans_sha256": digest,
        "config": drop(to_plain(spec.config)),
        "base": drop(to_plain(spec.base)),
    }


def fit_done(cfg: StudyConfig, spec: FitSpec) -> bool:
    """A finished fit of exactly these inputs exists."""
    folder = fit_dir(cfg, spec.name)
    stamp = folder / STAMP
    if not (stamp.is_file() and (folder / OBSERVER_YAML).is_file() and (folder / FIT_JSON).is_file()):
        return False
    try:
        return bool(json.loads(stamp.read_text()) == json.loads(json.dumps(fit_inputs(cfg, spec))))
    except (OSError, ValueError):
        return False


def run_fits(cfg: StudyConfig, progress: bool = True) -> list[str]:
    """Run every fit of the study that is not done with the same inputs; returns their
    names. The sets must be made (`prepare_sets`)."""
    from cubeworld.fitting.fit import fit_physics
    from cubeworld.formats.atomic import atomic_write_json

    ran = []
    for spec in cfg.fits.values():
        if fit_done(cfg, spec):
            continue
        humans = fit_humans(cfg, spec)
        if not humans.is_file():
            raise StudyInputError(
                f"{cfg.source}: fits.{spec.name}: no responses table {humans} (give humans: PATH, or humans: on "
                f"set {spec.set!r})"
            )
        folder = fit_dir(cfg, spec.name)
        (folder / STAMP).unlink(missing_ok=True)  # a rerun is unfinished until stamped again
        fit_physics([set_dir(cfg, spec.set)], humans, folder, spec.config, spec.base, progress=progress)
        atomic_write_json(folder / STAMP, fit_inputs(cfg, spec))
        ran.append(spec.name)
    return ran


def fitted_scoring(cfg: StudyConfig, spec: FitSpec) -> dict[str, Any] | None:
    """The scoring a finished fit found (its observer.yaml), or None while it is not done."""
    if not fit_done(cfg, spec):
        return None
    from cubeworld.formats.yamlfile import read_yaml

    path = fit_dir(cfg, spec.name) / OBSERVER_YAML
    data = read_yaml(path, StudyInputError)
    entry = next(iter(data.values())) if isinstance(data, dict) and len(data) == 1 else None
    if not isinstance(entry, dict) or not isinstance(entry.get("scoring"), dict):
        raise StudyInputError(f"{path}: not a fitted observer (one entry with kind and scoring)")
    return dict(entry["scoring"])


def with_fits(cfg: StudyConfig) -> StudyConfig:
    """The config with each fitted model's scoring read from its finished fit (a model
    whose fit is not done yet keeps its kind's default scoring until it is)."""
    if not cfg.fits:
        return cfg
    from cubeworld.observers import OBSERVERS

    models = []
    for m in cfg.models:
        scoring = fitted_scoring(cfg, cfg.fits[m.fit]) if m.fit else None
        if scoring is not None:
            scoring.update(m.scoring.given_plain())  # the model's own: only FITTED_OWN_SCORING (workers)
            where = str(fit_dir(cfg, str(m.fit)) / OBSERVER_YAML)
            m = replace(m, scoring=OBSERVERS.get(m.kind).settings("scoring", scoring, where, StudyInputError))
        models.append(m)
    return replace(cfg, models=tuple(models))
