"""Typed settings <-> plain data (YAML files, JSON cards), driven by dataclass annotations.

Why: every family declares its settings as a frozen dataclass and its defaults as YAML.
One converter reads both the YAML and a card's copy into that dataclass (checking every
key, so a typo is an error naming it) and writes it back as plain JSON-ready data, so a
newcomer writes a dataclass and a YAML file and never a `to_dict`/`from_dict` pair.

Supported field types: bool, int, float, str, `Any`, nested dataclasses, `tuple[X, ...]`,
`tuple[X, Y]`, `dict[K, V]` (keys are strings in JSON: int keys are read back as int)
and `Mapping[str, Any]`. Floats accept integers (1 -> 1.0) so a card never differs from
its YAML only by how a number was written.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from cubeworld.stimuli.errors import StimuliError

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """A dataclass (or a value inside one) as JSON-ready data: lists, str keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    return value


def from_plain(cls: type[T], data: Any, where: str) -> T:
    """`data` read into dataclass `cls`; a StimuliError names the key at `where` on a problem."""
    return _convert(cls, data, where)


def _convert(tp: Any, data: Any, where: str) -> Any:
    if tp is Any:
        return data
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, data, where)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _convert(inner[0], data, where)
        return data
    if origin is tuple:
        if not isinstance(data, (list, tuple)):
            raise StimuliError(f"{where}: expected a list, got {data!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
        if args and len(args) != len(data):
            raise StimuliError(f"{where}: expected {len(args)} values, got {len(data)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, data)))
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict,):
        if not isinstance(data, Mapping):
            raise StimuliError(f"{where}: expected a mapping, got {data!r}")
        key_t, val_t = (args + (Any, Any))[:2] if args else (Any, Any)
        return {_convert(key_t, k, f"{where} key {k!r}"): _convert(val_t, v, f"{where}.{k}") for k, v in data.items()}
    if tp is bool:
        if not isinstance(data, bool):
            raise StimuliError(f"{where}: expected true or false, got {data!r}")
        return data
    if tp is int:
        if isinstance(data, bool):
            raise StimuliError(f"{where}: expected an integer, got {data!r}")
        try:
            if isinstance(data, str) or float(data) == int(data):
                return int(data)
        except (TypeError, ValueError):
            pass
        raise StimuliError(f"{where}: expected an integer, got {data!r}")
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise StimuliError(f"{where}: expected a number, got {data!r}")
        return float(data)
    if tp is str:
        if not isinstance(data, str):
            raise StimuliError(f"{where}: expected text, got {data!r}")
        return data
    return data


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise StimuliError(f"{where}: expected a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise StimuliError(f"{where}: unknown setting(s) {unknown}; expected some of {sorted(fields)}")
    missing = [n for n, f in fields.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise StimuliError(f"{where}: missing setting(s) {missing}")
    kwargs = {name: _convert(hints[name], data[name], f"{where}.{name}") for name in fields if name in data}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, StimuliError):
            raise
        raise StimuliError(f"{where}: {e}") from None
