"""What an observer kind is: the one interface the study stage and the CLI talk to.

An observer answers items and writes the prediction table the analysis reads (one row per
stimulus, P(Yes)). Kinds differ in what they need (a VLM: a model id; a CNN: images and
training; the physics observer: a recorded scene and no training), so each kind says so
through this interface, and the stages never branch on a kind's name:

    trains / zero_shot       which conditions it can take part in
    training_keys()          keys it accepts under `training:` (study YAML, CLI)
    scoring_keys()           keys it accepts under `scoring:`
    check_settings(...)      validate values (an ObserverSettingError names the key)
    effective(...)           every setting a run uses, defaults filled in (run.json)
    skip_reason(set)         why it cannot answer a set (e.g. photos have no scene), or None
    check_training_set(set)  refuse a training set it cannot learn from
    prepare_model(...)       build what the study must build (the tiny VLM), return location
    finetune(job)            train a run folder, resumable, evaluating after each epoch
    evaluate(job)            score sets into prediction tables, resumable row by row

Run folder layout (the same for every trained kind, so the run store, the resume logic and
the report do not care which kind wrote it): `state.json` (with `last_epoch`),
`checkpoints/epoch-K/`, `predictions/epoch-K/<set>.csv`, `log.jsonl`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError

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
    """A setting of an observer is invalid. `key` is where it sits (`scoring.n_simulations`);
    callers prefix the file and the model entry (`study.yaml: models.physics.`)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class TrainSource:
    """One part of the training data, located: the set folder, how many, whose labels."""

    set_dir: Path
    n: int | None
    humans: Path | None = None


@dataclass(frozen=True)
class TrainingJob:
    """One fine-tuning run of an observer, as the study stage (or the CLI) asks for it.

    `train[0]` is the main set (the one that may carry human labels); further parts are
    mixed in with their `n` (the study's joint conditions). `eval_sets` are scored after
    every epoch (and before training, epoch 0) into `out/predictions/epoch-K/<set>.csv`.
    `training` / `scoring` hold the overrides of the study and the model entry.
    """

    model: str
    train: tuple[TrainSource, ...]
    out: Path
    epochs: int
    seed: int
    condition: str
    model_label: str
    eval_sets: tuple[Path, ...] = ()
    training: Mapping[str, Any] = field(default_factory=dict)
    scoring: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass(frozen=True)
class EvaluationJob:
    """Score sets with one state of an observer: the base (`run_dir` None) or the checkpoint
    of `epoch` in the fine-tuning run folder `run_dir`. `tables` pairs each set folder with
    the prediction table to write (rows already there are kept: a killed job resumes)."""

    model: str
    tables: tuple[tuple[Path, Path], ...]
    epoch: int = 0
    run_dir: Path | None = None
    condition: str = ""
    seed: int | None = None
    model_label: str | None = None
    adapter_label: str = ""
    training: Mapping[str, Any] = field(default_factory=dict)
    scoring: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = True


def draw_size(train: tuple[TrainSource, ...]) -> tuple[int, list[float]]:
    """`max_items` and the mixed-in parts' fractions of a recipe: the parts' `n` summed,
    or, for one part without `n`, the whole set (its number of stimuli)."""
    main, *rest = train
    if rest:
        total = sum(int(p.n) for p in train)  # the study checks that each part has n
        return total, [p.n / total for p in rest]
    if main.n is not None:
        return int(main.n), []
    from cubeworld.formats.sets import load_set

    return len(load_set(main.set_dir, check_images=False)), []


class ObserverKind:
    """Base of every observer kind; a kind is a subclass plus one entry in `OBSERVERS`."""

    name: str = ""
    description: str = ""
    trains: bool = False
    zero_shot: bool = True
    default_source: str | None = None  # what `source:` means when a study omits it

    # -- settings ---------------------------------------------------------------------
    def training_keys(self) -> frozenset[str]:
        """Keys a study or the CLI may set under `training:` (empty: it cannot be trained)."""
        return frozenset()

    def scoring_keys(self) -> frozenset[str]:
        return frozenset()

    def check_source(self, source: str) -> None:
        """Refuse a `source:` this kind cannot use (ObserverSettingError on key `source`)."""

    def check_settings(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> None:
        """Check keys and values; raise ObserverSettingError naming the key."""
        self._check_keys("training", training, self.training_keys())
        self._check_keys("scoring", scoring, self.scoring_keys())

    def effective(self, training: Mapping[str, Any], scoring: Mapping[str, Any]) -> dict[str, Any]:
        """Every setting a run of this kind uses, defaults filled in (written to run.json)."""
        return {"training": dict(training), "scoring": dict(scoring)}

    def _check_keys(self, section: str, given: Mapping[str, Any], allowed: frozenset[str]) -> None:
        if given and not allowed:
            first = sorted(given)[0]
            raise ObserverSettingError(f"{section}.{first}", f"a {self.name} observer has no {section} settings")
        unknown = sorted(set(given) - allowed)
        if unknown:
            raise ObserverSettingError(
                f"{section}.{unknown[0]}", f"unknown {self.name} {section} setting; expected one of {sorted(allowed)}"
            )

    # -- sets -------------------------------------------------------------------------
    def skip_reason(self, stim_set) -> str | None:
        """Why this kind cannot answer `stim_set` (skipped, never an error), or None."""
        return None

    def check_training_set(self, stim_set) -> None:
        """Raise ObserverError if this kind cannot learn from `stim_set`."""
        if not self.trains:
            raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    # -- work -------------------------------------------------------------------------
    def prepare_model(self, source: str, folder: Path, *, seed: int = 0, family: str | None = None) -> str:
        """Make what the model entry needs (nothing by default); return its location."""
        return source

    def finetune(self, job: TrainingJob) -> Path:
        raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    def evaluate(self, job: EvaluationJob) -> list[Path]:
        raise NotImplementedError

    def checkpoint_exists(self, run_dir: Path, epoch: int) -> bool:
        """Whether a run folder holds what `evaluate` needs to score epoch `epoch`."""
        return epoch == 0 or (run_dir / "checkpoints" / f"epoch-{epoch}").is_dir()

    # -- command line (`cubeworld evaluate --model KIND`, `cubeworld finetune --model KIND`)
    def evaluate_command(
        self,
        model: str,
        sets,
        out: Path,
        *,
        condition: str = "",
        seed: int | None = None,
        epoch: int = 0,
        batch_size: int | None = None,
        progress: bool = True,
        options: Mapping[str, Any] | None = None,
    ) -> Path:
        """Score `sets` into one table `out`. `options` are the command's other options
        (None = not given); one this kind has no use for is bad input, never ignored."""
        import warnings

        from cubeworld.cli_errors import show_warnings

        self.refuse_options(options or {}, self.command_options())
        scoring = {"batch_size": batch_size} if batch_size and "batch_size" in self.scoring_keys() else {}
        tables = tuple((Path(s), Path(out)) for s in sets)
        with warnings.catch_warnings(record=True) as caught:  # e.g. a set skipped: one line
            warnings.simplefilter("always")
            self.evaluate(
                EvaluationJob(
                    model=model,
                    tables=tables,
                    epoch=epoch,
                    condition=condition,
                    seed=seed,
                    model_label=model,
                    scoring=scoring,
                    progress=progress,
                )
            )
        show_warnings(caught)
        return Path(out)

    def finetune_command(self, given: Mapping[str, Any], config_file: str | Path | None = None) -> Path:
        raise ObserverError(f"a {self.name} observer needs no training and cannot be trained")

    def command_options(self) -> frozenset[str]:
        """`cubeworld evaluate` options (beyond sets, out, seed, condition, epoch, batch
        size) this kind takes."""
        return frozenset()

    def refuse_options(self, options: Mapping[str, Any], allowed: frozenset[str]) -> None:
        for k, v in options.items():
            if v is not None and k not in allowed:
                raise ObserverError(f"--{k.replace('_', '-')}: does not apply to a {self.name} observer")


def versions() -> dict[str, str]:
    """Library versions for the provenance columns (empty where a library is absent)."""
    from importlib import metadata

    out = {}
    for col, dist in (("torch_version", "torch"), ("transformers_version", "transformers"), ("peft_version", "peft")):
        try:
            out[col] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[col] = ""
    return out
