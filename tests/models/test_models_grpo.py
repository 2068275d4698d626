"""GRPO (`method: grpo`, TRL's GRPOTrainer) on the tiny model, on the CPU.

A random tiny model almost never writes "Yes" or "No", so every completion earns 0 and
GRPO has nothing to compare. The learnable toy is therefore two-stage: a short supervised
warm start on colour images whose labels are independent of the colour (the model learns
the answer's form; it then says mostly "No"), then GRPO on a set whose label is always
"Yes", which the reward alone must teach. (The colour task itself, at 12-24 GRPO steps of
4 x 4 completions, moved P(correct) from 0.50 to anywhere between 0.50 and 0.94 depending
on the seed: too slow and noisy for a test at this size.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from models_helpers import write_colour_set

from cubeworld.formats.predictions import read_predictions

GRPO = dict(
    method="grpo",
    batch_size=4,
    num_generations=4,
    max_completion_tokens=1,
    lr=1e-2,
    warmup_steps=0,
    scheduler="constant",
    progress=False,
)


def _config(model: Path, train: Path, out: Path, **kw):
    from cubeworld.models import FinetuneConfig

    return FinetuneConfig(**{"model": str(model), "train": str(train), "out": str(out), **GRPO, **kw})


def _steps(run: Path) -> list[dict]:
    records = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    return [r for r in records if r["record"] == "step"]


def _p_right(df) -> float:
    return float(df["p_yes"].where(df["falls"], 1 - df["p_yes"]).mean())


@pytest.fixture(scope="module")
def warm(tmp_path_factory, tiny_model) -> Path:
    """The tiny model after one supervised epoch on colour images with colour-blind labels:
    it answers Yes or No, but not by the colour."""
    from cubeworld.models import FinetuneConfig, finetune

    root = tmp_path_factory.mktemp("warm")
    form = write_colour_set(root / "form", 16, seed=13, name="form")
    rows = [json.loads(x) for x in (form / "metadata.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):  # half the labels flipped: the label says nothing of the colour
        if i % 4 in (0, 1):
            row["falls"] = not row["falls"]
            row["answer"] = "Yes" if row["falls"] else "No"
    (form / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = finetune(
        FinetuneConfig(
            model=str(tiny_model),
            train=str(form),
            out=str(root / "run"),
            method="full",
            epochs=1,
            max_items=16,
            batch_size=4,
            lr=2e-2,
            warmup_steps=0,
            scheduler="constant",
            progress=False,
        )
    )
    return run / "checkpoints/epoch-1"


@pytest.fixture(scope="module")
def always_yes(tmp_path_factory) -> Path:
    """16 colour images, every label Yes."""
    root = write_colour_set(tmp_path_factory.mktemp("grpo") / "train", 16, seed=11, name="train")
    rows = [json.loads(x) for x in (root / "metadata.jsonl").read_text().splitlines()]
    for row in rows:
        row["falls"], row["answer"] = True, "Yes"
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_grpo_raises_the_mean_reward_and_the_adapter_reloads(warm, always_yes, tmp_path):
    """Mean reward per epoch rises (measured: 0.41 -> 0.89); P(correct) on the set rises
    from the warm model's 0.16; the saved adapter reloads to the trained model's P(Yes)."""
    from cubeworld.models import evaluate, finetune

    run = tmp_path / "run"
    finetune(_config(warm, always_yes, run, epochs=2, max_items=16, eval_sets=[str(always_yes)]))
    steps = _steps(run)
    assert [s["step"] for s in steps] == list(range(1, 9))  # 16 pairs / 4 per step, 2 epochs
    reward = {e: sum(s["reward"] for s in steps if s["epoch"] == e) / 4 for e in (1, 2)}
    assert reward[2] >= 0.7 and reward[2] > reward[1] + 0.25, reward
    assert all("extraction_failed" in s and 0 <= s["extraction_failed"] <= 1 for s in steps)
    preds = {k: read_predictions(run / f"predictions/epoch-{k}/train.csv") for k in (0, 2)}
    p_right = {k: _p_right(df) for k, df in preds.items()}
    assert p_right[0] < 0.4 and p_right[2] > 0.9, p_right
    state = json.loads((run / "state.json").read_text())
    assert state["method"] == "grpo" and state["finished"]
    g = state["grpo"]
    assert (g["adapter"], g["num_generations"], g["completions_per_step"], g["pairs_left_out_per_epoch"]) == (
        "lora",
        4,
        16,
        0,
    )
    # The adapter of epoch 2, loaded on the warm model, scores like the trained model.
    again = read_predictions(
        evaluate(warm, always_yes, tmp_path / "again.csv", progress=False, adapter=run / "checkpoints/epoch-2")
    ).set_index("stimulus_id")
    trained = preds[2].set_index("stimulus_id")
    assert (again["p_yes"] - trained.loc[again.index, "p_yes"]).abs().max() < 1e-5


def test_a_killed_grpo_run_resumes_to_the_uninterrupted_result(warm, colour_set, tmp_path, monkeypatch):
    from cubeworld.models import finetune, grpo

    train = colour_set("train", n=8, seed=5)
    ev = colour_set("ev", n=4, seed=6, prefix="ev")
    kw = dict(epochs=2, max_items=8, eval_sets=[str(ev)], num_generations=2, batch_size=2, grad_accum=2)
    finetune(_config(warm, train, tmp_path / "straight", **kw))

    calls = {"n": 0}
    real = grpo.label_rewards

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the first step of epoch 2 (one reward call per step)
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(grpo, "label_rewards", dying)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        finetune(_config(warm, train, killed, **kw))
    assert json.loads((killed / "state.json").read_text())["last_epoch"] == 1
    monkeypatch.setattr(grpo, "label_rewards", real)
    finetune(_config(warm, train, killed, **kw))
    assert json.loads((killed / "state.json").read_text())["finished"]
    for k in (0, 1, 2):
        a = read_predictions(tmp_path / f"straight/predictions/epoch-{k}/ev.csv")
        b = read_predictions(killed / f"predictions/epoch-{k}/ev.csv")
        assert len(b) == 4 and (a["p_yes"] - b["p_yes"]).abs().max() < 1e-5, k
    straight, resumed = _steps(tmp_path / "straight"), _steps(killed)
    assert [s["step"] for s in resumed] == [1, 2, 3, 4]
    assert [s["reward"] for s in resumed] == [s["reward"] for s in straight]


def test_grpo_settings_are_checked_before_anything_is_written(tiny_model, colour_set, tmp_path):
    from cubeworld.models import FinetuneConfig, ModelsError, finetune

    train = colour_set("train", n=4)
    base = {"model": str(tiny_model), "train": str(train), "out": str(tmp_path / "run"), "progress": False}
    with pytest.raises(ModelsError, match="num_generations: a GRPO setting, but method is lora"):
        FinetuneConfig.parse({**base, "method": "lora", "num_generations": 4})
    with pytest.raises(ModelsError, match="num_generations"):
        FinetuneConfig.parse({**base, "method": "grpo", "num_generations": 1})
    with pytest.raises(ModelsError, match="temperature"):
        FinetuneConfig.parse({**base, "method": "grpo", "temperature": 0})
    with pytest.raises(ModelsError, match="backend unsloth"):
        FinetuneConfig.parse({**base, "method": "grpo", "backend": "unsloth"})
    with pytest.raises(ModelsError, match="use_vllm: vLLM samples on a CUDA GPU only"):
        finetune(FinetuneConfig.parse({**base, "method": "grpo", "use_vllm": True, "device": "cpu"}))
    with pytest.raises(ModelsError, match="fewer than one GRPO step"):
        finetune(FinetuneConfig.parse({**base, "method": "grpo", "batch_size": 8, "max_items": 4}))
    assert not (tmp_path / "run").exists()


def test_the_reward_reads_answers_with_the_scoring_rule():
    from cubeworld.models.grpo import label_rewards

    completions = [
        [{"role": "assistant", "content": "Yes"}],
        [{"role": "assistant", "content": "no."}],
        [{"role": "assistant", "content": "Hmm, yes or no"}],
        "The blocks tip. Answer: No",
    ]
    rewards, failed = label_rewards(completions, ["Yes", "Yes", "Yes", "No"])
    assert rewards == [1.0, 0.0, 0.0, 1.0] and failed == 1


def test_free_mode_agrees_with_the_logits_where_the_greedy_word_is_the_answer(warm, always_yes, tmp_path):
    """The warm model writes Yes or No first: its free answer (one greedy token, read by
    `extract_answer`) is the larger of the two answer logits on every item."""
    from cubeworld.models import evaluate

    free = read_predictions(
        evaluate(warm, always_yes, tmp_path / "f.csv", mode="free", max_new_tokens=1, progress=False)
    )
    logits = read_predictions(evaluate(warm, always_yes, tmp_path / "l.csv", progress=False))
    assert (free["extraction"] == "ok").all(), free["free_text"].tolist()
    joined = free.set_index("stimulus_id").join(logits.set_index("stimulus_id"), rsuffix="_logprob")
    assert (joined["answer"] == joined["answer_logprob"]).all()
