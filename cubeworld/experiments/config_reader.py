"""The study config's value checks, shared by every part of its parser.

Why a module of its own: the entry points (`config.py`), the models and fits
(`config_models.py`) and the sets and conditions (`config_sets.py`) all check values the
same way and report a problem the same way: one `ConfigError` naming the file, the line
where the mapping knows it, and the key. Keeping the checker below all three lets each
part use it without importing another part (no import loop).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cubeworld.errors import ConfigError as TypedConfigError
from cubeworld.formats.yamlfile import LocatedDict

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ConfigError(TypedConfigError):
    """A study config is invalid; the message names the file (and line) and the key."""


class ConfigReader:
    """Checks values and raises ConfigError with `file[:line]: key: problem`."""

    def __init__(self, source: Path):
        self.source = source

    def error(self, key: str, problem: str, within: Any = None, name: Any = None) -> ConfigError:
        """The error for `key`; with the mapping `within` that holds `name` (read from the
        file), the message names the line too."""
        lines = getattr(within, "lines", None) or {}
        at = f"{self.source}:{lines[name]}" if name in lines else str(self.source)
        return ConfigError(f"{at}: {key}: {problem}" if key else f"{at}: {problem}")

    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping, got {type(value).__name__}")
        return value

    def only(self, value: dict, key: str, allowed: set[str], hint: dict[str, str] | None = None) -> None:
        extra = sorted(set(value) - allowed, key=str)
        if extra:
            where = f"{key}.{extra[0]}" if key else str(extra[0])
            more = f" ({hint[extra[0]]})" if hint and extra[0] in hint else ""
            raise self.error(where, f"unknown key; expected one of {sorted(allowed)}{more}", value, extra[0])

    def name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not NAME_RE.match(value):
            raise self.error(key, f"expected a name of letters, digits, '.', '_' or '-', got {value!r}")
        return value

    def int_(self, value: Any, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")
        return value

    def bool_(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def str_(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        return value

    def list_(self, value: Any, key: str) -> list:
        if not isinstance(value, list) or not value:
            raise self.error(key, "expected a non-empty list")
        return value


def located_subset(
    mapping: Mapping[str, Any], keep: Callable[[str], bool], rename: dict[str, str] | None = None
) -> LocatedDict:
    """The entries of `mapping` whose key `keep`s, (renamed,) knowing their lines as before."""
    rename = rename or {}
    out = LocatedDict()
    out.source = getattr(mapping, "source", "")
    lines = getattr(mapping, "lines", {})
    for k, v in mapping.items():
        if keep(k):
            out[rename.get(k, k)] = v
            if k in lines:
                out.lines[rename.get(k, k)] = lines[k]
    return out
