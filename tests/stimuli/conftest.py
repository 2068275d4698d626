"""Shared fixtures of the stimuli tests: the small reference sets of the current generator version.

Tests import the helpers from `make_reference` (put on sys.path here), never from
`conftest`: that module name is shared by every test folder's conftest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).with_name("reference")
sys.path.insert(0, str(REFERENCE_DIR))

from make_reference import REFERENCE_SETS  # noqa: E402


@pytest.fixture(scope="session")
def reference_hashes() -> dict[str, dict[str, str]]:
    """sha256 of metadata.jsonl and every PNG, written by the current generator version (make_reference.py)."""
    from cubeworld.stimuli.pipeline.identity import GENERATOR_VERSION

    return json.loads((REFERENCE_DIR / f"hashes-{GENERATOR_VERSION}.json").read_text())


@pytest.fixture(scope="session")
def reference_sets(tmp_path_factory) -> dict[str, Path]:
    """The reference sets made by today's code (one worker)."""
    from cubeworld.stimuli import generate_set

    root = tmp_path_factory.mktemp("reference")
    return {
        name: generate_set(domain, sizes, per_size, seed, root / name, resolution=resolution, workers=1, progress=False)
        for name, (domain, sizes, per_size, seed, resolution) in REFERENCE_SETS.items()
    }


@pytest.fixture(autouse=True)
def _audit_logs_in_tmp(tmp_path, monkeypatch):
    """`audit --physics` keeps its resumable log in the user's cache: a test's own one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
