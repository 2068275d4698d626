"""The study config: one YAML file that names the whole experiment grid.

Why typed dataclasses: every stage after loading works on checked values, and every
mistake in the file is reported once, at load time, as a `ConfigError` naming the file and
the key (`studies/x.yaml: conditions.joint.train[1].n: expected a positive integer`).

Shape (see `studies/quick.yaml` and `studies/paper.yaml` for full examples):

    name: quick                       # folder name under runs_dir
    runs_dir: runs                    # relative to the config file's folder
    models:                           # name -> source: "tiny" (built offline), HF id, folder
      tiny: {source: tiny}
    sets:                             # name -> a generator preset, generator arguments,
      towers-2-4-train: {domain: tower, sizes: [2, 3, 4], per_size: 40, seed: 1}
      towers-eval: {preset: towers-eval}
      lerer100: {lerer100: default}   # imported from $CUBEWORLD_LERER100, else from
                                      # shared/data/lerer100 beside the repository (the
                                      # config's folder's parent); absent -> skipped
      mine: {path: data/my-set}       # an existing set folder
      towers-human: {preset: towers-human, humans: data/towers-human-responses.csv}
                                      # + human judgments for the report's kappas
    conditions:                       # name -> a training recipe
      zero-shot: {zero_shot: true}
      towers-2-4: {train: [{set: towers-2-4-train}]}
      joint: {size: 100, train: [{set: a, proportion: 0.5}, {set: b, proportion: 0.5}]}
      human-towers-2-4: {train: [{set: t, labels: {humans: data/responses.csv}}]}
      human-lerer: {train: [{set: lerer100, labels: humans}]}  # the set's own table
    evaluation: [towers-eval, pyramids-eval, lerer100]
    seeds: [0, 1, 2]
    training: {epochs: 10, evaluate_each_epoch: true, eval_batch_size: 8}
                                      # + any FinetuneConfig field (lr, lora_r, max_pixels...)
    executor: {kind: local}           # or slurm, with resources under `slurm:`

A recipe part draws `n` stimuli (or `proportion` of the condition's `size`; the whole set
when neither is given and the part is alone), with the run's seed. The study's own values
(seeds 0-2, 10 epochs, every fine-tuning hyperparameter) are not restated here: they come
from `cubeworld/models/defaults.yaml`; `training:` only overrides them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.yamlfile import read_yaml
from cubeworld.models.config import DEFAULTS as MODEL_DEFAULTS  # light: yaml + dataclass
from cubeworld.stimuli.families import FAMILIES

# The study's own values, stated once in cubeworld/models/defaults.yaml.
DEFAULT_SEEDS: tuple[int, ...] = tuple(MODEL_DEFAULTS["seeds"])
DEFAULT_EPOCHS: int = int(MODEL_DEFAULTS["finetune"]["epochs"])

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TINY = "tiny"
GROUND_TRUTH = "ground_truth"
# Where the Lerer100 folder is looked up when a config names `lerer100: default`:
# $CUBEWORLD_LERER100, else ../shared/data/lerer100 next to the config's repository.
LERER100_ENV = "CUBEWORLD_LERER100"


class ConfigError(CubeworldError):
    """A study config is invalid; the message names the file and the key."""


# -- dataclasses -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A model to fine-tune: `source` is "tiny", a Hugging Face id or a local folder."""

    name: str
    source: str
    tiny_seed: int = 0  # only for source "tiny": the seed of its random weights

    @property
    def is_tiny(self) -> bool:
        return self.source == TINY


@dataclass(frozen=True)
class SetSpec:
    """Where a set comes from: exactly one of preset / generator arguments / path / lerer100."""

    name: str
    kind: str  # "preset" | "generate" | "path" | "lerer100"
    preset: str | None = None
    domain: str | None = None
    sizes: tuple[int, ...] = ()
    per_size: int | None = None
    seed: int | None = None
    resolution: int | None = None
    path: Path | None = None
    # Human judgments of (some of) this set's stimuli, e.g. the export of `cubeworld human`
    # on its 120-item subset: used by the report's kappa analysis, not by any run.
    humans: Path | None = None

    def identity(self) -> dict[str, Any]:
        """What makes this set this set (written into each run's resolved config)."""
        if self.kind == "preset":
            return {"preset": self.preset}
        if self.kind == "generate":
            return {"domain": self.domain, "sizes": list(self.sizes), "per_size": self.per_size,
                    "seed": self.seed, "resolution": self.resolution}
        return {self.kind: str(self.path)}


@dataclass(frozen=True)
class LabelSource:
    """Ground truth (`humans is None`) or the majority of a human-responses table."""

    humans: Path | None = None
    from_set: bool = False  # `labels: humans`: the set folder's own human_responses.csv

    @property
    def is_human(self) -> bool:
        return self.from_set or self.humans is not None

    def identity(self) -> str:
        if self.from_set:
            return "humans:set"
        return GROUND_TRUTH if self.humans is None else f"humans:{self.humans}"


@dataclass(frozen=True)
class TrainPart:
    """Part of a training recipe: `n` examples (None = the whole set) drawn from one set."""

    set: str
    n: int | None = None
    labels: LabelSource = LabelSource()


@dataclass(frozen=True)
class ConditionSpec:
    """A training recipe; zero-shot (no fine-tuning) is a condition with no parts."""

    name: str
    train: tuple[TrainPart, ...] = ()

    @property
    def zero_shot(self) -> bool:
        return not self.train


@dataclass(frozen=True)
class SlurmSpec:
    """Resources of one fine-tuning job (one array task per run)."""

    partition: str | None = None
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 64
    timeout_min: int = 24 * 60
    array_parallelism: int = 64
    constraint: str | None = None
    account: str | None = None
    qos: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run before each job (module load, ...)
    poll_s: float = 5.0


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"  # "local" | "slurm"
    slurm: SlurmSpec = SlurmSpec()


@dataclass(frozen=True)
class StudyConfig:
    """A whole study, validated. `root` is the config file's folder (relative paths start there)."""

    name: str
    source: Path
    root: Path
    runs_dir: Path
    models: tuple[ModelSpec, ...]
    sets: dict[str, SetSpec]
    conditions: tuple[ConditionSpec, ...]
    evaluation: tuple[str, ...]
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    # Study values (models/defaults.yaml): 10 epochs, evaluated after each.
    epochs: int = DEFAULT_EPOCHS
    evaluate_each_epoch: bool = True
    training: dict[str, Any] = field(default_factory=dict)  # overrides of FinetuneConfig
    batch_size: int = 8  # evaluation batch size
    executor: ExecutorSpec = ExecutorSpec()

    @property
    def study_dir(self) -> Path:
        return self.runs_dir / self.name

    @property
    def sets_dir(self) -> Path:
        return self.study_dir / "sets"

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def condition(self, name: str) -> ConditionSpec:
        return next(c for c in self.conditions if c.name == name)


# -- loading ---------------------------------------------------------------------------


class _Reader:
    """Checks values and raises ConfigError with `file: key: problem`."""

    def __init__(self, source: Path):
        self.source = source

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}" if key else f"{self.source}: {problem}")

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__}")
        return value

    def only(self, value: dict, key: str, allowed: set[str]) -> None:
        extra = sorted(set(value) - allowed)
        if extra:
            where = f"{key}.{extra[0]}" if key else extra[0]
            raise self.error(where, f"unknown key; expected one of {sorted(allowed)}")

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.error(key, f"expected a name of letters, digits, '.', '_' or '-', got {value!r}")
        return value

    def int_(self, value: Any, key: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
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


TOP_KEYS = {"name", "description", "runs_dir", "models", "sets", "conditions", "evaluation",
            "seeds", "training", "executor"}


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

    # models
    models = []
    for mname, m in r.mapping(data["models"], "models").items():
        key = f"models.{mname}"
        r.name(mname, key)
        if isinstance(m, str):
            m = {"source": m}
        m = r.mapping(m, key)
        r.only(m, key, {"source", "tiny_seed"})
        src = r.str_(m.get("source"), f"{key}.source")
        if src != TINY and (src.startswith((".", "/", "~")) or Path(src).exists()):
            src = str(rel(src))
        models.append(ModelSpec(mname, src, r.int_(m.get("tiny_seed", 0), f"{key}.tiny_seed", 0)))
    if not models:
        raise r.error("models", "name at least one model")

    # sets
    sets: dict[str, SetSpec] = {}
    for sname, s in r.mapping(data["sets"], "sets").items():
        sets[sname] = _parse_set(r, sname, s, rel)

    # conditions
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
    seeds = [r.int_(s, f"seeds[{i}]", 0) for i, s in enumerate(r.list_(seeds, "seeds"))]
    if len(set(seeds)) != len(seeds):
        raise r.error("seeds", "a seed is listed twice")

    training = dict(r.mapping(data.get("training", {}) or {}, "training"))
    epochs = r.int_(training.pop("epochs", StudyConfig.epochs), "training.epochs", 1)
    each = r.bool_(training.pop("evaluate_each_epoch", StudyConfig.evaluate_each_epoch),
                   "training.evaluate_each_epoch")
    batch = r.int_(training.pop("eval_batch_size", StudyConfig.batch_size),
                   "training.eval_batch_size", 1)
    for k in ("out", "model", "train", "mix", "labels", "eval_sets", "seed", "condition",
              "eval_batch_size", "progress", "max_items"):
        if k in training:
            raise r.error(f"training.{k}", "is set by the study itself (models, conditions, "
                          "seeds, evaluation), not under training:")
    from cubeworld.models.config import FinetuneConfig

    allowed = set(FinetuneConfig.__dataclass_fields__)
    for k in training:
        if k not in allowed:
            raise r.error(f"training.{k}", "unknown fine-tuning setting; expected one of "
                          f"{sorted(allowed - {'out', 'model', 'train', 'mix', 'labels', 'eval_sets', 'seed', 'condition', 'eval_batch_size', 'progress', 'max_items'})}")

    executor = _parse_executor(r, data.get("executor", {}) or {})
    return StudyConfig(
        name=name, source=source.resolve(), root=root, runs_dir=runs.resolve(),
        models=tuple(models), sets=sets, conditions=tuple(conditions),
        evaluation=tuple(evaluation), seeds=tuple(seeds), epochs=epochs,
        evaluate_each_epoch=each, training=training, batch_size=batch, executor=executor,
    )


def _parse_set(r: _Reader, name: str, s: Any, rel) -> SetSpec:
    key = f"sets.{name}"
    r.name(name, key)
    if isinstance(s, str):
        s = {"preset": s}
    s = dict(r.mapping(s, key))
    humans = rel(r.str_(s.pop("humans"), f"{key}.humans")) if "humans" in s else None
    spec = _parse_set_source(r, key, name, s, rel)
    return replace(spec, humans=humans) if humans is not None else spec


def _parse_set_source(r: _Reader, key: str, name: str, s: dict, rel) -> SetSpec:
    kinds = [k for k in ("preset", "domain", "path", "lerer100") if k in s]
    if len(kinds) != 1:
        raise r.error(key, "give exactly one of preset, domain (generator arguments), path, lerer100")
    kind = kinds[0]
    if kind == "preset":
        r.only(s, key, {"preset"})
        return SetSpec(name, "preset", preset=r.str_(s["preset"], f"{key}.preset"))
    if kind == "path":
        r.only(s, key, {"path"})
        return SetSpec(name, "path", path=rel(r.str_(s["path"], f"{key}.path")))
    if kind == "lerer100":
        r.only(s, key, {"lerer100"})
        v = r.str_(s["lerer100"], f"{key}.lerer100")
        return SetSpec(name, "lerer100", path=None if v == "default" else rel(v))
    r.only(s, key, {"domain", "sizes", "per_size", "seed", "resolution"})
    domain = s["domain"]
    if domain not in FAMILIES:
        raise r.error(f"{key}.domain", f"unknown domain {domain!r}; expected one of {sorted(FAMILIES)}")
    sizes = [r.int_(x, f"{key}.sizes[{i}]", 1) for i, x in enumerate(r.list_(s.get("sizes"), f"{key}.sizes"))]
    bad = [x for x in sizes if x not in FAMILIES.get(domain).sizes]
    if bad:
        raise r.error(f"{key}.sizes", f"{bad[0]} blocks is not a {domain} size; expected some of {list(FAMILIES.get(domain).sizes)}")
    for k in ("per_size", "seed"):
        if k not in s:
            raise r.error(f"{key}.{k}", "missing (required with domain)")
    return SetSpec(
        name, "generate", domain=domain, sizes=tuple(sizes),
        per_size=r.int_(s["per_size"], f"{key}.per_size", 1),
        seed=r.int_(s["seed"], f"{key}.seed", 0),
        resolution=r.int_(s.get("resolution", 448), f"{key}.resolution", 16),
    )


def _parse_labels(r: _Reader, value: Any, key: str, rel) -> LabelSource:
    if value in (None, GROUND_TRUTH):
        return LabelSource()
    if value == "humans":
        return LabelSource(from_set=True)
    if isinstance(value, dict) and set(value) == {"humans"}:
        return LabelSource(humans=rel(r.str_(value["humans"], f"{key}.humans")))
    raise r.error(key, f"expected {GROUND_TRUTH!r}, 'humans' (the set's own table) or "
                       f"{{humans: PATH}}, got {value!r}")


def _parse_condition(r: _Reader, name: str, c: Any, sets: dict, rel) -> ConditionSpec:
    key = f"conditions.{name}"
    r.name(name, key)
    c = r.mapping(c, key)
    r.only(c, key, {"zero_shot", "train", "size", "labels", "description"})
    if c.get("zero_shot"):
        r.bool_(c["zero_shot"], f"{key}.zero_shot")
        if "train" in c:
            raise r.error(key, "a zero_shot condition has no train sets")
        return ConditionSpec(name)
    if "train" not in c:
        raise r.error(f"{key}.train", "missing (or set zero_shot: true)")
    size = r.int_(c["size"], f"{key}.size", 1) if "size" in c else None
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
            n = r.int_(p["n"], f"{pkey}.n", 1)
        elif "proportion" in p:
            prop = p["proportion"]
            if isinstance(prop, bool) or not isinstance(prop, (int, float)) or not 0 < prop <= 1:
                raise r.error(f"{pkey}.proportion", f"expected a number in (0, 1], got {prop!r}")
            if size is None:
                raise r.error(f"{key}.size", "required when a part gives a proportion")
            n = max(1, round(size * prop))
        labels = _parse_labels(r, p["labels"], f"{pkey}.labels", rel) if "labels" in p else default_labels
        if i > 0 and labels.is_human:
            raise r.error(f"{pkey}.labels", "human labels are supported on the first set of a "
                          "recipe only (the others are mixed in with their ground truth)")
        parts.append(TrainPart(sname, n, labels))
    if len(parts) > 1:
        for i, p in enumerate(parts):
            if p.n is None:
                raise r.error(f"{key}.train[{i}]", "a recipe of several sets needs n or "
                              "proportion (with size) for each set")
    return ConditionSpec(name, tuple(parts))


def _parse_executor(r: _Reader, e: Any) -> ExecutorSpec:
    e = r.mapping(e, "executor")
    r.only(e, "executor", {"kind", "slurm"})
    kind = e.get("kind", "local")
    if kind not in ("local", "slurm"):
        raise r.error("executor.kind", f"expected local or slurm, got {kind!r}")
    s = r.mapping(e.get("slurm", {}) or {}, "executor.slurm")
    fields = SlurmSpec.__dataclass_fields__
    r.only(s, "executor.slurm", set(fields))
    values: dict[str, Any] = {}
    for k, v in s.items():
        key = f"executor.slurm.{k}"
        if k in ("partition", "constraint", "account", "qos"):
            values[k] = None if v is None else r.str_(v, key)
        elif k == "setup":
            values[k] = tuple(r.str_(x, f"{key}[{i}]") for i, x in enumerate(v or []))
        elif k == "poll_s":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise r.error(key, f"expected a positive number, got {v!r}")
            values[k] = float(v)
        else:
            values[k] = r.int_(v, key, 0 if k == "gpus_per_node" else 1)
    return ExecutorSpec(kind, SlurmSpec(**values))


def config_summary(cfg: StudyConfig) -> dict[str, Any]:
    """A plain dict of the config (for `study.json` in the study folder)."""
    d = asdict(cfg)
    return _plain(d)


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v
