"""Named sets: the study's, defined as data in `presets.yaml`, and any a family adds in
the `presets:` section of its own YAML.

A preset is either generated (domain, sizes, counts, seed) or a subset drawn from another
preset (`subset_of`, `per_cell`, `seed`). Subset presets need their parent: by default it
is generated (or resumed, or found complete) in a sibling folder named after the parent.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cubeworld.formats.sets import read_card
from cubeworld.formats.yamlfile import read_yaml
from cubeworld.stimuli.catalog import FAMILIES
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.pool import Executor

PRESETS_FILE = Path(__file__).with_name("presets.yaml")


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[str, Any]]:
    presets = dict(read_yaml(PRESETS_FILE, StimuliError))  # a preset named twice is an error, with both lines
    for _, family in FAMILIES.items():
        for name, spec in family.presets().items():
            if name in presets:
                raise StimuliError(f"{family.settings_file}: preset {name!r} is defined twice")
            presets[name] = spec
    return presets


def list_presets() -> dict[str, dict[str, Any]]:
    """Name -> definition (a copy), with `total` stimuli added."""
    out = {}
    presets = _load()
    for name, spec in presets.items():
        spec = copy.deepcopy(spec)
        if "subset_of" in spec:
            parent = presets[spec["subset_of"]]
            spec["total"] = spec["per_cell"] * 2 * len(parent["sizes"])
            spec["domain"] = parent["domain"]
        else:
            per = spec["per_size"]
            spec["total"] = sum(per.values()) if isinstance(per, dict) else per * len(spec["sizes"])
        out[name] = spec
    return out


def get_preset(name: str) -> dict[str, Any]:
    presets = list_presets()
    if name not in presets:
        raise StimuliError(f"unknown preset {name!r}: choose one of {', '.join(presets)}")
    return presets[name]


def preset_identity(name: str) -> dict[str, Any]:
    """The card entries that decide what preset `name` holds, as this toolkit would make it.

    A study compares an existing folder's card with this before reusing it, so that a set
    made by an older generator version or from other settings is never silently mixed in.
    """
    from cubeworld.stimuli.pipeline.identity import GENERATOR_VERSION, identity_for
    from cubeworld.stimuli.pipeline.subset import SUBSET_GENERATOR

    spec = get_preset(name)
    if "subset_of" in spec:
        parent = preset_identity(spec["subset_of"])
        return {
            "name": name,
            "generator": SUBSET_GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "arguments": {"parent": spec["subset_of"], "per_cell": spec["per_cell"], "seed": spec["seed"]},
            "parent_arguments": parent["arguments"],
            "settings": parent["settings"],
        }
    return identity_for(
        spec["domain"],
        spec["sizes"],
        _per_size(spec),
        spec["seed"],
        name=name,
        control_cues=spec.get("control_cues", False),
    )


def _per_size(spec: dict[str, Any]) -> int | dict[int, int]:
    """A generated preset's per-size count: one number, or {size: count} (YAML keys)."""
    per = spec["per_size"]
    return {int(k): int(v) for k, v in per.items()} if isinstance(per, dict) else per


def generate_preset(
    name: str,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: bool = True,
    parent: str | os.PathLike | None = None,
    executor: Executor | None = None,
) -> Path:
    """Generate preset `name` into `out` (resumable). Subset presets take their parent from
    `parent`, or generate it into `out`'s sibling folder named after the parent preset.
    `executor`: where candidates are evaluated (`generate_set`)."""
    from cubeworld.stimuli.pipeline.generate import generate_set
    from cubeworld.stimuli.pipeline.subset import draw_subset

    spec = get_preset(name)
    out = Path(out)
    if "subset_of" in spec:
        if parent is None:
            parent_dir = out.parent / spec["subset_of"]
            generate_preset(spec["subset_of"], parent_dir, workers=workers, progress=progress, executor=executor)
        else:
            parent_dir = Path(parent)
            card = read_card(parent_dir) if parent_dir.is_dir() else {}
            if card.get("name") != spec["subset_of"] or card.get("status") != "complete":
                raise StimuliError(
                    f"{parent_dir} is not a complete {spec['subset_of']!r} set "
                    f"(make it with `cubeworld generate preset {spec['subset_of']}`)"
                )
        return draw_subset(parent_dir, out, spec["per_cell"], spec["seed"], name=name)
    return generate_set(
        spec["domain"],
        spec["sizes"],
        _per_size(spec),
        spec["seed"],
        out,
        workers=workers,
        progress=progress,
        name=name,
        control_cues=spec.get("control_cues", False),
        executor=executor,
    )
