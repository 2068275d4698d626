"""Fixtures of the models tests: one tiny model per family per session, small colour sets.

The colour task is one the tiny random model can learn in seconds: a mostly red image
means "Yes" (falls=True), a mostly blue one "No". Sets are written in the stimulus-set
format (`metadata.jsonl` rows from `StimulusRow.to_record()`, PNGs in `images/`) with the
study's prompts, like the ones the stimuli stage generates.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from cubeworld.models.families import MODEL_FAMILIES  # light: the registry loads no transformers

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No hub is reachable here; read before huggingface_hub is first imported, so a hub id that
# is not cached fails at once instead of waiting for network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


# Every registered model family (the family matrix and the activation tests follow the registry).
FAMILIES = tuple(MODEL_FAMILIES.names())


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


def mixed_items(root: Path):
    """Items of different prompt lengths and image sizes, so a batch needs padding."""
    from PIL import Image

    from cubeworld.models.inputs import Example
    from cubeworld.stimuli.families import FAMILIES as STIMULUS_FAMILIES

    TOWER_PROMPT, PYRAMID_PROMPT = STIMULUS_FAMILIES.get("tower").prompt, STIMULUS_FAMILIES.get("pyramid").prompt

    items = []
    for i, (size, prompt) in enumerate(
        [
            ((112, 112), TOWER_PROMPT),
            ((168, 112), PYRAMID_PROMPT),
            ((112, 112), PYRAMID_PROMPT),
            ((224, 168), TOWER_PROMPT),
            ((140, 140), TOWER_PROMPT),
        ]
    ):
        path = root / f"img{i}.png"
        Image.new("RGB", size, (40 * i, 200 - 30 * i, 90)).save(path)
        items.append(Example(f"s{i}", path, prompt))
    return items


def write_colour_set(
    root: Path,
    n: int,
    seed: int,
    *,
    name: str | None = None,
    size: int = 112,
    domain: str = "tower",
    prefix: str | None = None,
    noise: int = 60,
) -> Path:
    """A set of `n` images, half mostly red (falls -> Yes), half mostly blue (No)."""
    from PIL import Image

    from cubeworld.formats.answers import answer_for
    from cubeworld.formats.sets import StimulusRow
    from cubeworld.stimuli.families import get_family

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    prefix = prefix or f"{domain}-s{seed}"
    task = get_family(domain)
    lines = []
    for i in range(n):
        falls = i % 2 == 0
        sid = f"{prefix}-{i:05d}"
        img = Image.new("RGB", (size, size))
        px = img.load()
        for y in range(size):
            for x in range(size):
                hot = 150 + rng.randrange(noise)
                cold = rng.randrange(noise)
                g = rng.randrange(80)
                px[x, y] = (hot, g, cold) if falls else (cold, g, hot)
        fname = f"images/{sid}.png"
        img.save(root / fname)
        row = StimulusRow(
            stimulus_id=sid,
            file_name=fname,
            domain=domain,
            n_blocks=task.sizes[0],
            falls=falls,
            answer=answer_for(falls),
            prompt=task.prompt,
            extra={"colour": "red" if falls else "blue"},
        )
        lines.append(json.dumps(row.to_record()))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    card = {
        "name": name or root.name,
        "domain": domain,
        "generator": "tests.colour",
        "generator_version": "1",
        "seed": seed,
        "arguments": {"n": n, "size": size},
        "counts": {"Yes": (n + 1) // 2, "No": n // 2},
    }
    (root / "dataset.json").write_text(json.dumps(card, indent=2))
    return root


@pytest.fixture
def colour_set(tmp_path):
    def make(name: str, n: int = 8, seed: int = 0, **kw) -> Path:
        return write_colour_set(tmp_path / name, n, seed, name=name, **kw)

    return make
