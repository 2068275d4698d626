"""Typed settings <-> plain data for the stimuli stage: `cubeworld.typed` with StimuliError.

Why a stage wrapper: callers of the stimuli stage catch `StimuliError`; the conversion
itself (every key checked, types, bounds) is the toolkit's one mechanism, `cubeworld.typed`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from cubeworld.stimuli.errors import StimuliError
from cubeworld.typed import from_plain as _from_plain
from cubeworld.typed import to_plain

T = TypeVar("T")

__all__ = ["bounds", "from_plain", "to_plain"]


def from_plain(cls: type[T], data: Any, where: str) -> T:
    """`data` read into dataclass `cls`; a StimuliError names the key at `where` on a problem."""
    return _from_plain(cls, data, where, StimuliError)


def bounds(config: type, name: str) -> tuple[Any, Any]:
    """(minimum, maximum) of a setting declared with `cubeworld.typed.setting`: checks in
    the library read a bound from the one declaration the command line is built from."""
    meta = next(f for f in dataclasses.fields(config) if f.name == name).metadata
    return meta.get("minimum"), meta.get("maximum")
