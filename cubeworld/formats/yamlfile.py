"""Reading a YAML file a user wrote: every problem is one line with file, line and column.

Two things plain `yaml.safe_load` lets through are refused or kept here:

- a key given twice in one mapping (`models:` twice) is an error naming both lines; plain
  YAML keeps the last one silently and drops the first one's content;
- every mapping read is a `LocatedDict`, a dict that also knows the file and the line of
  each key, so a typed config (`cubeworld.typed.from_plain`) that refuses a key or a value
  can say `study.yaml:14: models.tiny.trainng: unknown setting`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cubeworld.errors import CubeworldError


class YamlFileError(CubeworldError):
    """A YAML file that cannot be read or parsed; the message names file, line and column."""


class LocatedDict(dict[Any, Any]):
    """A mapping read from a YAML file: `source` is the file, `lines[key]` the 1-based line
    of each key. Equal to (and used as) a plain dict."""

    source: str = ""
    lines: dict[Any, int]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lines = {}


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, key: Any, first: int, again: yaml.Mark):
        super().__init__(f"key {key!r} given twice (lines {first} and {again.line + 1})")
        self.problem = str(self)
        self.problem_mark = again


def _loader(source: str) -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LocatedDict:
        loader.flatten_mapping(node)
        out = LocatedDict()
        out.source = source
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
                ) from None
            if key in out:
                raise DuplicateKeyError(key, out.lines[key], key_node.start_mark)
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = key_node.start_mark.line + 1
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


def read_yaml(path: str | Path, error: type[CubeworldError] = YamlFileError) -> Any:
    """The parsed content of `path`, or `error` (a stage's own error class, so callers
    catch what they expect) with one line that says where it breaks."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, expected a YAML file") from None
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_yaml(text, str(path), error)


def parse_yaml(text: str, where: str, error: type[CubeworldError] = YamlFileError) -> Any:
    try:
        return yaml.load(text, Loader=_loader(where))  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as e:
        mark = e.problem_mark
        raise error(f"{where}:{mark.line + 1}:{mark.column + 1}: {e.problem}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e).splitlines()[0]
        if mark is not None:
            raise error(f"{where}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}") from None
        raise error(f"{where}: YAML syntax error: {problem}") from None
