"""Reading a YAML file a user wrote: a syntax error is one line with file, line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cubeworld.errors import CubeworldError


class YamlFileError(CubeworldError):
    """A YAML file that cannot be read or parsed; the message names file, line and column."""


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
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e).splitlines()[0]
        if mark is not None:
            raise error(f"{where}:{mark.line + 1}:{mark.column + 1}: YAML syntax error: {problem}") from None
        raise error(f"{where}: YAML syntax error: {problem}") from None
