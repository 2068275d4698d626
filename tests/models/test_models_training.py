"""Fine-tuning: the loss mask, labels and mixtures, learning, checkpoints and resuming."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from cubeworld.errors import CubeworldError
from cubeworld.formats.predictions import read_predictions


def _config(tiny_model, train, out, **kw):
    from cubeworld.models import FinetuneConfig

    base = dict(
        model=str(tiny_model), train=str(train), out=str(out), epochs=1, max_items=8, batch_size=4, progress=False
    )
    base.update(kw)
    return FinetuneConfig(**base)


def test_the_study_values_are_written_once_and_are_the_defaults(tiny_model, tmp_path):
    from cubeworld import hyperparameters as hp
    from cubeworld.models import FinetuneConfig, ModelsError

    assert (hp.LORA_R, hp.LORA_ALPHA, hp.LEARNING_RATE, hp.EPOCHS, hp.MAX_ITEMS, hp.SEEDS) == (
        16,
        16,
        2e-4,
        10,
        10000,
        (0, 1, 2),
    )
    c = FinetuneConfig(model="m", train="t", out="o")
    assert (c.lora_r, c.lora_alpha, c.lr, c.epochs, c.max_items) == (16, 16, 2e-4, 10, 10000)
    assert FinetuneConfig.parse(c.to_plain()) == c
    with pytest.raises(ModelsError, match=r"method: expected one of \['auto', 'qlora', 'lora', 'full', 'grpo'\]"):
        FinetuneConfig.parse({"model": "m", "train": "t", "out": "o", "method": "qlora4"})


def test_lora_targets_skip_the_patch_embedding(tiny_model):
    from peft import LoraConfig, get_peft_model

    from cubeworld.models import load_model, resolve_targets
    from cubeworld.models.lora import wrapped_modules

    b = load_model(tiny_model)
    targets = resolve_targets(b.model)
    model = get_peft_model(b.model, LoraConfig(r=4, target_modules=targets.modules))
    wrapped = sorted(wrapped_modules(model))
    assert wrapped == sorted(targets.modules)
    assert "model.visual.patch_embed.proj" not in wrapped
    assert not any("merger" in n or "lm_head" in n for n in wrapped)
    vision = [n for n in wrapped if ".visual.blocks." in n]
    text = [n for n in wrapped if ".language_model.layers." in n]
    assert len(vision) == 2 * 4 and len(text) == 2 * 7 and len(wrapped) == 22
    assert (targets.vision, targets.decoder, targets.other) == (8, 14, 0)


def test_loss_mask_covers_exactly_the_answer_token(tiny_model, colour_set):
    import torch

    from cubeworld.formats.sets import load_set
    from cubeworld.models import load_model
    from cubeworld.models.inputs import IGNORE_INDEX, encode_prompts, encode_training, example_of

    b = load_model(tiny_model)
    s = load_set(colour_set("set-m", n=3, domain="pyramid"))
    t = load_set(colour_set("set-n", n=2))
    items = [example_of(s.root, r, r.falls) for r in s.rows] + [example_of(t.root, r, r.falls) for r in t.rows]
    enc = encode_training(b.processor, items, b.yes_id, b.no_id)
    prompts = encode_prompts(b.processor, items)
    labels = enc["labels"]
    trained = labels != IGNORE_INDEX
    assert trained.sum(dim=1).tolist() == [1] * len(items)  # one position per row ...
    assert trained[:, -1].all()  # ... the last one: the answer after the generation prompt
    expected = torch.tensor([b.yes_id if it.label else b.no_id for it in items])
    assert torch.equal(labels[:, -1], expected) and torch.equal(enc["input_ids"][:, -1], expected)
    assert torch.equal(enc["input_ids"][:, :-1], prompts["input_ids"])  # scored == trained prompt
    tok = b.processor.tokenizer
    assert [tok.decode([i]) for i in labels[:, -1].tolist()] == ["Yes", "No", "Yes", "Yes", "No"]
    # The loss the model computes is the cross-entropy of the answer token alone.
    with torch.no_grad():
        out = b.model(**enc)
        logits = out.logits[:, -2].float()
    manual = torch.nn.functional.cross_entropy(logits, expected)
    assert out.loss.item() == pytest.approx(manual.item(), rel=1e-5)


def test_mixture_draws_the_proportions(tiny_model, colour_set, tmp_path):
    from cubeworld.models import MixSource
    from cubeworld.trainer.data import build_training_data

    a = colour_set("towers", n=20, seed=1)
    p = colour_set("pyramids", n=20, seed=2, domain="pyramid", prefix="pyr")
    cfg = _config(tiny_model, a, tmp_path / "run", mix=[MixSource(str(p), 0.25)], max_items=16)
    data = build_training_data(cfg)
    ids = [it.stimulus_id for it in data.items]
    assert sum(i.startswith("tower") for i in ids) == 12 and sum(i.startswith("pyr") for i in ids) == 4
    assert len(set(ids)) == 16
    assert [it.stimulus_id for it in build_training_data(cfg).items] == ids  # deterministic
    other = build_training_data(dataclasses.replace(cfg, seed=1))
    assert sorted(it.stimulus_id for it in other.items) != sorted(ids)  # the seed draws the subset
    # A set smaller than its share gives all it has, and the summary says so.
    with pytest.warns(UserWarning, match="fewer than its share"):
        big = build_training_data(_config(tiny_model, a, tmp_path / "r2", mix=[MixSource(str(p), 0.5)], max_items=60))
    assert [(s["wanted"], s["drawn"]) for s in big.summary["sources"]] == [(30, 20), (30, 20)]
    assert MixSource.parse(f"{p}:0.5") == MixSource(str(p), 0.5)
    with pytest.raises(CubeworldError, match="DIR:FRACTION"):
        MixSource.parse("nofraction")


def test_human_labels_replace_the_ground_truth(tiny_model, colour_set, tmp_path):
    from cubeworld.models import LabelsError
    from cubeworld.trainer.data import build_training_data

    s = colour_set("towers", n=6, seed=1)
    ids = [f"tower-s1-{i:05d}" for i in range(6)]  # even = falls (ground truth Yes)
    rows = [
        (ids[0], "p1", 0),
        (ids[0], "p2", 0),
        (ids[0], "p3", 1),  # majority No vs truth Yes
        (ids[1], "p1", 1),  # Yes vs truth No
        (ids[2], "p1", 1),
        (ids[2], "p2", 0),  # tie: seeded coin
        (ids[3], "p1", 0),
    ]  # agrees with truth; ids[4], ids[5]: no response -> left out
    table = tmp_path / "human.csv"
    pd.DataFrame(rows, columns=["stimulus_id", "participant", "response"]).to_csv(table, index=False)
    data = build_training_data(_config(tiny_model, s, tmp_path / "run", labels=str(table)))
    got = {it.stimulus_id: it.label for it in data.items}
    assert set(got) == set(ids[:4])
    assert got[ids[0]] is False and got[ids[1]] is True and got[ids[3]] is False
    each = build_training_data(_config(tiny_model, s, tmp_path / "run", labels=str(table)), "each")
    assert len(each.items) == 7
    assert sorted(it.label for it in each.items if it.stimulus_id == ids[0]) == [False, False, True]
    pd.DataFrame([("tower-s9-00042", "p1", 1)], columns=["stimulus_id", "participant", "response"]).to_csv(
        tmp_path / "bad.csv", index=False
    )
    with pytest.raises(LabelsError, match="tower-s9-00042"):
        build_training_data(_config(tiny_model, s, tmp_path / "run", labels=str(tmp_path / "bad.csv")))


def test_learning_is_real(tiny_model, colour_set, tmp_path):
    """Full fine-tuning of the tiny model learns the colour task: held-out accuracy rises."""
    import time

    from cubeworld.models import finetune

    train = colour_set("train", n=48, seed=11)
    held_out = colour_set("held-out", n=32, seed=12, prefix="held")
    cfg = _config(
        tiny_model,
        train,
        tmp_path / "run",
        method="full",
        epochs=6,
        max_items=48,
        batch_size=8,
        lr=2e-3,
        warmup_steps=0,
        scheduler="constant",
        eval_sets=[str(held_out)],
        condition="colour",
    )
    start = time.monotonic()
    finetune(cfg)
    assert time.monotonic() - start < 60
    acc = {k: read_predictions(tmp_path / f"run/predictions/epoch-{k}/held-out.csv")["correct"].mean() for k in (0, 6)}
    assert acc[0] <= 0.65  # a random model is at chance on a balanced set
    assert acc[6] >= 0.9 and acc[6] - acc[0] >= 0.3
    df = read_predictions(tmp_path / "run/predictions/epoch-6/held-out.csv")
    assert set(df["epoch"]) == {6} and set(df["condition"]) == {"colour"}
    assert set(df["adapter"]) == {"run"} and set(df["seed"]) == {0}
    log = [json.loads(line) for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    epochs = [r["loss"] for r in log if r["record"] == "epoch"]
    assert len(epochs) == 6 and epochs[-1] < epochs[0]
    # A full checkpoint is itself a loadable model.
    from cubeworld.models import load_model

    assert load_model(tmp_path / "run/checkpoints/epoch-6").yes_id is not None


def test_resume_after_a_kill_gives_the_uninterrupted_result(tiny_model, colour_set, tmp_path, monkeypatch):
    from cubeworld.models import finetune, training
    from cubeworld.models import inputs as inputs_module

    train = colour_set("train", n=16, seed=5)
    ev = colour_set("ev", n=6, seed=6, prefix="ev")
    kw = dict(method="lora", epochs=3, max_items=16, batch_size=4, lr=5e-3, eval_sets=[str(ev)])
    finetune(_config(tiny_model, train, tmp_path / "straight", **kw))

    calls = {"n": 0}
    real = inputs_module.encode_training

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 6:  # second batch of epoch 2
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(training, "encode_training", dying)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        finetune(_config(tiny_model, train, killed, **kw))
    state = json.loads((killed / "state.json").read_text())
    assert state["last_epoch"] == 1 and not state["finished"]
    monkeypatch.setattr(training, "encode_training", real)
    finetune(_config(tiny_model, train, killed, **kw))
    state = json.loads((killed / "state.json").read_text())
    assert state["last_epoch"] == 3 and state["finished"]
    for k in (0, 1, 2, 3):
        a = read_predictions(tmp_path / f"straight/predictions/epoch-{k}/ev.csv")
        b = read_predictions(killed / f"predictions/epoch-{k}/ev.csv")
        assert len(b) == 6
        assert (a["p_yes"] - b["p_yes"]).abs().max() < 1e-5
    steps = [json.loads(x) for x in (killed / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["record"] == "step"] == list(range(1, 13))
    # A finished run called again does nothing (not even load the model).
    monkeypatch.setattr(training, "load_model", lambda *a, **k: pytest.fail("reloaded"))
    before = (killed / "state.json").read_bytes()
    finetune(_config(tiny_model, train, killed, **kw))
    assert (killed / "state.json").read_bytes() == before
    # Another config in the same folder is refused.
    from cubeworld.models import ModelsError

    with pytest.raises(ModelsError, match="seed"):
        finetune(_config(tiny_model, train, killed, **{**kw, "seed": 7}))


def test_methods_that_cannot_run_here(tiny_model, colour_set, tmp_path):
    import torch

    from cubeworld.models import BackendError, finetune

    train = colour_set("train", n=4)
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA"):
            finetune(_config(tiny_model, train, tmp_path / "u", backend="unsloth"))
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        with pytest.raises(BackendError, match="bitsandbytes"):
            finetune(_config(tiny_model, train, tmp_path / "q", method="qlora"))


def test_qlora_on_the_cpu(tiny_model, colour_set, tmp_path):
    """4-bit nf4 base + LoRA (the study's QLoRA), with epoch-0 scoring before training."""
    pytest.importorskip("bitsandbytes")
    from cubeworld.models import finetune, load_model

    train = colour_set("train", n=8, seed=3)
    run = tmp_path / "q"
    finetune(_config(tiny_model, train, run, method="qlora", device="cpu", epochs=1, lr=5e-3, eval_sets=[str(train)]))
    state = json.loads((run / "state.json").read_text())
    assert state["method"] == "qlora" and state["finished"]
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert all(r["loss"] == r["loss"] and r["loss"] > 0 for r in log)  # finite, no NaN
    for k in (0, 1):
        assert len(read_predictions(run / f"predictions/epoch-{k}/train.csv")) == 8
    b = load_model(tiny_model, adapter=run / "checkpoints/epoch-1", quantize="4bit", device="cpu")
    assert b.info["quantize"] == "4bit"


def test_settings_are_typed_and_checked_before_anything_is_written(tmp_path):
    """Every setting of a run is a typed field with its bounds: a bad value is one error
    naming the key, and a run with one writes nothing (issue 23, item 2)."""
    from cubeworld.models import FinetuneConfig, ModelsError, SftSettings, VlmScoring, finetune

    assert {"method", "target_modules", "lora_extra", "lora_exclude", "image_size", "max_pixels", "dtype"} <= {
        f.name for f in dataclasses.fields(SftSettings)
    }
    assert {f.name for f in dataclasses.fields(VlmScoring)} == {
        "batch_size",
        "mode",
        "max_new_tokens",
        "free_text",
        "image_size",
        "max_pixels",
        "quantize",
        "device",
        "dtype",
        "num_workers",
    }
    ok = {"method": "lora", "image_size": 448, "target_modules": ["q_proj"], "lora_extra": ["projector"]}
    cfg = FinetuneConfig.parse({"model": "m", "train": "t", "out": "o", **ok})
    assert FinetuneConfig.parse(cfg.to_plain()) == cfg and cfg.pixel_budget == 448 * 448
    assert cfg.target_modules == ("q_proj",) and cfg.lora_extra == ("projector",)
    for bad, match in (
        ({"image_size": 224, "max_pixels": 5000}, "not both"),
        ({"dtype": "float8"}, "dtype: expected one of"),
        ({"lora_extra": "projector"}, "lora_extra: expected a list"),
        ({"image_size": 0}, "image_size: must be at least 28"),
        ({"target_modules": ""}, "target_modules"),
        ({"lr": -1}, "lr: must be above 0"),
        ({"lr": float("nan")}, "lr: expected a finite number"),
        ({"max_items": 10**12}, "max_items: must be at most"),
        ({"learning_rate": 1}, "learning_rate: unknown setting"),
    ):
        with pytest.raises(ModelsError, match=match):
            FinetuneConfig.parse({"model": "m", "train": "t", "out": "o", **bad})
    out = tmp_path / "run"
    for lr in (-1.0, float("nan")):
        with pytest.raises(ModelsError, match="lr: "):
            finetune(FinetuneConfig(model="m", train="t", out=str(out), lr=lr))
    assert not out.exists()


def test_two_runs_and_a_resumed_one_save_identical_checkpoints(tiny_model, colour_set, tmp_path):
    """Checkpoints depend on the config alone (issue 23, item 13): two uninterrupted runs
    save identical files (RNG states included), and so does a run killed after epoch 1 and
    resumed (a reloaded processor saved again gained keys in tokenizer_config.json)."""
    import hashlib
    import random
    import shutil

    import numpy as np

    from cubeworld.models import finetune

    train = colour_set("train", n=4, seed=5, size=56)
    kw = dict(method="full", epochs=2, max_items=4, batch_size=4)
    runs = []
    for name in ("a", "b"):
        random.random(), np.random.random()  # another process starts from other global RNG states
        runs.append(finetune(_config(tiny_model, train, tmp_path / name, **kw)))
    cut = tmp_path / "cut"
    shutil.copytree(runs[0], cut)
    shutil.rmtree(cut / "checkpoints/epoch-2")
    state = json.loads((cut / "state.json").read_text())
    (cut / "state.json").write_text(json.dumps({**state, "last_epoch": 1, "finished": False}))
    runs.append(finetune(_config(tiny_model, train, cut, **kw)))

    def digest(run):
        files = sorted(p for p in (run / "checkpoints").rglob("*") if p.is_file())
        return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    a, b, c = (digest(r) for r in runs)
    assert len(a) > 6 and a == b == c
    states = [json.loads((r / "state.json").read_text()) for r in runs]
    for s in states:
        s.pop("updated")  # the one time stamp a run records
        s["config"].pop("out")
    assert states[0] == states[1] == states[2]


def test_lora_settings_for_a_run_that_trains_every_weight_are_refused(tiny_model, colour_set, tmp_path):
    """The tiny model on the CPU trains in full (method auto): LoRA targets given to it
    are refused before anything is written, never silently ignored (issue 23, item 13)."""
    from cubeworld.models import ModelsError, finetune

    train = colour_set("train", n=4)
    for given in ({"target_modules": "q_proj"}, {"lora_extra": ["merger"]}, {"method": "full", "lora_exclude": ["x"]}):
        with pytest.raises(ModelsError, match="LoRA settings, but this run trains every weight"):
            finetune(_config(tiny_model, train, tmp_path / "run", **given))
        assert not (tmp_path / "run").exists()
