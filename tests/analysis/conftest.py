"""Fixtures of the analysis tests: the real Lerer100 folder and small made-up sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_json, write_jsonl
from cubeworld.formats.predictions import PREDICTION_COLUMNS
from cubeworld.formats.sets import StimulusRow
from cubeworld.stimuli.families import TOWER, get_family

REPO = Path(__file__).resolve().parents[2]
MARGIN = {
    "name": "stability margin",
    "unit": "mm",
    "description": "signed analytic stability margin; larger = more clearly stable",
}


@pytest.fixture(scope="session")
def lerer100_src() -> Path:
    """The Lerer100 copy shipped with cubeworld (a fresh clone needs nothing beside it)."""
    from cubeworld.datasets import get_dataset

    path = get_dataset("lerer100").shipped
    assert path is not None and (path / "stimuli.csv").is_file(), path
    return path


@pytest.fixture(scope="session")
def lerer100_set(lerer100_src, tmp_path_factory) -> Path:
    from cubeworld.datasets.lerer100 import import_lerer100

    return import_lerer100(lerer100_src, tmp_path_factory.mktemp("lerer") / "lerer100")


@pytest.fixture(scope="session")
def lerer100_models(lerer100_src, tmp_path_factory) -> Path:
    from cubeworld.datasets.lerer100 import import_lerer100_models

    with pytest.warns(UserWarning, match="FUYU on image 509"):
        return import_lerer100_models(lerer100_src, tmp_path_factory.mktemp("lerer-models") / "models.csv")


def make_set(
    root: Path,
    name: str,
    sizes=(2, 3),
    per_size: int = 8,
    seed: int = 0,
    difficulty: bool = False,
    difficulty_card: dict | None = MARGIN,
) -> Path:
    """A tiny valid set folder (metadata + card; images are not needed by the analysis).

    With `difficulty`, every row carries one (contract B: larger = more clearly "No"):
    towers that fall get negative margins, stable ones positive, with some overlap near 0,
    and the card describes the measure (`difficulty_card`, None for no card entry).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for i in range(per_size):
            falls = bool(i % 2)
            extra = {"scene": {"r": float(rng.random())}}
            if difficulty:
                extra["difficulty"] = float((-1 if falls else 1) * rng.uniform(-2, 10))
            rows.append(
                StimulusRow(
                    f"{name}-n{n}-{i:03d}",
                    f"images/{name}-{n}-{i}.png",
                    TOWER,
                    n,
                    falls,
                    answer_for(falls),
                    get_family(TOWER).prompt,
                    extra,
                )
            )
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "metadata.jsonl", (r.to_record() for r in rows))
    card = {
        "name": name,
        "domain": TOWER,
        "generator": "test",
        "generator_version": 0,
        "seed": seed,
        "arguments": {},
        "counts": {},
    }
    if difficulty and difficulty_card is not None:
        card["difficulty"] = difficulty_card
    atomic_write_json(root / "dataset.json", card)
    return root


def make_predictions(
    set_dir: Path, *, condition: str, model="m", seeds=(0,), epochs=(0,), skill: float = 0.7, rng_seed: int = 0
) -> pd.DataFrame:
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
                recs.append(
                    {
                        "stimulus_id": r.stimulus_id,
                        "set": s.name,
                        "domain": r.domain,
                        "n_blocks": r.n_blocks,
                        "falls": r.falls,
                        "model": model,
                        "adapter": "",
                        "condition": condition,
                        "seed": seed,
                        "epoch": epoch,
                        "p_yes": float(says_yes),
                        "answer": answer_for(says_yes),
                        "correct": right,
                    }
                )
    return pd.DataFrame(recs, columns=list(PREDICTION_COLUMNS))


def make_graded_predictions(
    set_dir: Path,
    *,
    model: str,
    kind: str = "vlm",
    slope: float = -0.6,
    seeds=(0,),
    p_other: float | None = None,
    rng_seed: int = 0,
    condition: str = "zero-shot",
) -> pd.DataFrame:
    """Rows whose P(Yes) follows the rows' difficulty: logistic(slope x difficulty) plus
    noise (slope 0: a coin), with contract C's kind and p_other columns."""
    from cubeworld.formats.sets import load_set

    s = load_set(set_dir, check_images=False)
    rng = np.random.default_rng(rng_seed)
    recs = []
    for seed in seeds:
        for r in s.rows:
            d = r.extra.get("difficulty", 0.0)
            p = float(np.clip(1 / (1 + np.exp(-(slope * d + rng.normal(0, 0.8)))), 0.01, 0.99))
            says_yes = p >= 0.5
            recs.append(
                {
                    "stimulus_id": r.stimulus_id,
                    "set": s.name,
                    "domain": r.domain,
                    "n_blocks": r.n_blocks,
                    "falls": r.falls,
                    "model": model,
                    "adapter": "",
                    "condition": condition,
                    "seed": seed,
                    "epoch": 0,
                    "p_yes": p,
                    "answer": answer_for(says_yes),
                    "correct": says_yes == r.falls,
                    "kind": kind,
                    "p_other": "" if p_other is None else p_other,
                }
            )
    return pd.DataFrame(recs)


def make_humans(
    set_dir: Path,
    n_participants: int = 12,
    *,
    slope: float = -0.5,
    seed: int = 0,
    excluded: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Responses of made-up participants who say Yes with logistic(slope x difficulty)
    (0.7 correct on sets without difficulty). `excluded`: participant -> rules, which adds
    contract D's excluded / exclusion_rules columns."""
    from cubeworld.formats.sets import load_set

    rng = np.random.default_rng(seed)
    rows = load_set(set_dir, check_images=False).rows
    recs = []
    for j in range(n_participants):
        bias = rng.normal(0, 0.7)
        for r in rows:
            if "difficulty" in r.extra:
                p = 1 / (1 + np.exp(-(slope * r.extra["difficulty"] + bias)))
            else:
                p = 0.7 if r.falls else 0.3
            recs.append(
                {
                    "stimulus_id": r.stimulus_id,
                    "participant": f"p{j}",
                    "response": int(rng.random() < p),
                    "rt_ms": int(rng.integers(400, 3000)),
                }
            )
    df = pd.DataFrame(recs)
    if excluded is not None:
        df["excluded"] = df["participant"].map(lambda p: int(p in excluded))
        df["exclusion_rules"] = df["participant"].map(lambda p: excluded.get(p, ""))
    return df


@pytest.fixture(scope="session")
def tiny():
    """The helpers above, for tests (conftest modules are not imported by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        make_set=make_set,
        make_predictions=make_predictions,
        make_graded_predictions=make_graded_predictions,
        make_humans=make_humans,
        margin=MARGIN,
    )


@pytest.fixture(scope="session")
def lerer100_report(lerer100_set, lerer100_models, tmp_path_factory) -> Path:
    """The full analysis of Lerer100 (five published models, 107 participants), once."""
    import warnings

    from cubeworld.analysis import analyze

    out = tmp_path_factory.mktemp("lerer-report") / "rep"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ADAPTER answers No to every photo (constant)
        return analyze(
            [lerer100_models],
            out,
            truth=[lerer100_set],
            humans=lerer100_set / "human_responses.csv",
            n_boot=500,
            progress=False,
        )


def make_trained_predictions(
    set_dir: Path, *, model: str, condition: str, trained_sizes, seeds=(0, 1, 2), kind: str = "cnn", rng_seed: int = 0
) -> pd.DataFrame:
    """A trained observer's rows: a confident, mostly right P(Yes) on the trained block
    counts, a weaker one (still ranking items a little) on the others."""
    from cubeworld.formats.sets import load_set

    s = load_set(set_dir, check_images=False)
    rng = np.random.default_rng(rng_seed)
    recs = []
    for seed in seeds:
        for r in s.rows:
            strength = 2.5 if r.n_blocks in trained_sizes else 0.5
            logit = strength * (1 if r.falls else -1) + rng.normal(0, 1.2)
            p = float(1 / (1 + np.exp(-logit)))
            says_yes = p >= 0.5
            recs.append(
                {
                    "stimulus_id": r.stimulus_id,
                    "set": s.name,
                    "domain": r.domain,
                    "n_blocks": r.n_blocks,
                    "falls": r.falls,
                    "model": model,
                    "adapter": "",
                    "condition": condition,
                    "seed": seed,
                    "epoch": 3,
                    "p_yes": p,
                    "answer": answer_for(says_yes),
                    "correct": says_yes == r.falls,
                    "kind": kind,
                }
            )
    return pd.DataFrame(recs)


@pytest.fixture(scope="session")
def contrast_report(tmp_path_factory) -> Path:
    """A study with a training scope: an observer trained on towers of 2-3 blocks (three
    seeds) scored on 2-5 blocks, a zero-shot observer, one that always says Yes, people."""
    import warnings

    from cubeworld.analysis import analyze
    from cubeworld.analysis.loading import TrainedOn

    root = tmp_path_factory.mktemp("contrast")
    train = make_set(root / "train", "towers-train", sizes=(2, 3), per_size=6)
    ev = make_set(root / "eval", "towers-eval", sizes=(2, 3, 4, 5), per_size=20, seed=4, difficulty=True)
    trained = make_trained_predictions(ev, model="cnn", condition="towers-2-3", trained_sizes=(2, 3))
    zero = make_graded_predictions(ev, model="physics", kind="physics", slope=-1.2, rng_seed=5)
    always = make_predictions(ev, condition="always-yes", model="yes-man", rng_seed=6)
    always = always.assign(p_yes=1.0, answer="Yes", correct=always["falls"])
    preds = pd.concat([trained, zero, always], ignore_index=True)
    preds.to_csv(root / "preds.csv", index=False)
    make_humans(ev, 10, seed=2).to_csv(root / "humans.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(
            [root / "preds.csv"],
            root / "report",
            truth=[ev],
            humans=root / "humans.csv",
            trained=[TrainedOn("towers-2-3", train)],
            n_boot=300,
            progress=False,
        )
