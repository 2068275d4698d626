"""Lazy package exports (PEP 562), shared by every stage's `__init__`.

A stage's public names live in submodules that pull in heavy libraries (torch, mujoco,
matplotlib, FastAPI). Loading them on first use keeps `cubeworld --help` and the other
stages' commands fast, while `from cubeworld.models import evaluate` still works.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, exporting name -> defining module.

    A loaded name is cached in the package, so it also shadows a submodule of the same
    name that the import system may have bound there.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
