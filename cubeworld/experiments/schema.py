"""The study config as typed values: what a validated YAML file is (no reading here).

Why typed dataclasses: every stage after loading works on checked values. The YAML shape
and its checks live in `config.py` and its parts (`config_*.py`); this module only says
what the values are, and the few facts that follow from them (where the study's folders
are, which sets share stimuli).

A study is: models (observers, each of a kind, with per-model settings) x conditions
(training recipes, or zero-shot) x seeds, every run scored on the evaluation sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cubeworld.fitting.config import FitConfig
from cubeworld.hyperparameters import EPOCHS, SEEDS
from cubeworld.observers.base import Settings
from cubeworld.observers.noisy_newton import PhysicsScoring
from cubeworld.typed import setting

T = TypeVar("T")

# The study's own values, stated once (with the paper's words) in cubeworld.hyperparameters.
DEFAULT_SEEDS: tuple[int, ...] = SEEDS
DEFAULT_EPOCHS: int = EPOCHS

TINY = "tiny"
GROUND_TRUTH = "ground_truth"


@dataclass(frozen=True)
class ModelSpec:
    """One observer of the study: its kind (a registry entry), where it comes from, and
    its settings, typed by its kind: `training` / `scoring` hold the study-wide values the
    kind has and the model's own (which win), read once; `epochs` and
    `evaluate_each_epoch` are the model's or the study's. `conditions` are the conditions
    it takes part in."""

    name: str
    source: str
    kind: str = "vlm"
    tiny_seed: int = 0  # only for source "tiny": the seed of its random weights
    family: str | None = None  # only for source "tiny": the tiny architecture family
    training: Settings = Settings()
    scoring: Settings = Settings()
    epochs: int = DEFAULT_EPOCHS
    evaluate_each_epoch: bool = True
    conditions: tuple[str, ...] | None = None
    # A physics observer scored with the scoring a fit of the study found (`fits:`); its
    # `scoring` is the fit's observer.yaml once the fit is done (`experiments.fits`).
    fit: str | None = None

    @property
    def is_tiny(self) -> bool:
        return self.source == TINY


def present(value: T | None, key: str) -> T:
    """A SetSpec field its origin requires (the study's parser has checked it; None here is
    a bug, said by name, never a None passed on)."""
    if value is None:
        raise ValueError(f"set entry without {key!r} (the study parser requires it for this origin)")
    return value


@dataclass(frozen=True)
class SetSpec:
    """Where a set comes from: a preset, generator arguments, an existing folder (`path`),
    an external data set (`dataset`, from the `cubeworld.datasets` registry), or one part
    of a seeded split of another set of the study (`split`)."""

    name: str
    origin: str  # "preset" | "generate" | "path" | "dataset" | "split"
    preset: str | None = None
    domain: str | None = None
    sizes: tuple[int, ...] = ()
    per_size: int | None = None
    seed: int | None = None
    resolution: int | None = None
    control_cues: bool = False  # generated sets: quotas over the family's cues (`--control-cues`)
    path: Path | None = None
    dataset: str | None = None
    source: Path | None = None  # `from:` of a dataset set (default: env var, else shipped)
    parent: str | None = None  # split: the set it is cut from
    part: str | None = None  # split: "train" or "test"
    fraction: float | None = None  # split: the share drawn into "train"
    # Human judgments of (some of) this set's stimuli, e.g. the export of `cubeworld human`
    # on its 120-item subset: used by the report's kappa analysis, not by any run.
    humans: Path | None = None

    def identity(self, sets: dict[str, SetSpec] | None = None) -> dict[str, Any]:
        """What makes this set this set (written into each run's resolved config). A split's
        identity includes its parent's, so `sets` (the study's) is needed for splits."""
        if self.origin == "preset":
            return {"preset": self.preset}
        if self.origin == "generate":
            return {
                "domain": self.domain,
                "sizes": list(self.sizes),
                "per_size": self.per_size,
                "seed": self.seed,
                "resolution": self.resolution,
                **({"control_cues": True} if self.control_cues else {}),  # older studies' identities unchanged
            }
        if self.origin == "dataset":
            from cubeworld.datasets.catalog import get_dataset

            return get_dataset(self.dataset).identity(self.source)  # type: ignore[arg-type]
        if self.origin == "split":
            if sets is None:
                raise ValueError("a split set's identity needs the study's sets")
            return {
                "split": self.parent,
                "part": self.part,
                "fraction": self.fraction,
                "seed": self.seed,
                "parent": sets[str(self.parent)].identity(sets),
            }
        return {"path": str(self.path)}


@dataclass(frozen=True)
class LabelSource:
    """Ground truth (`humans is None`) or the majority of a human-responses table."""

    humans: Path | None = None
    from_set: bool = False  # `labels: humans`: the set folder's own human_responses.csv

    @property
    def is_human(self) -> bool:
        return self.from_set or self.humans is not None

    def identity(self) -> str:
        """Ground truth, the set's own table, or a named table by its content (sha256), so
        a study moved with its data keeps its runs and an edited table is a change."""
        if self.from_set:
            return "humans:set"
        if self.humans is None:
            return GROUND_TRUTH
        if self.humans.is_file():
            import hashlib

            return f"humans:sha256:{hashlib.sha256(self.humans.read_bytes()).hexdigest()}"
        return f"humans:{self.humans}"  # not there yet: the run waits for it


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
    description: str = ""

    @property
    def zero_shot(self) -> bool:
        return not self.train


@dataclass(frozen=True, kw_only=True)
class SlurmSpec:
    """Resources of one run's job (one array task per run): `executor.slurm` in a study."""

    partition: str | None = setting(None, help="Slurm partition (default: the cluster's).")
    gpus_per_node: int = setting(1, help="GPUs per job.", minimum=0, maximum=64)
    cpus_per_task: int = setting(8, help="CPU cores per job.", minimum=1, maximum=1024)
    mem_gb: int = setting(64, help="Memory per job in GB.", minimum=1, maximum=65536)
    timeout_min: int = setting(24 * 60, help="Wall-clock limit per job in minutes.", minimum=1, maximum=60 * 24 * 365)
    array_parallelism: int = setting(64, help="Jobs of the array running at once.", minimum=1, maximum=100_000)
    constraint: str | None = setting(None, help="Slurm --constraint.")
    account: str | None = setting(None, help="Slurm --account.")
    qos: str | None = setting(None, help="Slurm --qos.")
    setup: tuple[str, ...] = setting((), help="Shell lines run before each job (module load, ...).")
    poll_s: float = setting(5.0, help="Seconds between looks at the queue.", above=0, maximum=3600)


@dataclass(frozen=True)
class FitSpec:
    """A fit of the study (`fits:`): the physics observer's settings fitted to people's
    answers to one of the study's sets (`cubeworld fit physics`), run once by `study run`
    after the sets are made and before any run; a model that names it (`fit:`) is scored
    with the fitted settings. `humans`: the responses table (None: the set's `humans:`,
    else its folder's human_responses.csv). `base`: the physics observer's settings the
    fit starts from (the ones not fitted keep these values)."""

    name: str
    set: str
    humans: Path | None
    config: FitConfig
    base: PhysicsScoring


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"  # "local" | "slurm": which executor runs the study (`executor.kind`)
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
    # The study's values (cubeworld.hyperparameters): 10 epochs, evaluated after each; a
    # model may set its own (ModelSpec.epochs).
    epochs: int = DEFAULT_EPOCHS
    evaluate_each_epoch: bool = True
    executor: ExecutorSpec = ExecutorSpec()
    fits: dict[str, FitSpec] = field(default_factory=dict)

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

    def lineage(self, name: str) -> list[str]:
        """The set and the sets it is cut from, nearest first."""
        out = [name]
        while self.sets[out[-1]].origin == "split":
            out.append(self.sets[out[-1]].parent)  # type: ignore[arg-type]
        return out

    def shares_stimuli(self, a: str, b: str) -> bool:
        """Whether sets `a` and `b` may hold the same stimuli (a run trained on one must not
        be scored on the other). The same set, or one cut from the other: yes. The two
        parts of one split (same parent, fraction and seed): no. Sets of different origins
        (generated with different seeds, different data sets): no."""
        la, lb = self.lineage(a), self.lineage(b)
        if la[-1] != lb[-1]:
            return False
        if a in lb or b in la:
            return True
        # Two splits of the same root: disjoint only as complementary parts of one split.
        sa, sb = self.sets[a], self.sets[b]
        if sa.origin == sb.origin == "split" and sa.parent == sb.parent:
            same_draw = (sa.fraction, sa.seed) == (sb.fraction, sb.seed)
            return not (same_draw and sa.part != sb.part)
        return True
