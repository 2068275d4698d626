"""Make what a study needs and lacks: its sets, external data sets, splits, the tiny model.

Why here and once: runs (local or Slurm jobs) then only read finished folders. Each item
is made into a temporary sibling folder and renamed into place, so a kill never leaves a
half-made set that a later run would take for a finished one. An existing folder is reused
only if it is what this config would make now (else a StudyInputError says what differs).

`check_inputs` runs first, before anything is written: inputs that exist already (set
folders given by `path:`) must suit the observers that will read them.

A study whose executor is Slurm generates its sets on Slurm too: each set's candidates in
shards run as a job array (the stimuli stage's `SlurmExecutor`, with the study's partition,
account, CPUs, memory and time limit, no GPU), merged here into the same bytes a single
machine would write.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.experiments.config import StudyConfig
from cubeworld.experiments.plan import model_location, observer, set_dir
from cubeworld.experiments.schema import SetSpec, SlurmSpec, present
from cubeworld.formats.sets import SetFormatError, is_set_folder, load_set, read_card


class StudyInputError(CubeworldError):
    """A set or model the study needs cannot be found or made; the message says which."""


def _build_into(target: Path, build: Callable[[Path], object]) -> Path:
    """Run `build(tmp)` and rename tmp to `target` (nothing is left half-made)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.partial")
    build(tmp)
    if target.exists():  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(target)
    return target


def _stale(cfg: StudyConfig, name: str, target: Path, details: str) -> StudyInputError:
    return StudyInputError(
        f"{cfg.source}: sets.{name}: {target} differs from the set this config and toolkit "
        f"would make, in {details}; delete that folder to make the set again, or name it "
        f"with `path: {target}` to keep using it as it is"
    )


def _card(cfg: StudyConfig, name: str, target: Path) -> dict:
    try:
        return read_card(target)
    except SetFormatError as e:
        raise StudyInputError(f"{cfg.source}: sets.{name}: {e}") from None


# -- one maker and one staleness check per origin of set -------------------------------


def _expected_identity(name: str, spec: SetSpec) -> dict:
    """The card entries a set made now from this spec would hold (preset / generator origins)."""
    if spec.origin == "preset":
        from cubeworld.stimuli import preset_identity

        return preset_identity(present(spec.preset, "preset"))
    from cubeworld.stimuli import identity_for

    return identity_for(
        present(spec.domain, "domain"),
        list(present(spec.sizes, "sizes")),
        present(spec.per_size, "per_size"),
        present(spec.seed, "seed"),
        resolution=present(spec.resolution, "resolution"),
        name=name,
        control_cues=spec.control_cues,
    )


def _check_generated(cfg: StudyConfig, name: str, spec: SetSpec, target: Path) -> None:
    """Refuse a set folder that a generator of another version or other arguments made:
    its images and labels may differ from what this config makes."""
    from cubeworld.stimuli import identity_diff

    card = _card(cfg, name, target)
    expected = _expected_identity(name, spec)
    diff = identity_diff(card, expected)
    if diff:
        raise _stale(
            cfg,
            name,
            target,
            ", ".join(
                f"{k} {card.get(k)!r} (now {expected[k]!r})" if k in ("generator_version", "seed", "name") else k
                for k in diff
            ),
        )


def generation_executor(kind: str, slurm: SlurmSpec, progress: bool) -> Any:
    """How the study's sets are generated: here (None), or, for a Slurm study, in shards on
    Slurm with the study's resources (generation needs no GPU)."""
    if kind != "slurm":
        return None
    from cubeworld.stimuli.pipeline.cluster import SlurmOptions, make_executor

    options = SlurmOptions(
        partition=slurm.partition,
        cpus_per_task=slurm.cpus_per_task,
        mem_gb=slurm.mem_gb,
        timeout_min=slurm.timeout_min,
        array_parallelism=slurm.array_parallelism,
        account=slurm.account,
        qos=slurm.qos,
        constraint=slurm.constraint,
        setup=slurm.setup,
        poll_s=slurm.poll_s,
    )
    return make_executor("slurm", options, progress)


def _make_preset(cfg: StudyConfig, name: str, spec: SetSpec, target: Path, progress: bool, executor: Any) -> None:
    from cubeworld import stimuli

    presets = stimuli.list_presets()
    if spec.preset not in presets:
        raise StudyInputError(
            f"{cfg.source}: sets.{name}.preset: unknown preset {spec.preset!r}; expected one of {sorted(presets)}"
        )
    _build_into(
        target,
        lambda tmp: stimuli.generate_preset(present(spec.preset, "preset"), tmp, progress=progress, executor=executor),
    )


def _make_generated(cfg: StudyConfig, name: str, spec: SetSpec, target: Path, progress: bool, executor: Any) -> None:
    from cubeworld import stimuli

    _build_into(
        target,
        lambda tmp: stimuli.generate_set(
            present(spec.domain, "domain"),
            list(present(spec.sizes, "sizes")),
            present(spec.per_size, "per_size"),
            present(spec.seed, "seed"),
            tmp,
            resolution=present(spec.resolution, "resolution"),
            progress=progress,
            name=name,
            control_cues=spec.control_cues,
            executor=executor,
        ),
    )


def _make_dataset(cfg: StudyConfig, name: str, spec: SetSpec, target: Path, progress: bool, executor: Any) -> None:
    from cubeworld.datasets.base import DatasetError
    from cubeworld.datasets.catalog import get_dataset

    try:
        _build_into(target, lambda tmp: get_dataset(present(spec.dataset, "dataset")).import_set(tmp, spec.source))
    except DatasetError as e:
        raise StudyInputError(f"{cfg.source}: sets.{name}: {e}") from None


def _check_dataset(cfg: StudyConfig, name: str, spec: SetSpec, target: Path) -> None:
    from cubeworld.datasets.catalog import get_dataset

    card = _card(cfg, name, target)
    expected = get_dataset(present(spec.dataset, "dataset")).identity(spec.source)
    if card.get("dataset_identity") != expected:
        raise _stale(cfg, name, target, f"its data set identity {card.get('dataset_identity')!r} (now {expected!r})")


def _make_split(cfg: StudyConfig, name: str, spec: SetSpec, target: Path, progress: bool, executor: Any) -> None:
    from cubeworld.datasets.split import split_set

    _build_into(
        target,
        lambda tmp: split_set(
            set_dir(cfg, present(spec.parent, "parent")),
            tmp,
            part=present(spec.part, "part"),
            fraction=present(spec.fraction, "fraction"),
            seed=present(spec.seed, "seed"),
            name=name,
        ),
    )


def _check_split(cfg: StudyConfig, name: str, spec: SetSpec, target: Path) -> None:
    from cubeworld.datasets.split import split_arguments

    card = _card(cfg, name, target)
    parent = _card(cfg, present(spec.parent, "parent"), set_dir(cfg, present(spec.parent, "parent")))
    expected = split_arguments(
        parent.get("name", present(spec.parent, "parent")),
        present(spec.part, "part"),
        present(spec.fraction, "fraction"),
        present(spec.seed, "seed"),
    )
    parent_now = {
        k: parent.get(k) for k in ("name", "generator", "generator_version", "seed", "arguments") if k in parent
    }
    if card.get("arguments") != expected:
        raise _stale(cfg, name, target, f"its split arguments {card.get('arguments')!r} (now {expected!r})")
    if card.get("parent_card") != parent_now:
        raise _stale(cfg, name, target, f"the set {spec.parent!r} it was cut from")


def _check_nothing(cfg: StudyConfig, name: str, spec: SetSpec, target: Path) -> None:
    return None


MAKERS = {"preset": _make_preset, "generate": _make_generated, "dataset": _make_dataset, "split": _make_split}
CHECKS = {
    "preset": _check_generated,
    "generate": _check_generated,
    "dataset": _check_dataset,
    "split": _check_split,
    "path": _check_nothing,
}


def prepare_sets(
    cfg: StudyConfig, names: list[str], *, progress: bool = True, executor: str = "local"
) -> dict[str, Path]:
    """Make each named set (and the sets it is cut from) that the study lacks; check the
    ones it has; return name -> folder. Every missing input is a StudyInputError.
    executor: "slurm" generates the sets in shards on Slurm (`generation_executor`)."""
    ordered: list[str] = []
    for name in names:
        for n in reversed(cfg.lineage(name)):  # parents first
            if n not in ordered:
                ordered.append(n)
    out: dict[str, Path] = {}
    generation: Any = None  # made when a set is generated: a Slurm study needs sbatch only then
    for name in ordered:
        spec = cfg.sets[name]
        target = set_dir(cfg, name)
        if spec.origin == "path":
            if not is_set_folder(target):
                raise StudyInputError(f"{cfg.source}: sets.{name}.path: {target} is not a stimulus set folder")
        elif target.exists():
            CHECKS[spec.origin](cfg, name, spec, target)
        else:
            if generation is None and spec.origin in ("preset", "generate"):
                generation = generation_executor(executor, cfg.executor.slurm, progress)
            MAKERS[spec.origin](cfg, name, spec, target, progress, generation)
        try:
            load_set(target, check_images=False)
        except SetFormatError as e:
            raise StudyInputError(f"sets.{name}: {e}") from None
        if name in names:
            out[name] = target
    return out


def needed_sets(cfg: StudyConfig) -> list[str]:
    """Evaluation sets, training sets and the sets the study's fits read, each once, in config order."""
    names = list(cfg.evaluation)
    for c in cfg.conditions:
        for p in c.train:
            if p.set not in names:
                names.append(p.set)
    for f in cfg.fits.values():
        if f.set not in names:
            names.append(f.set)
    return names


def check_inputs(cfg: StudyConfig) -> None:
    """Before anything is written: every existing set folder (`path:`) must suit every
    observer that reads it (a CNN needs the images of its training and evaluation sets)."""
    from cubeworld.observers.base import ObserverError

    for m in cfg.models:
        kind = observer(m)
        reads = set(cfg.evaluation)
        for cname in m.conditions or ():
            reads |= {p.set for p in cfg.condition(cname).train}
        for name in sorted(reads):
            spec = cfg.sets[name]
            if spec.origin != "path":
                continue
            folder = present(spec.path, "path")
            if not is_set_folder(folder):
                raise StudyInputError(f"{cfg.source}: sets.{name}.path: {folder} is not a stimulus set folder")
            try:
                stim = load_set(folder, check_images=False)
            except SetFormatError as e:
                raise StudyInputError(f"{cfg.source}: sets.{name}.path: {e}") from None
            if not kind.trains:
                continue
            try:
                kind.check_training_set(stim)
            except ObserverError as e:
                raise StudyInputError(f"{cfg.source}: sets.{name}: {e} (models.{m.name}, kind {kind.name})") from None


def _prepare_model(kind: Any, m: Any, tmp: Path) -> None:
    kind.prepare_model(m.source, tmp, seed=m.tiny_seed, family=m.family)


def prepare_models(cfg: StudyConfig) -> None:
    """Build what the models need (the tiny VLM, offline); check local model folders."""
    for m in cfg.models:
        kind = observer(m)
        if m.is_tiny:
            target = cfg.study_dir / "models" / m.name
            if not target.exists():
                _build_into(target, functools.partial(_prepare_model, kind, m))
        elif m.source.startswith("/") and not Path(m.source).exists():
            raise StudyInputError(f"{cfg.source}: models.{m.name}.source: no such folder {m.source}")
        else:
            kind.prepare_model(model_location(cfg, m.name), cfg.study_dir / "models" / m.name)
