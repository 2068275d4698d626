"""One pattern for every extension point: a named registry of entries.

The toolkit grows by registering things, never by adding `if name == ...` branches to a
stage: a stimulus family (`cubeworld.stimuli.families.FAMILIES`), an observer kind
(`cubeworld.observers.OBSERVERS`), an analysis (`cubeworld.analysis.ANALYSES`),
an external data set (`cubeworld.datasets.DATASETS`), a tiny model family
(`cubeworld.models.families.MODEL_FAMILIES`). Each is one module plus one entry.

Entries may be given as `"package.module:attribute"` strings, loaded on first use, so
that listing names (`cubeworld --help`, config validation) imports no heavy library.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from cubeworld.errors import UnknownEntryError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, in registration order. `kind` names the entries in error messages."""

    def __init__(self, kind: str, entries: dict[str, T | str] | None = None):
        self.kind = kind
        self._entries: dict[str, T | str] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T | str | None = None) -> Any:
        """Add `entry` under `name`; without `entry`, a decorator that registers its argument."""
        if entry is None:

            def decorator(obj: T) -> T:
                self.register(name, obj)
                return obj

            return decorator
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names are non-empty strings, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry named `name` (loaded if registered lazily), or an error listing the names."""
        try:
            entry = self._entries[name]
        except (KeyError, TypeError):
            raise UnknownEntryError(
                f"unknown {self.kind} {name!r}: expected one of {', '.join(self.names())}"
            ) from None
        if isinstance(entry, str):
            module, _, attribute = entry.partition(":")
            entry = getattr(importlib.import_module(module), attribute)
            self._entries[name] = entry
        return entry

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        for name in self.names():
            yield name, self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"
