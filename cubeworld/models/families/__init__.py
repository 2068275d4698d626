"""The model families the toolkit knows: one module per architecture, one registry entry each.

`MODEL_FAMILIES` maps a family name (the `--family` of `cubeworld models build-tiny`, the
`family:` of a study's tiny model) to its `ModelFamily`; `model_family_of(model_type)` finds
the family of a loaded checkpoint from its config. Entries are loaded on first use, so
listing the names imports no transformers.

Adding a family: write `cubeworld/models/families/<name>.py` with a `ModelFamily`
subclass instance `FAMILY` (image-size mapping, fed size, tiny builder), and register it
below. Nothing else in the toolkit changes.
"""

from __future__ import annotations

from cubeworld.models.families.base import GENERIC, ModelFamily, TinyModel
from cubeworld.registry import Registry

MODEL_FAMILIES: Registry[ModelFamily] = Registry(
    "model family",
    {
        "qwen2-vl": "cubeworld.models.families.qwen2_vl:FAMILY",
        "qwen2.5-vl": "cubeworld.models.families.qwen2_5_vl:FAMILY",
        "qwen3-vl": "cubeworld.models.families.qwen3_vl:FAMILY",
        "smolvlm": "cubeworld.models.families.smolvlm:FAMILY",
        "llava-onevision": "cubeworld.models.families.llava_onevision:FAMILY",
        "gemma3": "cubeworld.models.families.gemma3:FAMILY",
    },
)


def model_family_of(model_type: str | None) -> ModelFamily:
    """The family covering `model_type` (a config's `model_type`), or the generic one."""
    for _, family in MODEL_FAMILIES.items():
        if model_type in family.model_types:
            return family
    return GENERIC


def get_model_family(name: str) -> ModelFamily:
    """The family registered as `name`, or an error listing the supported names."""
    return MODEL_FAMILIES.get(name)


__all__ = ["MODEL_FAMILIES", "ModelFamily", "TinyModel", "GENERIC", "model_family_of", "get_model_family"]
