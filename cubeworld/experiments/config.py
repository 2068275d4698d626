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
model's own `training:` wins; the two are merged once, in `config_models`, into the model's
typed settings. A run is never scored on a set that shares stimuli with its training
data (the same set, or a split of it); the two parts of one split share none.

This module holds the entry points and reads the file's sections in order; the parts live
in modules of their own, one job each: `config_reader` (`ConfigError` and the value checks
every part shares), `config_sets` (`sets:` and `conditions:`), `config_models` (`models:`
and `fits:`). Every public name stays importable from here.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from cubeworld.experiments.config_models import (  # noqa: F401 - constants re-exported: the config's public names
    FIT_OWN_KEYS,
    FITTED_KIND,
    FITTED_OWN_SCORING,
    MODEL_KEYS,
    MOST_EPOCHS,
    STUDY_TRAINING,
    parse_fit,
    parse_models,
)
from cubeworld.experiments.config_reader import (  # noqa: F401 - NAME_RE, ConfigError re-exported
    NAME_RE,
    ConfigError,
    ConfigReader,
    located_subset,
)
from cubeworld.experiments.config_sets import (  # noqa: F401 - SET_SOURCES, SPLIT_PARTS re-exported
    SET_SOURCES,
    SPLIT_PARTS,
    check_splits,
    parse_condition,
    parse_set,
)
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
from cubeworld.formats.yamlfile import read_yaml
from cubeworld.observers.base import STUDY_OWNED
from cubeworld.trainer.data import MOST_SEED
from cubeworld.typed import from_plain

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


def load_config(path: str | Path, runs_dir: str | Path | None = None) -> StudyConfig:
    """Read and validate a study config; `runs_dir` overrides the file's `runs_dir`."""
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{source}: no such study config")
    data = read_yaml(source, ConfigError)  # a syntax error: one line with file, line and column
    return parse_config(data, source, runs_dir=runs_dir)


def parse_config(data: Any, source: Path, runs_dir: str | Path | None = None) -> StudyConfig:
    r = ConfigReader(source)
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
        sets[sname] = parse_set(r, sname, s, rel)
    check_splits(r, sets)

    conditions = []
    for cname, c in r.mapping(data["conditions"], "conditions").items():
        conditions.append(parse_condition(r, cname, c, sets, rel))
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
    study_wide = located_subset(training, lambda k: k not in (*STUDY_TRAINING, "eval_batch_size"))
    eval_batch = located_subset(training, lambda k: k == "eval_batch_size")
    fits = {fname: parse_fit(r, fname, f, sets, rel) for fname, f in r.mapping(data.get("fits") or {}, "fits").items()}
    models = parse_models(r, data["models"], conditions, study_wide, eval_batch, (epochs, each), rel, fits)
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


# -- executor --------------------------------------------------------------------------


def _parse_executor(r: ConfigReader, e: Any) -> ExecutorSpec:
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
