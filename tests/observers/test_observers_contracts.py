"""The glossary and the guides name what exists (issue 22, item 7): every `cubeworld.…`
name of the observers, trainer, models and studies stages in docs/CONTRACTS.md,
docs/EXTENDING.md and those stages' READMEs resolves to a module or an attribute."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = (
    "docs/CONTRACTS.md",
    "docs/EXTENDING.md",
    "cubeworld/models/README.md",
    "cubeworld/experiments/README.md",
)
OURS = re.compile(
    r"`(cubeworld\.(?:observers|trainer|models|experiments|formats\.tables|typed|hyperparameters|pools)"
    r"(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
)


def _names() -> list[tuple[str, str]]:
    found = set()
    for doc in DOCS:
        for name in OURS.findall((REPO / doc).read_text(encoding="utf-8")):
            found.add((doc, name))
    return sorted(found)


def _resolve(name: str) -> object:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(name)


def test_the_documents_name_some_of_these_stages():
    assert len(_names()) > 20


@pytest.mark.parametrize(("doc", "name"), _names())
def test_every_named_module_or_attribute_exists(doc, name):
    try:
        _resolve(name)
    except (ModuleNotFoundError, AttributeError) as e:
        pytest.fail(f"{doc} names `{name}`, which does not exist ({e})")
