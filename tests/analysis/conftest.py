"""Fixtures of the analysis tests: the real Lerer100 folder and small made-up sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cubeworld.formats.atomic import atomic_write_json, write_jsonl
from cubeworld.formats.predictions import PREDICTION_COLUMNS
from cubeworld.formats.sets import StimulusRow
from cubeworld.formats.answers import answer_for
from cubeworld.stimuli.families import TOWER, get_family

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lerer100_src() -> Path:
    """The shared Lerer100 folder: $CUBEWORLD_LERER100 (must exist) or ../shared/data/lerer100."""
    env = os.environ.get("CUBEWORLD_LERER100")
    if env:
        path = Path(env)
        assert (path / "stimuli.csv").is_file(), (
            f"CUBEWORLD_LERER100={env} is set but holds no Lerer100 data (stimuli.csv missing)"
        )
        return path
    path = REPO.parent / "shared" / "data" / "lerer100"
    if not (path / "stimuli.csv").is_file():
        pytest.skip(f"Lerer100 data not found at {path} and CUBEWORLD_LERER100 is unset")
    return path


@pytest.fixture(scope="session")
def lerer100_set(lerer100_src, tmp_path_factory) -> Path:
    from cubeworld.datasets.lerer100 import import_lerer100

    return import_lerer100(lerer100_src, tmp_path_factory.mktemp("lerer") / "lerer100")


@pytest.fixture(scope="session")
def lerer100_models(lerer100_src, tmp_path_factory) -> Path:
    from cubeworld.datasets.lerer100 import import_lerer100_models

    with pytest.warns(UserWarning, match="FUYU on image 509"):
        return import_lerer100_models(lerer100_src,
                                      tmp_path_factory.mktemp("lerer-models") / "models.csv")


def make_set(root: Path, name: str, sizes=(2, 3), per_size: int = 8, seed: int = 0) -> Path:
    """A tiny valid set folder (metadata + card; images are not needed by the analysis)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for i in range(per_size):
            falls = bool(i % 2)
            rows.append(StimulusRow(f"{name}-n{n}-{i:03d}", f"images/{name}-{n}-{i}.png", TOWER,
                                    n, falls, answer_for(falls), get_family(TOWER).prompt,
                                    {"scene": {"r": float(rng.random())}}))
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "metadata.jsonl", (r.to_record() for r in rows))
    atomic_write_json(root / "dataset.json", {"name": name, "domain": TOWER, "generator": "test",
                                              "generator_version": 0, "seed": seed,
                                              "arguments": {}, "counts": {}})
    return root


def make_predictions(set_dir: Path, *, condition: str, model="m", seeds=(0,), epochs=(0,),
                     skill: float = 0.7, rng_seed: int = 0) -> pd.DataFrame:
    """Prediction rows for every stimulus of a set: right with probability `skill`."""
    from cubeworld.formats.sets import load_set

    s = load_set(set_dir, check_images=False)
    rng = np.random.default_rng(rng_seed)
    recs = []
    for seed in seeds:
        for epoch in epochs:
            for r in s.rows:
                right = bool(rng.random() < skill)
                says_yes = r.falls if right else not r.falls
                recs.append({"stimulus_id": r.stimulus_id, "set": s.name, "domain": r.domain,
                             "n_blocks": r.n_blocks, "falls": r.falls, "model": model,
                             "adapter": "", "condition": condition, "seed": seed,
                             "epoch": epoch, "p_yes": float(says_yes),
                             "answer": answer_for(says_yes), "correct": right})
    return pd.DataFrame(recs, columns=list(PREDICTION_COLUMNS))


@pytest.fixture
def tiny():
    """The helpers above, for tests (conftest modules are not imported by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(make_set=make_set, make_predictions=make_predictions)
