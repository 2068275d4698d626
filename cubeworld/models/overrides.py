"""Per-model settings of a study: the keys a `models:` entry may override, checked by name.

A study's `models:` entry may carry `training:` (any `FinetuneConfig` field: method, LoRA
targets, batch size, image size, ...) and `scoring:` (any keyword of `evaluate()`: batch
size, image size, dtype, ...). The experiments stage parses the YAML; this module is the
one place that says which keys exist, so an unknown key is refused with the file and key
before any run starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cubeworld.models.errors import ModelsError


def training_keys() -> tuple[str, ...]:
    """Every key a `training:` override may set: the `FinetuneConfig` fields."""
    from cubeworld.models.config import field_names

    return field_names()


@lru_cache(maxsize=1)
def scoring_keys() -> tuple[str, ...]:
    """Every key a `scoring:` override may set: the keyword arguments of `evaluate()`."""
    from cubeworld.models.scoring import evaluate

    return tuple(
        name for name, p in inspect.signature(evaluate).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


def check_overrides(section: str, mapping: Any, where: str) -> dict[str, Any]:
    """`mapping` as a dict, or a `ModelsError` naming `where` (file and entry) and the bad key.

    section: "training" or "scoring". `where` e.g. "studies/x.yaml: models[1].training".
    """
    keys = {"training": training_keys, "scoring": scoring_keys}.get(section)
    if keys is None:
        raise ValueError(f"section must be training or scoring, got {section!r}")
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ModelsError(f"{where}: expected a mapping of {section} settings, got {type(mapping).__name__}")
    allowed = keys()
    for key in mapping:
        if key not in allowed:
            raise ModelsError(f"{where}: unknown {section} key {key!r}; expected one of {', '.join(allowed)}")
    return dict(mapping)
