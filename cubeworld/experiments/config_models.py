"""The study config's `models:` and `fits:`: each observer, its settings and its fit.

Why a module of its own: a model entry is the one part of a study config whose checks
depend on its observer kind (which sources, settings, conditions and prompting modes it
takes), and its typed settings are merged here, once, from the study-wide `training:` and
the model's own blocks. A fit is read beside the models because a `fit:` model is scored
with what the fit finds (one source of truth for its scoring). `config.py` calls
`parse_fit` and `parse_models` in the file's section order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cubeworld.experiments.config_reader import ConfigError, ConfigReader, located_subset
from cubeworld.experiments.schema import TINY, ConditionSpec, FitSpec, ModelSpec, SetSpec
from cubeworld.formats.yamlfile import LocatedDict
from cubeworld.observers.base import STUDY_OWNED, Settings
from cubeworld.trainer.data import MOST_SEED
from cubeworld.typed import from_plain

MOST_EPOCHS = 10_000

# Study-level training keys that every trainable kind takes (the study handles them).
STUDY_TRAINING = ("epochs", "evaluate_each_epoch")

MODEL_KEYS = {
    "source",
    "kind",
    "tiny_seed",
    "family",
    "training",
    "scoring",
    "conditions",
    "modes",
    "description",
    "fit",
}
FIT_OWN_KEYS = {"set", "humans", "base"}
FITTED_KIND = "physics"  # the observer kind a fit estimates the settings of
FITTED_OWN_SCORING = ("workers",)  # how fast a fitted model is scored, never what it answers


def _is_key_of(keys: Iterable[str], key: str) -> bool:
    return key in keys


def _always(answer: bool, _key: str) -> bool:
    return answer


def _merged(*mappings: Mapping[str, Any]) -> LocatedDict:
    """The mappings merged (later ones win), each key knowing its line in its own block."""
    out = LocatedDict()
    for m in mappings:
        out.update(m)
        out.source = getattr(m, "source", "") or out.source
        lines = getattr(m, "lines", {})
        for k in m:
            if k in lines:
                out.lines[k] = lines[k]
            else:
                out.lines.pop(k, None)
    return out


def _observer(r: ConfigReader, kind: Any, key: str):
    from cubeworld.errors import UnknownEntryError
    from cubeworld.observers import OBSERVERS

    try:
        return OBSERVERS.get(kind)
    except UnknownEntryError as e:
        raise r.error(key, str(e)) from None


def parse_models(
    r: ConfigReader,
    value: Any,
    conditions: list[ConditionSpec],
    study_wide: Mapping[str, Any],
    eval_batch: Mapping[str, Any],
    study_epochs: tuple[int, bool],
    rel: Callable[[str], Path],
    fits: Mapping[str, FitSpec],
) -> list[ModelSpec]:
    from cubeworld.observers.base import ObserverSettingError

    entries = r.mapping(value, "models")
    if not entries:
        raise r.error("models", "name at least one model")
    specs = []
    kinds = []
    for mname, m in entries.items():
        key = f"models.{mname}"
        r.name(mname, key)
        if isinstance(m, str):
            m = {"source": m}
        m = r.mapping(m, key)
        r.only(m, key, MODEL_KEYS)
        kind = _observer(r, m.get("kind", "vlm"), f"{key}.kind")
        kinds.append(kind)
        if "source" in m:
            src = r.str_(m["source"], f"{key}.source")
        elif kind.default_source is not None:
            src = kind.default_source
        else:
            raise r.error(
                f"{key}.source", f"missing: a {kind.name} observer has no default source; name one", entries, mname
            )
        if src != TINY and (src.startswith((".", "/", "~")) or Path(src).exists()):
            src = str(rel(src))
        try:
            kind.check_source(src)
        except ObserverSettingError as e:
            raise r.error(f"{key}.source", str(e), m, "source") from None
        family = m.get("family")
        if family is not None:
            family = r.str_(family, f"{key}.family")
            if src != TINY:
                raise r.error(
                    f"{key}.family", "applies to source: tiny only (a real model brings its own architecture)"
                )
            _check_family(r, family, f"{key}.family")
        own_training = r.mapping(m.get("training", {}) or {}, f"{key}.training")
        own_scoring = r.mapping(m.get("scoring", {}) or {}, f"{key}.scoring")
        fit = _model_fit(r, m, key, kind, fits)
        if own_training and not kind.trains:
            raise r.error(
                f"{key}.training",
                f"a {kind.name} observer needs no training; remove training: (its settings go under scoring:)",
                m,
                "training",
            )
        for k in STUDY_OWNED:
            if k in own_training:
                raise r.error(
                    f"{key}.training.{k}",
                    "is set by the study itself (models, conditions, seeds, evaluation), not under training:",
                    own_training,
                    k,
                )
        epochs = r.int_(own_training.get("epochs", study_epochs[0]), f"{key}.training.epochs", 1, MOST_EPOCHS)
        each = r.bool_(own_training.get("evaluate_each_epoch", study_epochs[1]), f"{key}.training.evaluate_each_epoch")
        training = _merged(
            located_subset(study_wide, functools.partial(_is_key_of, kind.training_keys())),
            located_subset(own_training, lambda k: k not in STUDY_TRAINING),
        )
        scoring = _merged(
            located_subset(
                eval_batch,
                functools.partial(_always, "batch_size" in kind.scoring_keys()),
                {"eval_batch_size": "batch_size"},
            ),
            own_scoring,
        )
        specs.append(
            ModelSpec(
                mname,
                src,
                kind=kind.name,
                tiny_seed=r.int_(m.get("tiny_seed", 0), f"{key}.tiny_seed", 0, MOST_SEED),
                family=family,
                training=_settings(r, kind, "training", training, key) if kind.trains else Settings(),
                scoring=_settings(r, kind, "scoring", scoring, key),
                epochs=epochs,
                evaluate_each_epoch=each,
                conditions=_model_conditions(r, m.get("conditions"), f"{key}.conditions", kind, conditions),
                fit=fit,
            )
        )
        if "modes" in m:
            specs.extend(_mode_models(r, specs[-1], m["modes"], f"{key}.modes", kind, conditions))
    _check_study_training(r, study_wide, [k for k in kinds if k.trains])
    return specs


def _model_fit(r: ConfigReader, m: Mapping[str, Any], key: str, kind, fits: Mapping[str, FitSpec]) -> str | None:
    """`fit: NAME` under a model: a physics observer scored with what fit NAME found. Its
    scoring comes from the fit alone (one source of truth), so `scoring:` beside it is refused."""
    if "fit" not in m:
        return None
    name = m["fit"]
    if kind.name != FITTED_KIND:
        raise r.error(
            f"{key}.fit", f"a fit estimates a {FITTED_KIND} observer's settings, not a {kind.name}'s", m, "fit"
        )
    if name not in fits:
        known = f"; the study's fits: {', '.join(sorted(fits))}" if fits else "; define it under fits:"
        raise r.error(f"{key}.fit", f"unknown fit {name!r}{known}", m, "fit")
    scoring = m.get("scoring") or {}
    if isinstance(scoring, dict) and any(k not in FITTED_OWN_SCORING for k in scoring):
        raise r.error(
            f"{key}.scoring",
            f"a fitted model is scored with its fit's settings (set them under fits:); only "
            f"{', '.join(FITTED_OWN_SCORING)} may be given here",
            m,
            "scoring",
        )
    return str(name)


def parse_fit(r: ConfigReader, name: str, f: Any, sets: dict[str, SetSpec], rel) -> FitSpec:
    """One entry of `fits:`: `set`, optional `humans` and `base` (the physics observer's
    settings the fit starts from), and the fit's own settings (`FitConfig`, typed once)."""
    from cubeworld.fitting.config import BASE_OWNED, FITTABLE, FitConfig
    from cubeworld.observers.noisy_newton import PhysicsScoring

    key = f"fits.{name}"
    r.name(name, key)
    f = r.mapping(f, key)
    if "set" not in f:
        raise r.error(f"{key}.set", "missing (required: the study's set whose answers are fitted)")
    sname = f["set"]
    if sname not in sets:
        raise r.error(f"{key}.set", f"unknown set {sname!r}; define it under sets", f, "set")
    root = sets[sname]
    while root.origin == "split":
        root = sets[str(root.parent)]
    if root.origin == "dataset":
        raise r.error(
            f"{key}.set",
            f"set {sname!r} is photos ({root.dataset}): they record no scene to simulate, so the physics observer "
            "cannot be fitted to them",
            f,
            "set",
        )
    humans = rel(r.str_(f["humans"], f"{key}.humans")) if "humans" in f else None
    base = r.mapping(f.get("base") or {}, f"{key}.base")
    owned = [k for k in base if k in BASE_OWNED]
    if owned:
        raise r.error(
            f"{key}.base.{owned[0]}",
            f"is the fit's own setting: give it beside set: (fits.{name}.{owned[0]})",
            base,
            owned[0],
        )
    own = located_subset(f, lambda k: k not in FIT_OWN_KEYS)
    try:
        config = from_plain(FitConfig, own, key, ConfigError)
        base_values = from_plain(PhysicsScoring, base, f"{key}.base", ConfigError)
    except ConfigError as err:
        raise ConfigError(str(err) if str(err).startswith(str(r.source)) else f"{r.source}: {err}") from None
    bad = [p for p in config.params if p not in FITTABLE]
    if bad:
        raise r.error(
            f"{key}.params", f"{bad[0]!r} cannot be fitted; choose from {', '.join(FITTABLE)} (the lapse always is)"
        )
    return FitSpec(name, str(sname), humans, config, base_values)


def _settings(r: ConfigReader, kind, section: str, data: Mapping[str, Any], key: str) -> Settings:
    """A model's `training:` / `scoring:` (its own and the study-wide values its kind has)
    read into its kind's typed config, once; a problem names the file, line and key."""
    try:
        return kind.settings(section, data, f"{key}.{section}", ConfigError)
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(f"{r.source}:") else f"{r.source}: {message}") from None


def _mode_models(
    r: ConfigReader, spec: ModelSpec, value: Any, key: str, kind, conditions: list[ConditionSpec]
) -> list[ModelSpec]:
    """`modes: [free, step]` under a model: the same observer asked in further prompting
    modes (`cubeworld.models.modes`), on the same items. Each mode is one more observer,
    "<model>@<mode>" (the `model` column of its rows, so the report pairs it with the
    model's own rows: the `modes` analysis), in the model's zero-shot conditions; a trained
    checkpoint is asked in another mode with `cubeworld evaluate --mode`."""
    from cubeworld.models.modes import DEFAULT_MODE, MODE_SEPARATOR, MODES

    if "mode" not in kind.scoring_keys():
        raise r.error(key, f"a {kind.name} observer has no prompting modes (only a VLM is asked in modes)")
    own = getattr(spec.scoring.values, "mode", DEFAULT_MODE)
    zero_shot = tuple(n for n in spec.conditions or () if any(c.name == n and c.zero_shot for c in conditions))
    if not zero_shot:
        raise r.error(key, "modes apply to zero-shot conditions; this model takes part in none")
    out: list[ModelSpec] = []
    for i, mode in enumerate(r.list_(value, key)):
        if mode not in MODES:
            raise r.error(f"{key}[{i}]", f"unknown mode {mode!r}; expected one of {list(MODES)}")
        if mode == own or any(o.name.endswith(f"{MODE_SEPARATOR}{mode}") for o in out):
            raise r.error(f"{key}[{i}]", f"mode {mode!r} given twice (the model's own scoring is {own})")
        given = {**spec.scoring.given_plain(), "mode": mode}
        out.append(
            replace(
                spec,
                name=f"{spec.name}{MODE_SEPARATOR}{mode}",
                scoring=_settings(r, kind, "scoring", given, key.rsplit(".", 1)[0]),
                conditions=zero_shot,
            )
        )
    return out


def _model_conditions(r: ConfigReader, value: Any, key: str, kind, conditions: list[ConditionSpec]) -> tuple[str, ...]:
    """The conditions a model takes part in: the ones listed, else every one its kind can
    do. Listing one it cannot do (a physics observer and a training recipe) is an error."""

    def fits(c: ConditionSpec) -> bool:
        return kind.zero_shot if c.zero_shot else kind.trains

    by_name = {c.name: c for c in conditions}
    if value is None:
        names = tuple(c.name for c in conditions if fits(c))
        if not names:
            what = "zero-shot" if kind.zero_shot else "training"
            raise r.error(
                key.rsplit(".", 1)[0],
                f"no condition of this study suits a {kind.name} observer (it needs a {what} condition)",
            )
        return names
    listed: list[str] = []
    for i, n in enumerate(r.list_(value, key)):
        if n not in by_name:
            raise r.error(f"{key}[{i}]", f"unknown condition {n!r}; define it under conditions")
        c = by_name[n]
        if not fits(c):
            if c.zero_shot:
                problem = (
                    f"a {kind.name} observer cannot answer zero-shot (it must be trained); condition {n!r} is zero-shot"
                )
            else:
                problem = f"a {kind.name} observer needs no training and cannot be trained; condition {n!r} trains"
            raise r.error(f"{key}[{i}]", problem)
        if n in listed:
            raise r.error(f"{key}[{i}]", f"condition {n!r} listed twice")
        listed.append(n)
    return tuple(listed)


def _check_study_training(r: ConfigReader, training: Mapping[str, Any], trained_kinds: list) -> None:
    """Each study-wide training key must be a setting of some trained model's kind."""
    known: set[str] = set()
    for kind in trained_kinds:
        known |= set(kind.training_keys())
    for k in training:
        if k not in known:
            allowed = sorted(known - set(STUDY_OWNED)) if known else []
            problem = (
                f"unknown fine-tuning setting; expected one of {allowed}"
                if allowed
                else "no model of this study can be trained"
            )
            raise r.error(f"training.{k}", problem, training, k)


def _check_family(r: ConfigReader, family: str, key: str) -> None:
    """Check a tiny family name against the models stage's registry of model families."""
    from cubeworld.models.families import MODEL_FAMILIES

    if family not in MODEL_FAMILIES:
        raise r.error(key, f"unknown tiny family {family!r}; expected one of {', '.join(MODEL_FAMILIES.names())}")
