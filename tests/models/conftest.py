"""Fixtures of the models tests: one tiny model per family per session, small colour sets.

The colour task is one the tiny random model can learn in seconds: a mostly red image
means "Yes" (falls=True), a mostly blue one "No". Sets are written in the stimulus-set
format (`metadata.jsonl` rows from `StimulusRow.to_record()`, PNGs in `images/`) with the
study's prompts, like the ones the stimuli stage generates.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from models_helpers import FAMILIES, mixed_items, write_colour_set  # noqa: F401 (FAMILIES re-exported)

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No hub is reachable here; read before huggingface_hub is first imported, so a hub id that
# is not cached fails at once instead of waiting for network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from cubeworld.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_of(tmp_path_factory, tiny_model):
    """family -> its tiny model folder (built once per session, on first use)."""
    from cubeworld.models import build_tiny_model

    built = {"qwen2-vl": tiny_model}

    def get(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_model(tmp_path_factory.mktemp("models") / family, seed=0, family=family)
        return built[family]

    return get


@pytest.fixture(scope="session")
def colour_task(tmp_path_factory) -> tuple[Path, Path]:
    """(train, held-out) colour sets of 32 items each, shared by the family matrix."""
    root = tmp_path_factory.mktemp("colour")
    return (
        write_colour_set(root / "train", 32, seed=11, name="train"),
        write_colour_set(root / "held-out", 32, seed=12, name="held-out", prefix="held"),
    )


@pytest.fixture
def colour_set(tmp_path):
    def make(name: str, n: int = 8, seed: int = 0, **kw) -> Path:
        return write_colour_set(tmp_path / name, n, seed, name=name, **kw)

    return make
