"""Helpers of the probes tests: small stimulus sets with margins, and synthetic activation
caches written in the extraction's on-disk format (what any extractor, a CNN's included,
writes), so a planted signal sits exactly where a test puts it. (A uniquely named module:
`import conftest` would be ambiguous across test folders.)"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def write_set(
    root: Path,
    n: int,
    *,
    seed: int,
    name: str | None = None,
    domain: str = "tower",
    prefix: str | None = None,
    margins: bool = True,
    ids: Sequence[str] | None = None,
) -> Path:
    """A set folder of `n` rows (no images: load it with check_images=False), half falling;
    `difficulty` is a signed margin whose sign is the label (negative: falls)."""
    from cubeworld.formats.answers import answer_for
    from cubeworld.formats.sets import StimulusRow
    from cubeworld.stimuli.families import get_family

    rng = np.random.default_rng(seed)
    family = get_family(domain)
    root.mkdir(parents=True, exist_ok=True)
    prefix = prefix or f"{domain}-s{seed}"
    lines = []
    for i in range(n):
        falls = i % 2 == 0
        margin = float(rng.uniform(1, 30)) * (-1 if falls else 1)
        sid = ids[i] if ids is not None else f"{prefix}-{i:05d}"
        extra = {"difficulty": round(margin, 3)} if margins else {}
        row = StimulusRow(
            sid, f"images/{sid}.png", domain, family.sizes[0], falls, answer_for(falls), family.prompt, extra
        )
        lines.append(json.dumps(row.to_record()))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    (root / "dataset.json").write_text(json.dumps({"name": name or root.name, "domain": domain}))
    return root


def load(root: Path):
    from cubeworld.formats.sets import load_set

    return load_set(root, check_images=False)


def write_cache(out: Path, sets: Sequence, arrays: Mapping[str, np.ndarray], *, model: str = "synthetic") -> Path:
    """An activations cache (index.json, progress.json, float16 POINT@POOL.npy) over the
    items of `sets` in row order, holding `arrays` (key -> (items, width))."""
    from cubeworld.models.activations import FORMAT, VERSION, set_identity

    out.mkdir(parents=True, exist_ok=True)
    items = [[s.name, r.stimulus_id] for s in sets for r in s.rows]
    points = list(dict.fromkeys(k.split("@")[0] for k in arrays))
    index = {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "adapter": "",
        "sets": [set_identity(s) for s in sets],
        "points_requested": "all",
        "points": points,
        "point_stages": {p: p.split(".")[0] for p in points},
        "items": items,
        "arrays": {},
    }
    for key, values in arrays.items():
        assert values.shape[0] == len(items), key
        np.save(out / f"{key}.npy", values.astype(np.float16))
        index["arrays"][key] = {"file": f"{key}.npy", "shape": list(values.shape), "dtype": "float16"}
    (out / "index.json").write_text(json.dumps(index))
    zeros = dict.fromkeys(arrays, 0)
    (out / "progress.json").write_text(
        json.dumps({"done": len(items), "complete": True, "clipped": zeros, "nonfinite": zeros})
    )
    return out


def planted(sets: Sequence, width: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """vision.0: noise; decoder.0: the label along one direction (+ noise, answer pool
    only); decoder.1: the margin in one coordinate (+ noise); every other array noise."""
    rng = np.random.default_rng(seed)
    falls = np.array([r.falls for s in sets for r in s.rows], dtype=float)
    margin = np.array([r.difficulty for s in sets for r in s.rows], dtype=float)
    n = len(falls)

    def noise() -> np.ndarray:
        return rng.standard_normal((n, width))

    label = noise()
    label[:, 0] += 3.0 * (falls - 0.5)
    amount = noise()
    amount[:, 1] += margin / 5.0
    return {
        "vision.0@image": noise(),
        "decoder.0@image": noise(),
        "decoder.0@answer": label,
        "decoder.1@image": amount,
        "decoder.1@answer": noise(),
    }
