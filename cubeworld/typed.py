"""Typed configs: one frozen dataclass per component, read from YAML, cards and the command line.

Why one mechanism: a setting is declared once, as a dataclass field with its default, its
help text and its bounds (`setting(...)`). From that one declaration

- `from_plain(Config, data, where)` reads YAML or a card's copy, checking every key (an
  unknown or misspelt key is an error naming it, with the file's line where the data came
  from `cubeworld.formats.yamlfile`), every type and every bound;
- `to_plain(config)` writes it back as JSON-ready data (cards, run folders);
- `cli_parameters(Config)` makes the command line's options, with the same help, defaults
  and bounds, so no command re-declares a setting (the pattern of Hugging Face's
  `HfArgumentParser` and TRL's configs).

Supported field types: bool, int, float, str, Path, `Any`, nested dataclasses,
`tuple[X, ...]`, `tuple[X, Y]`, `dict[K, V]` (keys are strings in JSON: int keys are read
back as int), `Mapping[str, Any]`, `Literal[...]` and `X | None`. Floats accept integers
(1 -> 1.0) so a card never differs from its YAML only by how a number was written; every
float must be finite unless the field says otherwise.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from cubeworld.errors import ConfigError, CubeworldError

T = TypeVar("T")

_MISSING: Any = dataclasses.MISSING


def setting(
    default: Any = _MISSING,
    *,
    help: str = "",
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    factory: Callable[[], Any] | None = None,
    cli: str | bool = True,
    finite: bool = True,
) -> Any:
    """A dataclass field with what the readers and the command line need to know of it.

    `minimum` / `maximum` bound a number (inclusive), or the number of entries of a tuple;
    `above` / `below` bound a number strictly (a noise scale above 0, a fraction below 1).
    Every count or size a user gives has a `maximum`, so a typo cannot ask for 10**12 items.
    `cli` is the option's name (True: `--field-name`; False: not on the command line).
    """
    metadata = {
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "above": above,
        "below": below,
        "cli": cli,
        "finite": finite,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def help_of(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get("help", ""))


# -- plain data -> typed ------------------------------------------------------------------


def to_plain(value: Any) -> Any:
    """A dataclass (or a value inside one) as JSON-ready data: lists, str keys, str paths."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def from_plain(cls: type[T], data: Any, where: str, error: type[CubeworldError] = ConfigError) -> T:
    """`data` read into dataclass `cls`; `error` (a stage's own class) names the key at
    `where` -- and the file and line, when `data` came from `read_yaml` -- on a problem."""
    result: T = _Reader(error).convert(cls, data, where)
    return result


def replace_checked(config: T, changes: Mapping[str, Any], where: str, error: type[CubeworldError] = ConfigError) -> T:
    """`config` with `changes` ({field: plain value}) applied and the whole checked again."""
    merged = {**to_plain(config), **dict(changes)}
    return from_plain(type(config), merged, where, error)


def default_of(cls: type, name: str) -> Any:
    """The default a typed config declares for field `name` (read, never restated)."""
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not _MISSING:
        return f.default
    return f.default_factory()  # type: ignore[operator]


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


class _Reader:
    """Converts plain data; `where` is the key path so far, `loc` the `file:line` of the
    innermost key read from a YAML file (empty when the data came from elsewhere)."""

    def __init__(self, error: type[CubeworldError]):
        self.error = error

    def fail(self, where: str, problem: str, loc: str = "") -> CubeworldError:
        if loc:
            source = loc.rsplit(":", 1)[0]
            path = where[len(source) :].lstrip(":. ") if where.startswith(source) else where
            return self.error(f"{loc}: {path}: {problem}" if path else f"{loc}: {problem}")
        return self.error(f"{where}: {problem}" if where else problem)

    def convert(
        self, tp: Any, data: Any, where: str, field: dataclasses.Field[Any] | None = None, loc: str = ""
    ) -> Any:
        value = self._convert(tp, data, where, loc)
        if field is not None:
            self._check_bounds(value, field, where, loc)
        return value

    def _convert(self, tp: Any, data: Any, where: str, loc: str) -> Any:
        if tp is Any:
            return data
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._dataclass(tp, data, where, loc)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            if data is None and type(None) in args:
                return None
            inner = [a for a in args if a is not type(None)]
            if len(inner) == 1:
                return self._convert(inner[0], data, where, loc)
            for option in inner:  # e.g. str | tuple[str, ...]: the first that fits
                try:
                    return self._convert(option, data, where, loc)
                except CubeworldError:
                    continue
            raise self.fail(where, f"expected {_describe(tp)}, got {data!r}", loc)
        if origin is Literal:
            if data not in args:
                raise self.fail(where, f"expected one of {list(args)}, got {data!r}", loc)
            return data
        if origin is tuple:
            if not isinstance(data, (list, tuple)):
                raise self.fail(where, f"expected a list, got {data!r}", loc)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(self._convert(args[0], v, f"{where}[{i}]", loc) for i, v in enumerate(data))
            if args and len(args) != len(data):
                raise self.fail(where, f"expected {len(args)} values, got {len(data)}", loc)
            return tuple(self._convert(a, v, f"{where}[{i}]", loc) for i, (a, v) in enumerate(zip(args, data)))
        if origin in (dict, Mapping, typing.Mapping) or tp is dict:
            if not isinstance(data, Mapping):
                raise self.fail(where, f"expected a mapping, got {data!r}", loc)
            key_t, val_t = (args + (Any, Any))[:2] if args else (Any, Any)
            return {
                self._key(key_t, k, f"{where} key {k!r}", _loc(data, k, loc)): self._convert(
                    val_t, v, _join(where, str(k)), _loc(data, k, loc)
                )
                for k, v in data.items()
            }
        if tp is bool:
            if not isinstance(data, bool):
                raise self.fail(where, f"expected true or false, got {data!r}", loc)
            return data
        if tp is int:
            if isinstance(data, bool):
                raise self.fail(where, f"expected an integer, got {data!r}", loc)
            if isinstance(data, int):
                return data
            if isinstance(data, float) and math.isfinite(data) and data == int(data):
                return int(data)
            raise self.fail(where, f"expected an integer, got {data!r}", loc)
        if tp is float:
            if isinstance(data, bool) or not isinstance(data, (int, float)):
                raise self.fail(where, f"expected a number, got {data!r}", loc)
            return float(data)
        if tp is str:
            if not isinstance(data, str):
                raise self.fail(where, f"expected text, got {data!r}", loc)
            return data
        if tp is Path:
            if not isinstance(data, (str, Path)) or not str(data):
                raise self.fail(where, f"expected a path, got {data!r}", loc)
            return Path(data)
        return data

    def _key(self, tp: Any, key: Any, where: str, loc: str) -> Any:
        """A mapping's key: JSON keys are text, so an int key may arrive as "2" (a card)."""
        if tp is int and isinstance(key, str) and key.strip().lstrip("+-").isdigit():
            return int(key)
        return self._convert(tp, key, where, loc)

    def _dataclass(self, cls: type, data: Any, where: str, loc: str) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise self.fail(where, f"expected a mapping of settings, got {data!r}", loc)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - set(fields), key=str)
        if unknown:
            key = unknown[0]
            raise self.fail(
                _join(where, str(key)), f"unknown setting; expected one of {sorted(fields)}", _loc(data, key, loc)
            )
        missing = [
            n for n, f in fields.items() if n not in data and f.default is _MISSING and f.default_factory is _MISSING
        ]
        if missing:
            raise self.fail(where, f"missing setting(s) {missing}", loc)
        kwargs = {
            name: self.convert(hints[name], data[name], _join(where, name), fields[name], _loc(data, name, loc))
            for name in fields
            if name in data
        }
        try:
            return cls(**kwargs)
        except CubeworldError:
            raise
        except (TypeError, ValueError) as e:
            raise self.fail(where, str(e), loc) from None

    def _check_bounds(self, value: Any, field: dataclasses.Field[Any], where: str, loc: str) -> None:
        meta = field.metadata
        if isinstance(value, float) and meta.get("finite", True) and not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}", loc)
        lo, hi = meta.get("minimum"), meta.get("maximum")
        above, below = meta.get("above"), meta.get("below")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if above is not None and not value > above:
                raise self.fail(where, f"must be above {above:g}, got {value!r}", loc)
            if below is not None and not value < below:
                raise self.fail(where, f"must be below {below:g}, got {value!r}", loc)
        if value is None or (lo is None and hi is None):
            return
        measure, what = value, ""
        if isinstance(value, (tuple, list, dict)):
            measure, what = len(value), " entries"
        if not isinstance(measure, (int, float)) or isinstance(measure, bool):
            return
        if lo is not None and measure < lo:
            raise self.fail(where, f"must be at least {lo:g}{what}, got {value!r}", loc)
        if hi is not None and measure > hi:
            raise self.fail(where, f"must be at most {hi:g}{what}, got {value!r}", loc)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _loc(data: Any, key: Any, loc: str) -> str:
    """`file:line` of `key` when `data` is a mapping read by `read_yaml`, else `loc`."""
    lines = getattr(data, "lines", None)
    source = getattr(data, "source", "")
    if lines and source and key in lines:
        return f"{source}:{lines[key]}"
    return loc


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


# -- typed -> command line ------------------------------------------------------------------


def cli_parameters(
    cls: type, *, exclude: tuple[str, ...] = (), defaults: Mapping[str, Any] | None = None
) -> list[inspect.Parameter]:
    """Typer options for the fields of `cls` that are on the command line: name, type,
    default, help and bounds all from the field's declaration. `defaults` overrides a
    default shown (e.g. a family's own value); None means "the config's default"."""
    import typer

    hints = typing.get_type_hints(cls)
    params = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name in exclude or f.metadata.get("cli", True) is False:
            continue
        flag = f.metadata.get("cli")
        flag = flag if isinstance(flag, str) else "--" + f.name.replace("_", "-")
        annotation, is_list = _cli_type(hints[f.name])
        if defaults is not None and f.name in defaults:
            default = defaults[f.name]
        elif f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = None
        else:
            default = ...
        if is_list and isinstance(default, tuple):
            default = list(default) or None
        kwargs: dict[str, Any] = {"help": help_of(f)}
        lo, hi = f.metadata.get("minimum"), f.metadata.get("maximum")
        lo = f.metadata.get("above") if lo is None else lo  # the strict bound is checked when read
        hi = f.metadata.get("below") if hi is None else hi
        if annotation in (int, float) or annotation in (int | None, float | None):
            if lo is not None:
                kwargs["min"] = lo
            if hi is not None:
                kwargs["max"] = hi
        if annotation is bool:
            flag = f"{flag}/--no-{flag[2:]}"
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=typer.Option(default, flag, **kwargs),
                annotation=annotation,
            )
        )
    return params


def _cli_type(tp: Any) -> tuple[Any, bool]:
    """The type a command-line option of field type `tp` takes, and whether it repeats."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            base, is_list = _cli_type(inner[0])
            return (base if is_list else base | None), is_list
        return str | None, False
    if origin is tuple and args and (len(args) == 2 and args[1] is Ellipsis):
        return list[args[0]], True  # type: ignore[valid-type]
    if origin is Literal:
        return str, False
    if tp in (int, float, str, bool, Path):
        return tp, False
    return str, False


def with_signature(func: Callable[..., Any], params: list[inspect.Parameter]) -> Callable[..., Any]:
    """`func(**options)` given the signature `params`, so typer builds its options from it."""
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func
