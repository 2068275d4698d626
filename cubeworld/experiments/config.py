"""Read and check a study config: one YAML file that names the whole experiment grid.

Every mistake in the file is reported once, at load time, as a `ConfigError` naming the
file, the line where the mapping knows it, and the key (`studies/x.yaml:14:
models.tiny.training.lora_rank: unknown setting; ...`), before anything is written. The
file's structure (sets, conditions, models, evaluation) is read here; every component's
settings (a model's `training:` / `scoring:` by its observer kind, `executor.slurm`) go
through the one typed-config mechanism, `cubeworld.typed`. The values it produces are
`schema.py`'s.

Shape (see `studies/quick.yaml` and `studies/paper.yaml` for full examples):

    name: quick                       # folder name under runs_dir
    runs_dir: runs                    # relative to the config file's folder
    models:                           # name -> an observer (contract E)
      tiny: {source: tiny}            # kind vlm (default): tiny (built offline), HF id, folder
      qwen: {source: Qwen/Qwen2-VL-2B-Instruct,
             training: {lora_r: 8},   #   per-model FinetuneConfig overrides
             scoring: {batch_size: 4}}  # per-model evaluate() keyword overrides
      cnn: {kind: cnn, training: {epochs: 8}}   # a CNN trained from scratch
      physics: {kind: physics, scoring: {n_simulations: 20}}  # noisy Newton, no training
      #   + tiny_seed, family (source tiny), conditions: [names] (default: every condition
      #     the kind can do: a physics observer only zero-shot ones, a CNN only trained ones)
    sets:                             # name -> where the set comes from
      towers-2-4-train: {domain: tower, sizes: [2, 3, 4], per_size: 40, seed: 1}
                                      # + control_cues: true for a cue-controlled set
      towers-eval: {preset: towers-eval}
      lerer100: {dataset: lerer100}   # an external data set (cubeworld.datasets registry):
                                      # the shipped copy, $CUBEWORLD_LERER100, or `from: DIR`
      lerer-train: {split: lerer100, part: train, fraction: 0.5, seed: 7}
      lerer-test: {split: lerer100, part: test, fraction: 0.5, seed: 7}
                                      # two disjoint parts of a set (per size x label)
      mine: {path: data/my-set}       # an existing set folder
      towers-human: {preset: towers-human, humans: data/towers-human-responses.csv}
                                      # + human judgments for the report's kappas
    conditions:                       # name -> a training recipe
      zero-shot: {zero_shot: true}
      towers-2-4: {train: [{set: towers-2-4-train}]}
      joint: {size: 100, train: [{set: a, proportion: 0.5}, {set: b, proportion: 0.5}]}
      human-towers-2-4: {train: [{set: t, labels: {humans: data/responses.csv}}]}
      human-lerer: {train: [{set: lerer-train, labels: humans}]}  # the set's own table
    evaluation: [towers-eval, pyramids-eval, lerer100, lerer-test]
    seeds: [0, 1, 2]
    training: {epochs: 10, evaluate_each_epoch: true, eval_batch_size: 8}
                                      # + any training setting of the study's models' kinds
    executor: {kind: local}           # or slurm, with resources under `slurm:`

A recipe part draws `n` stimuli (or `proportion` of the condition's `size`; the whole set
when neither is given and the part is alone), with the run's seed. The study's own values
(seeds 0-2, 10 epochs, every fine-tuning hyperparameter) are not restated here: they come
from `cubeworld.hyperparameters` and the kinds' typed configs; `training:` only overrides
them. A study-wide `training:` key applies to every model whose kind has that setting; a
model's own `training:` wins; the two are merged once, here, into the model's typed
settings. A run is never scored on a set that shares stimuli with its training
data (the same set, or a split of it); the two parts of one split share none.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from cubeworld.errors import ConfigError as TypedConfigError
from cubeworld.experiments.schema import (  # noqa: F401 - re-exported: the config's public names
    DEFAULT_EPOCHS,
    DEFAULT_SEEDS,
    GROUND_TRUTH,
    TINY,
    ConditionSpec,
    ExecutorSpec,
    FitSpec,
    LabelSource,
    ModelSpec,
    SetSpec,
    SlurmSpec,
    StudyConfig,
    TrainPart,
)
from cubeworld.formats.yamlfile import LocatedDict, read_yaml
from cubeworld.observers.base import STUDY_OWNED, Settings
from cubeworld.stimuli import DEFAULT_RESOLUTION
from cubeworld.stimuli.families import FAMILIES
from cubeworld.trainer.data import MOST_ITEMS, MOST_SEED
from cubeworld.typed import from_plain

MOST_EPOCHS = 10_000

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Study-level training keys that every trainable kind takes (the study handles them).
STUDY_TRAINING = ("epochs", "evaluate_each_epoch")

SET_SOURCES = ("preset", "domain", "path", "dataset", "split")
SPLIT_PARTS = ("train", "test")


class ConfigError(TypedConfigError):
    """A study config is invalid; the message names the file (and line) and the key."""


class _Reader:
    """Checks values and raises ConfigError with `file[:line]: key: problem`."""

    def __init__(self, source: Path):
        self.source = source

    def error(self, key: str, problem: str, within: Any = None, name: Any = None) -> ConfigError:
        """The error for `key`; with the mapping `within` that holds `name` (read from the
        file), the message names the line too."""
        lines = getattr(within, "lines", None) or {}
        at = f"{self.source}:{lines[name]}" if name in lines else str(self.source)
        return ConfigError(f"{at}: {key}: {problem}" if key else f"{at}: {problem}")

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__}")
        return value

    def only(self, value: dict, key: str, allowed: set[str], hint: dict[str, str] | None = None) -> None:
        extra = sorted(set(value) - allowed, key=str)
        if extra:
            where = f"{key}.{extra[0]}" if key else str(extra[0])
            more = f" ({hint[extra[0]]})" if hint and extra[0] in hint else ""
            raise self.error(where, f"unknown key; expected one of {sorted(allowed)}{more}", value, extra[0])

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.error(key, f"expected a name of letters, digits, '.', '_' or '-', got {value!r}")
        return value

    def int_(self, value: Any, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")
        return value

    def bool_(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def str_(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def list_(self, value: Any, key: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.error(key, "expected a non-empty list")
        return value


TOP_KEYS = {
    "name",
    "description",
    "runs_dir",
    "models",
    "sets",
    "conditions",
    "evaluation",
    "seeds",
    "training",
    "executor",
    "fits",
}
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


def load_config(path: str | Path, runs_dir: str | Path | None = None) -> StudyConfig:
    """Read and validate a study config; `runs_dir` overrides the file's `runs_dir`."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{source}: no such study config")
    data = read_yaml(source, ConfigError)  # a syntax error: one line with file, line and column
    return parse_config(data, source, runs_dir=runs_dir)


def parse_config(data: Any, source: Path, runs_dir: str | Path | None = None) -> StudyConfig:
    r = _Reader(source)
    root = source.resolve().parent
    data = r.mapping(data, "")
    r.only(data, "", TOP_KEYS)
    for key in ("name", "models", "sets", "conditions", "evaluation"):
        if key not in data:
            raise r.error(key, "missing (required)")
    name = r.name(data["name"], "name")

    def rel(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else root / q

    runs = Path(runs_dir) if runs_dir is not None else rel(r.str_(data.get("runs_dir", "runs"), "runs_dir"))

    sets: dict[str, SetSpec] = {}
    for sname, s in r.mapping(data["sets"], "sets").items():
        sets[sname] = _parse_set(r, sname, s, rel)
    _check_splits(r, sets)

    conditions = []
    for cname, c in r.mapping(data["conditions"], "conditions").items():
        conditions.append(_parse_condition(r, cname, c, sets, rel))
    if not conditions:
        raise r.error("conditions", "name at least one condition")

    evaluation = []
    for i, e in enumerate(r.list_(data["evaluation"], "evaluation")):
        if e not in sets:
            raise r.error(f"evaluation[{i}]", f"unknown set {e!r}; define it under sets")
        if e in evaluation:
            raise r.error(f"evaluation[{i}]", f"set {e!r} listed twice")
        evaluation.append(e)

    seeds = data.get("seeds", list(DEFAULT_SEEDS))
    seeds = [r.int_(s, f"seeds[{i}]", 0, MOST_SEED) for i, s in enumerate(r.list_(seeds, "seeds"))]
    if len(set(seeds)) != len(seeds):
        raise r.error("seeds", "a seed is listed twice")

    training = r.mapping(data.get("training", {}) or {}, "training")
    epochs = r.int_(training.get("epochs", StudyConfig.epochs), "training.epochs", 1, MOST_EPOCHS)
    each = r.bool_(training.get("evaluate_each_epoch", StudyConfig.evaluate_each_epoch), "training.evaluate_each_epoch")
    for k in STUDY_OWNED:
        if k in training:
            raise r.error(
                f"training.{k}",
                "is set by the study itself (models, conditions, seeds, evaluation), not under training:",
                training,
                k,
            )
    study_wide = _subset(training, lambda k: k not in (*STUDY_TRAINING, "eval_batch_size"))
    eval_batch = _subset(training, lambda k: k == "eval_batch_size")
    fits = {fname: _parse_fit(r, fname, f, sets, rel) for fname, f in r.mapping(data.get("fits") or {}, "fits").items()}
    models = _parse_models(r, data["models"], conditions, study_wide, eval_batch, (epochs, each), rel, fits)
    executor = _parse_executor(r, data.get("executor", {}) or {})
    return StudyConfig(
        name=name,
        source=source.resolve(),
        root=root,
        runs_dir=runs.resolve(),
        models=tuple(models),
        sets=sets,
        conditions=tuple(conditions),
        evaluation=tuple(evaluation),
        seeds=tuple(seeds),
        epochs=epochs,
        evaluate_each_epoch=each,
        executor=executor,
        fits=fits,
    )


def _is_key_of(keys: Iterable[str], key: str) -> bool:
    return key in keys


def _always(answer: bool, _key: str) -> bool:
    return answer


def _subset(
    mapping: Mapping[str, Any], keep: Callable[[str], bool], rename: dict[str, str] | None = None
) -> LocatedDict:
    """The entries of `mapping` whose key `keep`s, (renamed,) knowing their lines as before."""
    rename = rename or {}
    out = LocatedDict()
    out.source = getattr(mapping, "source", "")
    lines = getattr(mapping, "lines", {})
    for k, v in mapping.items():
        if keep(k):
            out[rename.get(k, k)] = v
            if k in lines:
                out.lines[rename.get(k, k)] = lines[k]
    return out


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


# -- models ----------------------------------------------------------------------------


def _observer(r: _Reader, kind: Any, key: str):
    from cubeworld.errors import UnknownEntryError
    from cubeworld.observers import OBSERVERS

    try:
        return OBSERVERS.get(kind)
    except UnknownEntryError as e:
        raise r.error(key, str(e)) from None


def _parse_models(
    r: _Reader,
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
            _subset(study_wide, functools.partial(_is_key_of, kind.training_keys())),
            _subset(own_training, lambda k: k not in STUDY_TRAINING),
        )
        scoring = _merged(
            _subset(
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


def _model_fit(r: _Reader, m: Mapping[str, Any], key: str, kind, fits: Mapping[str, FitSpec]) -> str | None:
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


def _parse_fit(r: _Reader, name: str, f: Any, sets: dict[str, SetSpec], rel) -> FitSpec:
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
    own = _subset(f, lambda k: k not in FIT_OWN_KEYS)
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


def _settings(r: _Reader, kind, section: str, data: Mapping[str, Any], key: str) -> Settings:
    """A model's `training:` / `scoring:` (its own and the study-wide values its kind has)
    read into its kind's typed config, once; a problem names the file, line and key."""
    try:
        return kind.settings(section, data, f"{key}.{section}", ConfigError)
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(f"{r.source}:") else f"{r.source}: {message}") from None


def _mode_models(
    r: _Reader, spec: ModelSpec, value: Any, key: str, kind, conditions: list[ConditionSpec]
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


def _model_conditions(r: _Reader, value: Any, key: str, kind, conditions: list[ConditionSpec]) -> tuple[str, ...]:
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


def _check_study_training(r: _Reader, training: Mapping[str, Any], trained_kinds: list) -> None:
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


def _check_family(r: _Reader, family: str, key: str) -> None:
    """Check a tiny family name against the models stage's registry of model families."""
    from cubeworld.models.families import MODEL_FAMILIES

    if family not in MODEL_FAMILIES:
        raise r.error(key, f"unknown tiny family {family!r}; expected one of {', '.join(MODEL_FAMILIES.names())}")


# -- sets ------------------------------------------------------------------------------


def _parse_set(r: _Reader, name: str, s: Any, rel) -> SetSpec:
    key = f"sets.{name}"
    r.name(name, key)
    if isinstance(s, str):
        s = {"preset": s}
    s = dict(r.mapping(s, key))
    humans = rel(r.str_(s.pop("humans"), f"{key}.humans")) if "humans" in s else None
    spec = _parse_set_source(r, key, name, s, rel)
    return replace(spec, humans=humans) if humans is not None else spec


_LEGACY = {"lerer100": "now `dataset: lerer100` (the copy shipped with cubeworld; `from: DIR` reads another folder)"}


def _parse_set_source(r: _Reader, key: str, name: str, s: dict, rel) -> SetSpec:
    origins = [k for k in SET_SOURCES if k in s]
    if len(origins) != 1:
        if not origins:
            r.only(s, key, set(SET_SOURCES), _LEGACY)
        raise r.error(key, "give exactly one of preset, domain (generator arguments), path, dataset, split")
    origin = origins[0]
    if origin == "preset":
        r.only(s, key, {"preset"})
        return SetSpec(name, "preset", preset=r.str_(s["preset"], f"{key}.preset"))
    if origin == "path":
        r.only(s, key, {"path"})
        return SetSpec(name, "path", path=rel(r.str_(s["path"], f"{key}.path")))
    if origin == "dataset":
        r.only(s, key, {"dataset", "from"})
        from cubeworld.datasets.catalog import DATASETS

        ds = r.str_(s["dataset"], f"{key}.dataset")
        if ds not in DATASETS:
            raise r.error(
                f"{key}.dataset", f"unknown external data set {ds!r}; expected one of {', '.join(DATASETS.names())}"
            )
        src = rel(r.str_(s["from"], f"{key}.from")) if "from" in s else None
        return SetSpec(name, "dataset", dataset=ds, source=src)
    if origin == "split":
        r.only(s, key, {"split", "part", "fraction", "seed"})
        parent = r.str_(s["split"], f"{key}.split")
        for k in ("part", "fraction", "seed"):
            if k not in s:
                raise r.error(f"{key}.{k}", "missing (required with split)")
        if s["part"] not in SPLIT_PARTS:
            raise r.error(f"{key}.part", f"expected one of {list(SPLIT_PARTS)}, got {s['part']!r}")
        frac = s["fraction"]
        if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
            raise r.error(
                f"{key}.fraction",
                f"expected a number between 0 and 1 (the share drawn into part 'train'), got {frac!r}",
            )
        return SetSpec(
            name, "split", parent=parent, part=s["part"], fraction=float(frac), seed=r.int_(s["seed"], f"{key}.seed", 0)
        )
    r.only(s, key, {"domain", "sizes", "per_size", "seed", "resolution", "control_cues"})
    domain = s["domain"]
    if domain not in FAMILIES:
        raise r.error(f"{key}.domain", f"unknown domain {domain!r}; expected one of {sorted(FAMILIES)}")
    sizes = [r.int_(x, f"{key}.sizes[{i}]", 1) for i, x in enumerate(r.list_(s.get("sizes"), f"{key}.sizes"))]
    bad = [x for x in sizes if x not in FAMILIES.get(domain).sizes]
    if bad:
        raise r.error(
            f"{key}.sizes",
            f"{bad[0]} blocks is not a {domain} size; expected some of {list(FAMILIES.get(domain).sizes)}",
        )
    for k in ("per_size", "seed"):
        if k not in s:
            raise r.error(f"{key}.{k}", "missing (required with domain)")
    return SetSpec(
        name,
        "generate",
        domain=domain,
        sizes=tuple(sizes),
        per_size=r.int_(s["per_size"], f"{key}.per_size", 1),
        seed=r.int_(s["seed"], f"{key}.seed", 0),
        resolution=r.int_(s.get("resolution", DEFAULT_RESOLUTION), f"{key}.resolution", 16),
        control_cues=r.bool_(s.get("control_cues", False), f"{key}.control_cues"),
    )


def _check_splits(r: _Reader, sets: dict[str, SetSpec]) -> None:
    for name, spec in sets.items():
        if spec.origin != "split":
            continue
        seen = [name]
        cur = spec
        while cur.origin == "split":
            if cur.parent not in sets:
                raise r.error(f"sets.{seen[-1]}.split", f"unknown set {cur.parent!r}; define it under sets")
            if cur.parent in seen:
                raise r.error(f"sets.{name}.split", f"splits form a cycle: {' -> '.join([*seen, cur.parent])}")
            seen.append(cur.parent)
            cur = sets[cur.parent]


# -- conditions ------------------------------------------------------------------------


def _parse_labels(r: _Reader, value: Any, key: str, rel) -> LabelSource:
    if value in (None, GROUND_TRUTH):
        return LabelSource()
    if value == "humans":
        return LabelSource(from_set=True)
    if isinstance(value, dict) and set(value) == {"humans"}:
        return LabelSource(humans=rel(r.str_(value["humans"], f"{key}.humans")))
    raise r.error(key, f"expected {GROUND_TRUTH!r}, 'humans' (the set's own table) or {{humans: PATH}}, got {value!r}")


def _parse_condition(r: _Reader, name: str, c: Any, sets: dict, rel) -> ConditionSpec:
    key = f"conditions.{name}"
    r.name(name, key)
    c = r.mapping(c, key)
    r.only(c, key, {"zero_shot", "train", "size", "labels", "description"})
    description = r.str_(c["description"], f"{key}.description") if "description" in c else ""
    if c.get("zero_shot"):
        r.bool_(c["zero_shot"], f"{key}.zero_shot")
        if "train" in c:
            raise r.error(key, "a zero_shot condition has no train sets")
        return ConditionSpec(name, description=description)
    if "train" not in c:
        raise r.error(f"{key}.train", "missing (or set zero_shot: true)")
    size = r.int_(c["size"], f"{key}.size", 1, MOST_ITEMS) if "size" in c else None
    default_labels = _parse_labels(r, c.get("labels"), f"{key}.labels", rel)
    parts = []
    for i, p in enumerate(r.list_(c["train"], f"{key}.train")):
        pkey = f"{key}.train[{i}]"
        if isinstance(p, str):
            p = {"set": p}
        p = r.mapping(p, pkey)
        r.only(p, pkey, {"set", "n", "proportion", "labels"})
        sname = p.get("set")
        if sname not in sets:
            raise r.error(f"{pkey}.set", f"unknown set {sname!r}; define it under sets")
        if "n" in p and "proportion" in p:
            raise r.error(pkey, "give n or proportion, not both")
        n = None
        if "n" in p:
            n = r.int_(p["n"], f"{pkey}.n", 1, MOST_ITEMS)
        elif "proportion" in p:
            prop = p["proportion"]
            if isinstance(prop, bool) or not isinstance(prop, (int, float)) or not 0 < prop <= 1:
                raise r.error(f"{pkey}.proportion", f"expected a number in (0, 1], got {prop!r}")
            if size is None:
                raise r.error(f"{key}.size", "required when a part gives a proportion")
            n = max(1, round(size * prop))
        labels = _parse_labels(r, p["labels"], f"{pkey}.labels", rel) if "labels" in p else default_labels
        if i > 0 and labels.is_human:
            raise r.error(
                f"{pkey}.labels",
                "human labels are supported on the first set of a "
                "recipe only (the others are mixed in with their ground truth)",
            )
        parts.append(TrainPart(str(sname), n, labels))
    if len(parts) > 1:
        for i, p in enumerate(parts):
            if p.n is None:
                raise r.error(
                    f"{key}.train[{i}]", "a recipe of several sets needs n or proportion (with size) for each set"
                )
    return ConditionSpec(name, tuple(parts), description)


# -- executor --------------------------------------------------------------------------


def _parse_executor(r: _Reader, e: Any) -> ExecutorSpec:
    e = r.mapping(e, "executor")
    r.only(e, "executor", {"kind", "slurm"})
    kind = e.get("kind", "local")
    if kind not in ("local", "slurm"):
        raise r.error("executor.kind", f"expected local or slurm, got {kind!r}", e, "kind")
    s = r.mapping(e.get("slurm", {}) or {}, "executor.slurm")
    try:
        slurm = from_plain(SlurmSpec, s, "executor.slurm", ConfigError)
    except ConfigError as err:
        raise ConfigError(str(err) if str(err).startswith(str(r.source)) else f"{r.source}: {err}") from None
    return ExecutorSpec(kind, slurm)


def config_summary(cfg: StudyConfig) -> dict[str, Any]:
    """A plain dict of the config (for `study.json` in the study folder)."""
    return _plain(asdict(cfg))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v
