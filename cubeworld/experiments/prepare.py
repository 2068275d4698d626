"""Make what a study needs and lacks: its sets, the Lerer100 import, the tiny model.

Why here and once: runs (local or Slurm jobs) then only read finished folders. Each item
is made into a temporary sibling folder and renamed into place, so a kill never leaves a
half-made set that a later run would take for a finished one.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from cubeworld.errors import CubeworldError
from cubeworld.experiments.config import StudyConfig
from cubeworld.experiments.plan import lerer100_source, set_dir
from cubeworld.formats.sets import SetFormatError, is_set_folder, load_set


class StudyInputError(CubeworldError):
    """A set or model the study needs cannot be found or made; the message says which."""


def _build_into(target: Path, build) -> Path:
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


def _expected_identity(name: str, spec) -> dict:
    """The card entries a set made now from this spec would hold (preset / generator kinds)."""
    if spec.kind == "preset":
        from cubeworld.stimuli.presets import preset_identity

        return preset_identity(spec.preset)
    from cubeworld.stimuli import identity_for

    return identity_for(spec.domain, list(spec.sizes), spec.per_size, spec.seed,
                        resolution=spec.resolution, name=name)


def _check_not_stale(cfg: StudyConfig, name: str, spec, target: Path) -> None:
    """Refuse to reuse a set folder that a generator of another version or other arguments
    made: its images and labels may differ from what this config makes, and a study must
    not mix the two. The message says which card entries differ and what to do."""
    from cubeworld.formats.sets import read_card
    from cubeworld.stimuli import identity_diff

    try:
        card = read_card(target)
    except SetFormatError as e:
        raise StudyInputError(f"sets.{name}: {e}") from None
    expected = _expected_identity(name, spec)
    diff = identity_diff(card, expected)
    if not diff:
        return
    details = ", ".join(
        f"{k} {card.get(k)!r} (now {expected[k]!r})" if k in ("generator_version", "seed", "name")
        else k for k in diff)
    raise StudyInputError(
        f"{cfg.source}: sets.{name}: {target} differs from the set this config and toolkit "
        f"would make, in {details}; delete that folder to make the set again, or name it "
        f"with `path: {target}` to keep using it as it is")


def prepare_sets(cfg: StudyConfig, names: list[str], *, progress: bool = True) -> dict[str, Path]:
    """Generate/import each named set the study does not have yet; return name -> folder.

    A Lerer100 set whose source folder is absent is left out with a warning (it is
    optional on a user's machine); every other missing input is a StudyInputError.
    """
    out: dict[str, Path] = {}
    for name in names:
        spec = cfg.sets[name]
        target = set_dir(cfg, name)
        if spec.kind == "path":
            if not is_set_folder(target):
                raise StudyInputError(f"{cfg.source}: sets.{name}.path: {target} is not a stimulus set folder")
        elif not target.exists():
            if spec.kind == "lerer100":
                src = lerer100_source(spec, cfg)
                if not (src / "stimuli.csv").is_file():
                    warnings.warn(
                        f"sets.{name}: Lerer100 not found at {src} (set $CUBEWORLD_LERER100 or "
                        f"sets.{name}.lerer100 in {cfg.source}); its evaluation is skipped",
                        stacklevel=2)
                    continue
                from cubeworld.datasets.lerer100 import import_lerer100

                _build_into(target, lambda tmp: import_lerer100(src, tmp))
            elif spec.kind == "preset":
                from cubeworld import stimuli

                presets = stimuli.list_presets()
                if spec.preset not in presets:
                    raise StudyInputError(
                        f"{cfg.source}: sets.{name}.preset: unknown preset {spec.preset!r}; "
                        f"expected one of {sorted(presets)}")
                _build_into(target, lambda tmp: stimuli.generate_preset(
                    spec.preset, tmp, progress=progress))
            else:
                from cubeworld import stimuli

                _build_into(target, lambda tmp: stimuli.generate_set(
                    spec.domain, list(spec.sizes), spec.per_size, spec.seed, tmp,
                    resolution=spec.resolution, progress=progress, name=name))
        elif spec.kind in ("preset", "generate"):
            _check_not_stale(cfg, name, spec, target)
        try:
            load_set(target, check_images=False)
        except SetFormatError as e:
            raise StudyInputError(f"sets.{name}: {e}") from None
        out[name] = target
    return out


def needed_sets(cfg: StudyConfig) -> list[str]:
    """Evaluation sets and training sets, each once, in config order."""
    names = list(cfg.evaluation)
    for c in cfg.conditions:
        for p in c.train:
            if p.set not in names:
                names.append(p.set)
    return names


def prepare_models(cfg: StudyConfig) -> None:
    """Build the tiny model(s) offline; check that local model folders exist."""
    for m in cfg.models:
        if m.is_tiny:
            target = cfg.study_dir / "models" / m.name
            if not target.exists():
                from cubeworld.models import build_tiny_model

                _build_into(target, lambda tmp: build_tiny_model(tmp, seed=m.tiny_seed))
        elif m.source.startswith("/") and not Path(m.source).exists():
            raise StudyInputError(f"{cfg.source}: models.{m.name}.source: no such folder {m.source}")
