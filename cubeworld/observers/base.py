"""What an observer kind is: the base class that does the work, and the hooks a kind fills.

An observer answers items and writes the prediction table the analysis reads (one row per
stimulus, P(Yes)). Kinds differ in what they need (a VLM: a model id; a CNN: images and
training; the physics observer: a recorded scene and no training). The base class owns
everything else, in the shape of a simulation controller's base class whose subclasses
fill in a trial: the stages and the command line call only the base's methods, and never
branch on a kind's name.

The base owns:
    settings(...)        reading a study's or the command line's `training:` / `scoring:`
                         into the kind's typed configs (`cubeworld.typed`: unknown keys,
                         types and bounds refused with file:line and key)
    evaluate(job)        scoring sets into tables: grouping sets into one table, each table
                         finished once, rows already written kept (a killed job resumes),
                         skip reasons warned, provenance columns (`cubeworld.formats.tables`)
    finetune(job)        training through the kind's trainer plug-in (`cubeworld.trainer`):
                         resume, checkpoints, per-epoch evaluation, state.json
    evaluate_command / finetune_command     `cubeworld evaluate|finetune --model KIND`

A kind declares (checked when its class is defined; a missing one is a TypeError naming it):
    name                 its registry name and the `kind` column of its rows
    scoring_type         the typed config (a dataclass, every field with a default) of its
                         `scoring:` settings
    training_type        the same for `training:` (kinds that train)
    default_source       what `source:` means when a study leaves it out; None: the study
                         must name one (a VLM: a Hugging Face id or folder)
and fills the hooks:
    open_scorer(job)     the loaded observer, ready to answer (a `Scorer`)       required
    trainer(job)         its `EpochTrainer` plug-in                      required if trains
    check_source, skip_reason, check_training_set, prepare_model, extra_columns,
    expected_settings, checkpoint_exists, effective                        optional

Run folder layout (the same for every trained kind): `cubeworld.trainer.layout`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cubeworld.errors import CubeworldError
from cubeworld.trainer.layout import RunFolder
from cubeworld.typed import from_plain, to_plain

if TYPE_CHECKING:  # light at import: listing kinds and checking a study load no pandas
    from cubeworld.formats.tables import Scorer
    from cubeworld.trainer.data import DataDraw

# A folder an observer wrote (a CNN checkpoint) carries this file naming its kind.
KIND_FILE = "cubeworld_observer.json"

# Training settings a study (or the command line) sets from its own structure for every
# kind: paths, the seed, the condition, labels, the size of the draw, labels of the tables.
STUDY_OWNED = (
    "out",
    "model",
    "train",
    "mix",
    "labels",
    "eval_sets",
    "seed",
    "condition",
    "progress",
    "max_items",
    "model_label",
    "adapter_label",
)


class ObserverError(CubeworldError):
    """An observer cannot do what it was asked (train without training, a set it cannot read)."""


class ObserverSettingError(ObserverError):
    """A setting of an observer is invalid; the message names the key (and the file and
    line when it came from a YAML file)."""


@dataclass(frozen=True)
class Settings:
    """A kind's typed settings (`values`, every default filled in) and the keys that were
    given (by a study or the command line; the others are the defaults). What a run
    learned records the given ones, so a default changed later is not a changed run."""

    values: Any = None
    given: tuple[str, ...] = ()

    def given_plain(self) -> dict[str, Any]:
        """The given settings as JSON-ready data, in the order they were given."""
        return {k: to_plain(getattr(self.values, k)) for k in self.given}

    def plain(self) -> dict[str, Any]:
        """Every setting, defaults included, as JSON-ready data."""
        return {} if self.values is None else to_plain(self.values)

    def __contains__(self, key: object) -> bool:
        return key in self.given


@dataclass(frozen=True)
class TrainingJob:
    """One training run of an observer, as the study stage (or the CLI) asks for it.

    `data` says which pairs it trains on (the study turns its recipe into it);
    `eval_sets` are scored after every epoch (and before training, epoch 0) into
    `out/predictions/epoch-K/<set>.csv`. `training` / `scoring` hold the kind's settings.
    """

    model: str
    data: DataDraw
    out: Path
    epochs: int
    condition: str
    model_label: str
    training: Settings
    scoring: Settings
    eval_sets: tuple[Path, ...] = ()
    progress: bool = True

    @property
    def seed(self) -> int:
        return self.data.seed


@dataclass(frozen=True)
class EvaluationJob:
    """Score sets with one state of an observer: the base (`run_dir` None), a given
    `adapter`, or the checkpoint of `epoch` in the run folder `run_dir`. `tables` pairs
    each set folder with the prediction table to write (rows already there are kept: a
    killed job resumes)."""

    model: str
    tables: tuple[tuple[Path, Path], ...]
    scoring: Settings
    training: Settings = Settings()
    epoch: int = 0
    run_dir: Path | None = None
    adapter: Path | None = None
    condition: str = ""
    seed: int | None = None
    model_label: str | None = None
    adapter_label: str = ""
    progress: bool = True

    def checkpoint(self) -> Path | None:
        """The checkpoint folder this job scores with, if any (epoch > 0 of a run)."""
        if self.run_dir is None:
            return None
        return RunFolder(self.run_dir).checkpoint(self.epoch)


def _needs_default(cls: type) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


class ObserverKind:
    """Base of every observer kind; a kind is a subclass plus one entry in `OBSERVERS`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    trains: ClassVar[bool] = False
    zero_shot: ClassVar[bool] = True
    scoring_type: ClassVar[type | None] = None
    training_type: ClassVar[type | None] = None
    default_source: ClassVar[str | None] = None
    reads_images: ClassVar[bool] = True  # sets are loaded with their images checked

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        where = f"observer kind {cls.__name__}"
        if not isinstance(cls.name, str) or not cls.name:
            raise TypeError(f"{where}: set `name` (its registry name and the kind column of its rows)")
        for attr, needed in (("scoring_type", True), ("training_type", cls.trains)):
            typ = getattr(cls, attr)
            if typ is None:
                if needed:
                    raise TypeError(f"{where}: set `{attr}` (a dataclass of its settings)")
                continue
            if not (dataclasses.is_dataclass(typ) and isinstance(typ, type)):
                raise TypeError(f"{where}: `{attr}` must be a dataclass, got {typ!r}")
            if _needs_default(typ):
                raise TypeError(f"{where}: every field of {typ.__name__} needs a default: {_needs_default(typ)}")
        if cls.open_scorer is ObserverKind.open_scorer:
            raise TypeError(f"{where}: define open_scorer(job) (the observer, ready to answer)")
        if cls.trains and cls.trainer is ObserverKind.trainer:
            raise TypeError(f"{where}: trains, so define trainer(job) (its EpochTrainer plug-in)")
        if cls.default_source is not None and not isinstance(cls.default_source, str):
            raise TypeError(f"{where}: default_source must be a string or None")

    # -- settings (owned) -------------------------------------------------------------
    def settings(
        self,
        section: str,
        data: Mapping[str, Any] | None,
        where: str = "",
        error: type[CubeworldError] = ObserverSettingError,
    ) -> Settings:
        """`data` (a study's `training:` / `scoring:` block, options given on the command
        line) read into this kind's typed config; `error` names the key at `where`."""
        cls = self.scoring_type if section == "scoring" else self.training_type
        data = data or {}
        where = where or section
        if cls is None:
            if data:
                first = sorted(data)[0]
                raise error(f"{where}.{first}: a {self.name} observer has no {section} settings")
            return Settings()
        return Settings(from_plain(cls, data, where, error), tuple(data))

    def section_keys(self, section: str) -> frozenset[str]:
        """The keys this kind takes under `training:` / `scoring:`."""
        cls = self.scoring_type if section == "scoring" else self.training_type
        return frozenset() if cls is None else frozenset(f.name for f in dataclasses.fields(cls) if f.init)

    def training_keys(self) -> frozenset[str]:
        return self.section_keys("training")

    def scoring_keys(self) -> frozenset[str]:
        return self.section_keys("scoring")

    def scoring_with(self, training: Settings, scoring: Settings) -> Settings:
        """The scoring settings a run scores with, given its training settings (default:
        scoring's own; a VLM scores as it was trained where a setting is both)."""
        return scoring

    def effective(self, training: Settings, scoring: Settings) -> dict[str, Any]:
        """Every setting a run of this kind uses, defaults filled in (run.json; the scoring
        part is also what a study compares to decide whether a set must be scored again)."""
        out = {"scoring": scoring.plain()}
        if self.trains:
            out["training"] = training.plain()
        return out

    # -- sets -------------------------------------------------------------------------
    def check_source(self, source: str) -> None:
        """Refuse a `source:` this kind cannot use (ObserverSettingError)."""

    def skip_reason(self, stim_set: Any) -> str | None:
        """Why this kind cannot answer `stim_set` (skipped with a warning, never an error)."""
        return None

    def check_training_set(self, stim_set: Any, role: str = "training") -> None:
        """Raise ObserverError if this kind cannot use `stim_set` for `role`."""
        if role == "training" and not self.trains:
            raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    def prepare_model(self, source: str, folder: Path, *, seed: int = 0, family: str | None = None) -> str:
        """Make what the model entry needs (nothing by default); return its location."""
        return source

    # -- scoring (the loop is the base's) ------------------------------------------------
    def open_scorer(self, job: EvaluationJob) -> Scorer:
        """The observer of `job` ready to answer (a model loaded, a network restored)."""
        raise NotImplementedError

    def extra_columns(self, job: EvaluationJob) -> Sequence[str]:
        """Columns of its tables beyond the prediction columns (default: the observer columns)."""
        from cubeworld.formats.predictions import OBSERVER_COLUMNS

        return OBSERVER_COLUMNS

    def expected_settings(self, job: EvaluationJob) -> Mapping[str, Any] | None:
        """The table settings `open_scorer` will give, known without opening (None: unknown)."""
        return None

    def check_job(self, job: EvaluationJob) -> None:
        """Refuse a job before anything is read (e.g. no checkpoint to score with)."""

    def evaluate(self, job: EvaluationJob) -> list[Path]:
        """Score each (set, table) of `job`; return the tables written."""
        from cubeworld.formats.sets import load_set
        from cubeworld.formats.tables import fill_tables

        self.check_job(job)
        loaded = {}
        for set_dir, _ in job.tables:
            if Path(set_dir) not in loaded:
                s = load_set(set_dir, check_images=self.reads_images)
                if not self.skip_reason(s):
                    self.check_training_set(s, role="evaluation")
                loaded[Path(set_dir)] = s
        who = {
            "model": job.model_label or job.model,
            "adapter": job.adapter_label,
            "condition": job.condition,
            "seed": job.seed,
            "epoch": int(job.epoch),
        }
        expected = self.expected_settings
        return fill_tables(
            [(loaded[Path(s)], Path(t)) for s, t in job.tables],
            who,
            kind=self.name,
            open_scorer=lambda: self.open_scorer(job),
            extra_columns=self.extra_columns(job),
            expected_settings=(lambda: expected(job) or {}),
            skip_reason=self.skip_reason,
            progress=job.progress,
            desc=f"{self.name} scoring",
        )

    def checkpoint_exists(self, run_dir: Path, epoch: int) -> bool:
        """Whether a run folder holds what `evaluate` needs to score epoch `epoch`."""
        return epoch == 0 or RunFolder(run_dir).checkpoint(epoch).is_dir()

    # -- training (the loop is the trainer's) ----------------------------------------------
    def trainer(self, job: TrainingJob) -> Any:
        """Its `cubeworld.trainer.EpochTrainer` plug-in for `job`."""
        raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    def finetune(self, job: TrainingJob) -> Path:
        """Train (resume, or skip when finished) the run of `job`; return its folder."""
        if not self.trains:
            raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")
        return self.trainer(job).run()

    # -- command line (`cubeworld evaluate --model KIND`, `cubeworld finetune --model KIND`)
    def evaluate_command(
        self,
        model: str,
        sets: Sequence[Path],
        out: Path,
        *,
        scoring: Mapping[str, Any],
        adapter: Path | None = None,
        condition: str = "",
        seed: int | None = None,
        epoch: int = 0,
        progress: bool = True,
    ) -> Path:
        """Score `sets` into one table `out`. `scoring` holds the options given (an option
        this kind has no use for is refused, never ignored)."""
        import warnings

        from cubeworld.cli_errors import show_warnings

        scoring = {k: v for k, v in scoring.items() if v is not None}
        self.refuse_options(scoring, self.scoring_keys())
        if adapter is not None and not self.takes_adapter():
            raise ObserverError(f"--adapter: does not apply to a {self.name} observer")
        job = EvaluationJob(
            model=model,
            tables=tuple((Path(s), Path(out)) for s in sets),
            scoring=self.settings("scoring", scoring, "options", ObserverError),
            epoch=epoch,
            adapter=adapter,
            condition=condition,
            seed=seed,
            model_label=self.label(model, scoring),
            adapter_label=str(adapter) if adapter is not None else "",
            progress=progress,
        )
        with warnings.catch_warnings(record=True) as caught:  # e.g. a set skipped: one line
            warnings.simplefilter("always")
            self.evaluate(job)
        show_warnings(caught)
        return Path(out)

    def label(self, model: str, scoring: Mapping[str, Any]) -> str:
        """The observer's name in its rows when scored from the command line with the options
        `scoring` (default: `model` as given)."""
        return model

    def takes_adapter(self) -> bool:
        """Whether `--adapter` (a peft adapter on the base model) means something here."""
        return False

    def finetune_command(self, given: Mapping[str, Any], config_file: Path | None = None) -> Path:
        raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    def refuse_options(self, options: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for k, v in options.items():
            if v is not None and k not in allowed:
                raise ObserverError(f"--{k.replace('_', '-')}: does not apply to a {self.name} observer")


def run_config(cls: type, given: Mapping[str, Any], config_file: Path | None, error: type) -> Any:
    """A run's typed config: a YAML file's fields (a problem named with file:line) with the
    command line's options over them."""
    from cubeworld.formats.yamlfile import LocatedDict, read_yaml
    from cubeworld.typed import from_plain

    data = LocatedDict()
    if config_file is not None:
        loaded = read_yaml(config_file, error) or {}
        if not isinstance(loaded, Mapping):
            raise error(f"{config_file}: expected a mapping of {cls.__name__} fields")
        data.update(loaded)
        data.lines = dict(getattr(loaded, "lines", {}))
        data.source = str(config_file)
    data.update(given)
    for key in given:  # an option's value is not on a line of the file
        data.lines.pop(key, None)
    return from_plain(cls, data, "", error)
