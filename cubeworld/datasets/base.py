"""What an external data set is to the toolkit: a named entry of `cubeworld.datasets.DATASETS`.

Why a registry entry and not code in the stages: a study names an external set by its
registry name (`sets: {lerer100: {dataset: lerer100}}`), the `cubeworld data` commands
import it, and the study stage prepares it, all through this one description. The next
photo set is one module (its importer) plus one entry.

Where the source files come from, in order: a folder given explicitly (`--from`, or
`from:` in a study), the data set's environment variable (e.g. `CUBEWORLD_LERER100`), the
copy shipped inside the package. A data set without a shipped copy needs one of the first
two; asking for it without is a `DatasetError` naming the variable.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubeworld.errors import CubeworldError
from cubeworld.formats.sets import PHOTO

SHIPPED = "shipped"  # what a set's identity says when it was imported from the package's copy


class DatasetError(CubeworldError):
    """An external data set cannot be found or read; the message names the folder or file."""


def _load(ref: str) -> Callable[..., Any]:
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class ExternalDataset:
    """One external data set. `importer(src, out) -> Path` writes a stimulus-set folder (and,
    if the data set has them, `out/human_responses.csv`); `models_importer(src, out)` writes
    a prediction table of published model answers, where the data set has one.

    `version` is part of every imported set's identity: bump it when the importer's rows or
    images change, so studies do not reuse an old import (not for card-only additions: an
    old import then still loads, and finished studies stay finished). `kind` is the kind of set its import
    is (`cubeworld.formats.sets.SET_KINDS`; photographs: `photo`, no recorded scenes, so
    observers that re-simulate scenes skip it); the imported card says so too.
    """

    name: str
    description: str
    env: str
    importer: str  # "module:function", loaded on use (keeps listing the registry light)
    version: int = 1
    shipped: Path | None = None
    models_importer: str | None = None
    kind: str = PHOTO
    citation: str = ""
    licence: str = ""

    def source(self, given: str | os.PathLike | None = None) -> Path:
        """The folder to import from: `given`, else $env, else the shipped copy."""
        if given is not None:
            return Path(given)
        env = os.environ.get(self.env)
        if env:
            return Path(env)
        if self.shipped is not None:
            return self.shipped
        raise DatasetError(f"{self.name}: no source folder; give one (--from / from:) or set ${self.env}")

    def fingerprint(self, given: str | os.PathLike | None = None) -> str:
        """sha256 over the source folder's tables (name and bytes of each `*.csv`) and its
        file names: what the data is, wherever it lies (the shipped copy and an identical
        copy elsewhere have the same fingerprint)."""
        src = self.source(given)
        if not src.is_dir():
            raise DatasetError(
                f"{self.name}: {src}: no such folder (from --from / from:, ${self.env} or the shipped copy)"
            )
        h = hashlib.sha256()
        for p in sorted(q for q in src.rglob("*") if q.is_file()):
            rel = p.relative_to(src).as_posix()
            h.update(rel.encode() + b"\0")
            if p.suffix == ".csv":
                h.update(p.read_bytes())
        return h.hexdigest()

    def identity(self, given: str | os.PathLike | None = None) -> dict[str, Any]:
        """What an import of this data set is (compared by studies before reusing one)."""
        return {"dataset": self.name, "version": self.version, "fingerprint": self.fingerprint(given)}

    def import_set(self, out: str | os.PathLike, given: str | os.PathLike | None = None) -> Path:
        """Import into `out`; the card gains the data set's identity (`dataset_identity`)."""
        out = Path(out)
        path = _load(self.importer)(self.source(given), out)
        from cubeworld.formats.atomic import atomic_write_json

        card_file = out / "dataset.json"
        card = json.loads(card_file.read_text(encoding="utf-8"))
        card["dataset_identity"] = self.identity(given)
        atomic_write_json(card_file, card)
        return path

    def import_models(self, out: str | os.PathLike, given: str | os.PathLike | None = None) -> Path:
        if self.models_importer is None:
            raise DatasetError(f"{self.name}: this data set publishes no model answers")
        return _load(self.models_importer)(self.source(given), Path(out))
