"""Helpers of the observer tests: small hand-made sets whose label is visible in the image.

A "colour" set draws each stimulus as a red (falls) or blue (stands) square on grey at a
random place and size, with noise: a network that learns gets it right, one that does not
stays at chance. (A uniquely named module: `import conftest` would be ambiguous.)
"""

from __future__ import annotations

import random
from pathlib import Path

from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_json, write_jsonl
from cubeworld.stimuli.families import get_family


def colour_set(
    root: Path, name: str, n_per_cell: int = 8, sizes=(2, 3), seed: int = 0, px: int = 24, images: bool = True
) -> Path:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    d = root / name
    (d / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        for falls in (False, True):
            for i in range(n_per_cell):
                sid = f"{name}-n{n}-{int(falls)}-{i}"
                if images:
                    im = Image.new("RGB", (px, px), (128, 128, 128))
                    side = rng.randint(px // 4, px // 2)
                    x, y = rng.randint(0, px - side), rng.randint(0, px - side)
                    colour = (200, 40, 40) if falls else (40, 40, 200)
                    ImageDraw.Draw(im).rectangle([x, y, x + side, y + side], fill=colour)
                    im.save(d / "images" / f"{sid}.png")
                rows.append(
                    {
                        "file_name": f"images/{sid}.png",
                        "stimulus_id": sid,
                        "domain": "tower",
                        "n_blocks": n,
                        "falls": falls,
                        "answer": answer_for(falls),
                        "prompt": get_family("tower").prompt,
                    }
                )
    write_jsonl(d / "metadata.jsonl", rows)
    atomic_write_json(
        d / "dataset.json",
        {
            "name": name,
            "domain": "tower",
            "generator": "test",
            "generator_version": 1,
            "seed": seed,
            "arguments": {},
            "counts": {},
        },
    )
    return d
