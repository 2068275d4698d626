"""The CNN observer: it learns, it resumes to the same numbers, it refuses what it cannot use."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from observers_helpers import colour_set
from typer.testing import CliRunner

from cubeworld.cli import app
from cubeworld.observers import OBSERVERS, cli_observer
from cubeworld.observers.base import ObserverError, TrainingJob
from cubeworld.observers.cnn_config import CnnConfig
from cubeworld.observers.cnn_trainer import CnnTrainer
from cubeworld.trainer.data import DataDraw, MixSource

runner = CliRunner()
SMALL = {"image_size": 24, "channels": [8, 16], "batch_size": 8, "lr": 5e-3}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sets")
    return colour_set(root, "train", n_per_cell=12, seed=1), colour_set(root, "test", n_per_cell=6, seed=2)


def train_cnn(config: CnnConfig):
    return CnnTrainer(config).run()


def train(sets, out, epochs=3, **kw):
    tr, te = sets
    return train_cnn(
        CnnConfig(
            train=str(tr),
            out=str(out),
            epochs=epochs,
            eval_sets=[str(te)],
            max_items=48,
            adapter_label="run",
            progress=False,
            **{**SMALL, **kw},
        )
    )


def table(run, epoch, name="test"):
    return pd.read_csv(run / "predictions" / f"epoch-{epoch}" / f"{name}.csv", dtype=str, keep_default_na=False)


def test_learning_is_real(sets, tmp_path):
    run = train(sets, tmp_path / "run", epochs=4)
    first, last = table(run, 0), table(run, 4)
    assert (last["correct"] == "True").mean() >= 0.9
    assert (first["correct"] == "True").mean() <= 0.75  # epoch 0: the random initialisation
    # contract C columns
    assert set(last["kind"]) == {"cnn"} and set(last["image_size"]) == {"24x24"}
    assert set(last["p_other"].astype(float)) == {0.0}
    p = last["p_yes"].astype(float)
    assert ((p - last["logp_yes"].astype(float).map(__import__("math").exp)).abs() < 1e-6).all()
    state = json.loads((run / "state.json").read_text())
    assert state["last_epoch"] == 4 and state["finished"] and state["kind"] == "cnn"
    for k in range(5):
        assert (run / "checkpoints" / f"epoch-{k}" / "model.pt").is_file()


def test_same_seed_same_numbers_and_a_resumed_run_equals_an_uninterrupted_one(sets, tmp_path):
    ref = train(sets, tmp_path / "ref")
    again = train(sets, tmp_path / "again")
    for k in range(4):
        pd.testing.assert_frame_equal(table(ref, k), table(again, k))
    # a run killed after epoch 1: state.json says 1, later files are gone
    cut = tmp_path / "cut"
    shutil.copytree(ref, cut)
    for k in (2, 3):
        shutil.rmtree(cut / "checkpoints" / f"epoch-{k}")
        shutil.rmtree(cut / "predictions" / f"epoch-{k}")
    state = json.loads((cut / "state.json").read_text())
    (cut / "state.json").write_text(json.dumps({**state, "last_epoch": 1, "finished": False}))
    train(sets, cut)
    for k in range(4):
        pd.testing.assert_frame_equal(table(cut, k), table(ref, k))
    other = train(sets, tmp_path / "other", seed=1)
    assert not table(other, 3)["p_yes"].equals(table(ref, 3)["p_yes"])


def test_a_different_run_in_the_same_folder_is_refused(sets, tmp_path):
    train(sets, tmp_path / "run", epochs=1)
    with pytest.raises(ObserverError, match="started with lr=0.005, now 0.001"):
        train(sets, tmp_path / "run", epochs=1, lr=1e-3)


def test_human_labels_and_mixtures_use_the_trainers_draw(sets, tmp_path):
    """The same TrainingJob a VLM gets: the CNN draws the same pairs as a VLM run would."""
    from cubeworld.models.config import FinetuneConfig
    from cubeworld.trainer.data import build_training_data

    tr, te = sets
    humans = tmp_path / "humans.csv"
    rows = pd.read_json(tr / "metadata.jsonl", lines=True)
    pd.DataFrame(
        {"stimulus_id": rows["stimulus_id"], "participant": "p1", "response": 1 - rows["falls"].astype(int)}
    ).to_csv(humans, index=False)
    cnn = OBSERVERS.get("cnn")
    draw = DataDraw(train=str(tr), mix=(MixSource(str(te), 6 / 16),), labels=str(humans), max_items=16, seed=3)
    job = TrainingJob(
        model="scratch",
        data=draw,
        out=tmp_path / "run",
        epochs=1,
        condition="c",
        model_label="cnn",
        training=cnn.settings("training", SMALL),
        scoring=cnn.settings("scoring", {}),
    )
    cfg = cnn.config_for(job)
    ft = FinetuneConfig(
        model="m", out="o", **{f: getattr(draw, f) for f in ("train", "mix", "labels", "max_items", "seed")}
    )
    ours, theirs = build_training_data(cfg, cfg.label_policy), build_training_data(ft, ft.label_policy)
    assert [(e.stimulus_id, e.label) for e in ours.items] == [(e.stimulus_id, e.label) for e in theirs.items]
    assert ours.summary["sources"][0]["labels"] == "human"


def test_a_set_without_images_is_refused_before_anything_is_written(tmp_path):
    bare = colour_set(tmp_path, "bare", images=False)
    out = tmp_path / "run"
    with pytest.raises(ObserverError, match="needs images, but 32 of 32 are missing"):
        train_cnn(CnnConfig(train=str(bare), out=str(out), max_items=32, progress=False, **SMALL))
    assert not out.exists()


def test_command_line_trains_and_scores(sets, tmp_path):
    tr, te = sets
    out = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "finetune",
            "--model",
            "cnn",
            "--train",
            str(tr),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--eval-set",
            str(te),
            "--image-size",
            "28",
            "--max-items",
            "48",
            "--batch-size",
            "8",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((out / "state.json").read_text())["config"]["image_size"] == 28
    ckpt = out / "checkpoints" / "epoch-1"
    assert cli_observer(str(ckpt)) is OBSERVERS.get("cnn")
    preds = tmp_path / "p.csv"
    r = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(ckpt),
            "--set",
            str(te),
            "--set",
            str(tr),
            "--out",
            str(preds),
            "--epoch",
            "1",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    df = pd.read_csv(preds)
    assert len(df) == 24 + 48 and set(df["set"]) == {"test", "train"}
    mine = table(out, 1).sort_values("stimulus_id")["p_yes"].astype(float).to_numpy()
    cli = df[df["set"] == "test"].sort_values("stimulus_id")["p_yes"].to_numpy()
    assert (abs(mine - cli) < 1e-6).all()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lora-r", "8"], "lora_r: not a setting of the cnn observer"),
        (["--method", "lora"], "method: not a setting of the cnn observer"),
        (["--max-pixels", "1000"], "--max-pixels: a cnn observer takes square images"),
    ],
)
def test_command_line_refuses_what_a_cnn_has_no_use_for(sets, tmp_path, args, message):
    tr, _ = sets
    out = tmp_path / "run"
    r = runner.invoke(
        app, ["finetune", "--model", "cnn", "--train", str(tr), "--out", str(out), "--no-progress", *args]
    )
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists()


def test_command_line_cnn_set_without_images_exits_2(tmp_path):
    bare = colour_set(tmp_path, "bare", images=False)
    out = tmp_path / "run"
    r = runner.invoke(app, ["finetune", "--model", "cnn", "--train", str(bare), "--out", str(out), "--no-progress"])
    assert r.exit_code == 2 and "needs images" in r.output and not out.exists()
