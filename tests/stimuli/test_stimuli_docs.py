"""The names the docs give for the stimuli stage, the set format and the data sets exist:
every dotted `cubeworld.stimuli...`, `cubeworld.formats...` or `cubeworld.datasets...` name
in docs/CONTRACTS.md (the glossary), docs/EXTENDING.md and the stimuli README resolves to a
module or an attribute, so a move or a rename cannot leave the docs behind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs/CONTRACTS.md", ROOT / "docs/EXTENDING.md", ROOT / "cubeworld/stimuli/README.md"]
NAME = re.compile(r"`(cubeworld\.(?:stimuli|formats|datasets)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


def documented_names() -> list[tuple[str, str]]:
    return sorted({(doc.name, m) for doc in DOCS for m in NAME.findall(doc.read_text(encoding="utf-8"))})


def resolve(dotted: str) -> object:
    """The module or attribute `dotted` names (the longest importable module prefix, then
    attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_docs_name_things():
    assert len(documented_names()) >= 20


@pytest.mark.parametrize("doc, name", documented_names())
def test_every_documented_name_exists(doc, name):
    resolve(name)
