"""The domino family reaches the later stages without a line of domino-specific code: a
human study over a real domino set shows the family's own question, the analysis report
gets accuracy rows for dominoes from a real prediction table, and the three-domain study
(`studies/extended.yaml`) loads and plans."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import load_set
from cubeworld.stimuli import generate_set, list_presets
from cubeworld.stimuli.families import get_family

REPO = Path(__file__).resolve().parents[2]
DOMINO = "domino"


@pytest.fixture(scope="module")
def domino_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("domino-uses")
    return generate_set(DOMINO, "3,6", 4, 21, root / "dominoes", resolution=48, workers=1, progress=False)


# -- human study -----------------------------------------------------------------------------
def test_a_human_study_over_dominoes_asks_the_familys_question(domino_set, tmp_path):
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from cubeworld.cli import app
    from cubeworld.human.config import load_human_config
    from cubeworld.human.server import create_app

    family = get_family(DOMINO)
    study = tmp_path / "study"
    res = CliRunner().invoke(
        app, ["human", "create", "--set", str(domino_set), "--design", "same", "--out", str(study)]
    )
    assert res.exit_code == 0, res.output
    cfg = load_human_config(study)
    assert (cfg.domain, cfg.prompt, cfg.question) == (DOMINO, family.prompt, family.question)
    rows = load_set(domino_set).rows
    assert cfg.n_items == len(rows)

    client = TestClient(create_app(study, require_frontend=False))
    view = client.post("/api/session", json={"prolific_pid": "p1", "study_id": "st", "session_id": "s1"})
    assert view.status_code == 200, view.text
    shown = view.json()
    assert shown["study"]["prompt"] == family.prompt and shown["study"]["question"] == family.question
    assert sorted(t["stimulus_id"] for t in shown["trials"]) == sorted(r.stimulus_id for r in rows)
    first = rows[0]
    image = client.get(f"/images/{first.stimulus_id}")
    assert image.status_code == 200 and image.content == load_set(domino_set).image_path(first).read_bytes()


# -- analysis --------------------------------------------------------------------------------------
def _physics_predictions(set_dir: Path, model: str, physics: dict | None) -> list[dict]:
    """The simulation observer's answers: each row's recorded scene re-simulated."""
    s = load_set(set_dir)
    recs = []
    for r in s.rows:
        says_yes = get_family(r.domain).answer_by_simulation(r.extra["scene"], physics=physics)
        recs.append(
            {
                "stimulus_id": r.stimulus_id,
                "set": s.name,
                "domain": r.domain,
                "n_blocks": r.n_blocks,
                "falls": r.falls,
                "model": model,
                "adapter": "",
                "condition": "zero-shot",
                "seed": 0,
                "epoch": 0,
                "p_yes": float(says_yes),
                "answer": answer_for(says_yes),
                "correct": says_yes == r.falls,
                "kind": "physics",
            }
        )
    return recs


def test_the_report_has_accuracy_rows_for_dominoes(domino_set, tmp_path):
    from cubeworld.analysis import analyze
    from cubeworld.formats.predictions import OBSERVER_COLUMNS, PredictionWriter

    towers = generate_set("tower", "2,3", 2, 21, tmp_path / "towers", resolution=32, workers=1, progress=False)
    table = tmp_path / "predictions.csv"
    writer = PredictionWriter(table, extra_columns=OBSERVER_COLUMNS)
    # the shared physics, and a much slipperier floor than any robustness check uses
    observers = {"mujoco": None, "mujoco-friction-0.1": {"friction": 0.1}}
    for model, physics in observers.items():
        for set_dir in (domino_set, towers):
            writer.append(_physics_predictions(set_dir, model, physics))
    writer.finish()

    report = analyze([table], tmp_path / "report", truth=[domino_set, towers], n_boot=50, progress=False)
    assert report.is_file()
    acc = pd.read_csv(tmp_path / "report" / "accuracy.csv", dtype={"n_blocks": str})
    name = load_set(domino_set).name
    mine = acc[acc["set"] == name]
    assert set(mine["n_blocks"]) == {"3", "6", "all"}
    assert len(mine) == 3 * len(observers)
    assert len(acc[acc["set"] == load_set(towers).name]) == 3 * len(observers)
    pred = pd.read_csv(table)
    for model in observers:
        rows = mine[(mine["observer"] == f"{model} · zero-shot") & (mine["n_blocks"] == "all")]
        assert len(rows) == 1
        expected = pred[(pred["model"] == model) & (pred["domain"] == DOMINO)]["correct"].mean()
        assert rows["accuracy"].iloc[0] == pytest.approx(expected)
    assert mine[mine["n_blocks"] == "all"]["accuracy"].max() == 1.0  # the generator's own physics
    assert f"{name}" in report.read_text()


# -- the three-domain study --------------------------------------------------------------------
def test_the_extended_study_trains_on_one_family_and_tests_on_all_three():
    from cubeworld.experiments.config import load_config
    from cubeworld.experiments.plan import plan_runs

    cfg = load_config(REPO / "studies" / "extended.yaml")
    presets = list_presets()
    domain_of = {name: presets[spec.preset]["domain"] for name, spec in cfg.sets.items()}
    assert {domain_of[e] for e in cfg.evaluation} == {"tower", "pyramid", DOMINO}
    trained = {}
    for c in cfg.conditions:
        if c.zero_shot:
            continue
        domains = {domain_of[p.set] for p in c.train}
        assert len(domains) == 1, c  # one family per condition
        trained[c.name] = domains.pop()
        assert sum(p.n for p in c.train) == 10_000
    assert sorted(trained.values()) == sorted(["tower", "pyramid", DOMINO])
    runs = plan_runs(cfg)
    assert len(runs) == len(cfg.models) * (1 + len(trained) * len(cfg.seeds))
    for run in runs:
        assert set(run.evaluation) == set(cfg.evaluation)  # what each run scores (not its identity)
    # the paper's study is unchanged: no domino set in it
    paper = load_config(REPO / "studies" / "paper.yaml")
    assert not any(spec.preset and spec.preset.startswith("dominoes") for spec in paper.sets.values())
