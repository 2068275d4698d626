"""Fine-tuning: the loss mask, labels and mixtures, learning, checkpoints and resuming."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cubeworld.formats.predictions import read_predictions


def _config(tiny_model, train, out, **kw):
    from cubeworld.models import FinetuneConfig

    base = dict(
        model=str(tiny_model), train=str(train), out=str(out), epochs=1, max_items=8, batch_size=4, progress=False
    )
    base.update(kw)
    return FinetuneConfig(**base)


def test_defaults_come_from_the_yaml(tiny_model, tmp_path):
    import yaml

    from cubeworld.models import DEFAULTS, FinetuneConfig
    from cubeworld.models.config import DEFAULTS_FILE

    study = yaml.safe_load(DEFAULTS_FILE.read_text())["finetune"]
    assert (study["lora_r"], study["lora_alpha"], study["lr"], study["epochs"], study["max_items"]) == (
        16,
        16,
        2e-4,
        10,
        10000,
    )
    assert DEFAULTS["seeds"] == [0, 1, 2]
    c = FinetuneConfig(model="m", train="t", out="o")
    assert (c.lora_r, c.lora_alpha, c.lr, c.epochs, c.max_items) == (16, 16, 2e-4, 10, 10000)
    assert FinetuneConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="method"):
        FinetuneConfig(model="m", train="t", out="o", method="qlora4")


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
    from cubeworld.models import FinetuneConfig, MixSource
    from cubeworld.models.data import build_training_data

    a = colour_set("towers", n=20, seed=1)
    p = colour_set("pyramids", n=20, seed=2, domain="pyramid", prefix="pyr")
    cfg = _config(tiny_model, a, tmp_path / "run", mix=[MixSource(str(p), 0.25)], max_items=16)
    data = build_training_data(cfg)
    ids = [it.stimulus_id for it in data.items]
    assert sum(i.startswith("tower") for i in ids) == 12 and sum(i.startswith("pyr") for i in ids) == 4
    assert len(set(ids)) == 16
    assert [it.stimulus_id for it in build_training_data(cfg).items] == ids  # deterministic
    other = build_training_data(FinetuneConfig(**{**cfg.to_dict(), "seed": 1}))
    assert sorted(it.stimulus_id for it in other.items) != sorted(ids)  # the seed draws the subset
    # A set smaller than its share gives all it has, and the summary says so.
    with pytest.warns(UserWarning, match="fewer than its share"):
        big = build_training_data(_config(tiny_model, a, tmp_path / "r2", mix=[MixSource(str(p), 0.5)], max_items=60))
    assert [(s["wanted"], s["drawn"]) for s in big.summary["sources"]] == [(30, 20), (30, 20)]
    assert MixSource.parse(f"{p}:0.5") == MixSource(str(p), 0.5)
    with pytest.raises(ValueError, match="DIR:FRACTION"):
        MixSource.parse("nofraction")


def test_human_labels_replace_the_ground_truth(tiny_model, colour_set, tmp_path):
    from cubeworld.models import LabelsError
    from cubeworld.models.data import build_training_data

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
    each = build_training_data(_config(tiny_model, s, tmp_path / "run", labels=str(table), label_policy="each"))
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
    epochs = [r["loss"] for r in log if r["kind"] == "epoch"]
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
    assert [r["step"] for r in steps if r["kind"] == "step"] == list(range(1, 13))
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


def test_per_model_overrides_name_every_key(tmp_path):
    """A study's per-model `training:` may set any FinetuneConfig field and `scoring:` any
    evaluate() keyword; an unknown key names the file and the key."""
    import dataclasses

    from cubeworld.models import FinetuneConfig, ModelsError, check_overrides
    from cubeworld.models.overrides import scoring_keys, training_keys

    assert set(training_keys()) == {f.name for f in dataclasses.fields(FinetuneConfig)}
    assert {
        "image_size",
        "max_pixels",
        "target_modules",
        "lora_extra",
        "lora_exclude",
        "dtype",
        "batch_size",
        "method",
    } <= set(training_keys())
    assert {"batch_size", "image_size", "max_pixels", "dtype", "quantize", "num_workers", "free_text"} <= set(
        scoring_keys()
    )
    ok = {"method": "lora", "image_size": 448, "target_modules": ["q_proj"], "lora_extra": ["projector"]}
    assert check_overrides("training", ok, "s.yaml: models[0].training") == ok
    assert check_overrides("scoring", {"batch_size": 2, "dtype": "bfloat16"}, "w") == {
        "batch_size": 2,
        "dtype": "bfloat16",
    }
    with pytest.raises(ModelsError, match=r"^s\.yaml: models\[1\]\.training: unknown training key 'learning_rate'"):
        check_overrides("training", {"learning_rate": 1}, "s.yaml: models[1].training")
    with pytest.raises(ModelsError, match=r"s\.yaml: models\[1\]\.scoring: unknown scoring key 'imagesize'"):
        check_overrides("scoring", {"imagesize": 1}, "s.yaml: models[1].scoring")
    cfg = FinetuneConfig(model="m", train="t", out="o", **ok)
    assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg and cfg.pixel_budget == 448 * 448
    for bad, match in (
        ({"image_size": 224, "max_pixels": 5000}, "not both"),
        ({"dtype": "float8"}, "dtype"),
        ({"lora_extra": "projector"}, "lora_extra"),
        ({"image_size": 0}, "image_size"),
        ({"target_modules": ""}, "target_modules"),
    ):
        with pytest.raises(ModelsError, match=match):
            FinetuneConfig(model="m", train="t", out="o", **bad)
