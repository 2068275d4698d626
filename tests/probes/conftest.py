"""Fixtures of the probes tests: a synthetic cache with a planted signal, a tiny generated
tower set, tiny models of the families (helpers in `probes_helpers`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from probes_helpers import load, planted, write_cache, write_set

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def synthetic(tmp_path):
    """(cache folder, [set]) of 80 towers with a planted label and margin."""
    s = load(write_set(tmp_path / "towers", 80, seed=1, name="towers"))
    return write_cache(tmp_path / "cache", [s], planted([s])), [s]


@pytest.fixture(scope="session")
def towers(tmp_path_factory) -> Path:
    """A tiny generated tower set: 12 real MuJoCo towers (2 and 3 blocks) at 112 px."""
    from cubeworld.stimuli import generate_set

    root = tmp_path_factory.mktemp("probe-sets")
    return generate_set("tower", [2, 3], 6, 7, root / "towers", resolution=112, workers=1, progress=False)


@pytest.fixture(scope="session")
def tiny_of(tmp_path_factory):
    """family -> its tiny model folder (built once per session, on first use)."""
    from cubeworld.models import build_tiny_model

    built: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_model(tmp_path_factory.mktemp("probe-models") / family, seed=0, family=family)
        return built[family]

    return get
