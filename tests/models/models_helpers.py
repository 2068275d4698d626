"""Helpers of the models tests (a uniquely named module: `from conftest import` would be
ambiguous across test folders): every registered family, the colour sets.

The colour task is one the tiny random model can learn in seconds: a mostly red image
means "Yes" (falls=True), a mostly blue one "No"."""

from __future__ import annotations

import json
import random
from pathlib import Path

from cubeworld.models.families import MODEL_FAMILIES  # light: the registry loads no transformers

# Every registered model family (the family matrix and the activation tests follow the registry).
FAMILIES = tuple(MODEL_FAMILIES.names())


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
