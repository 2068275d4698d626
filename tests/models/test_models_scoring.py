"""`evaluate`: the prediction table, resuming, Parquet, free text, adapters, bad sets."""

from __future__ import annotations

import pytest

from cubeworld.formats.predictions import PREDICTION_COLUMNS, read_predictions


def test_evaluate_writes_the_prediction_table(tiny_model, colour_set, tmp_path):
    from cubeworld.models import evaluate

    a, b = colour_set("set-a", n=6, seed=1), colour_set("set-b", n=4, seed=2, domain="pyramid")
    out = evaluate(
        tiny_model, [a, b], tmp_path / "p.csv", batch_size=4, condition="zero-shot", seed=3, epoch=0, progress=False
    )
    df = read_predictions(out)
    assert list(df.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    assert len(df) == 10 and set(df["set"]) == {"set-a", "set-b"}
    assert df["p_yes"].between(0, 1, inclusive="neither").all()
    assert (df["answer"] == df["p_yes"].map(lambda p: "Yes" if p >= 0.5 else "No")).all()
    assert (df["correct"] == (df["answer"] == df["falls"].map({True: "Yes", False: "No"}))).all()
    assert set(df["condition"]) == {"zero-shot"} and set(df["seed"]) == {3}
    assert set(df["model"]) == {str(tiny_model)} and set(df["adapter"]) == {""}
    assert set(df.loc[df["set"] == "set-b", "domain"]) == {"pyramid"}
    assert set(df["max_pixels"]) == {224 * 224}


def test_evaluate_resumes_without_duplicates(tiny_model, colour_set, tmp_path, monkeypatch):
    from cubeworld.models import evaluate, scoring

    s = colour_set("set-r", n=8)
    out = tmp_path / "p.csv"
    full = read_predictions(evaluate(tiny_model, s, tmp_path / "ref.csv", progress=False))
    evaluate(tiny_model, s, out, progress=False)
    # Simulate a kill: keep the header and 3 rows, plus a torn fourth line.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:4]) + "\n" + lines[4][:17])
    evaluate(tiny_model, s, out, progress=False)
    df = read_predictions(out)
    assert len(df) == 8 and df["stimulus_id"].is_unique
    merged = df.merge(full, on="stimulus_id")
    assert (merged["p_yes_x"] - merged["p_yes_y"]).abs().max() < 1e-6
    before = out.read_bytes()
    monkeypatch.setattr(scoring, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    evaluate(tiny_model, s, out, progress=False)  # complete: nothing to add, no model loaded
    assert out.read_bytes() == before


def test_evaluate_parquet_and_free_text(tiny_model, colour_set, tmp_path):
    from cubeworld.models import evaluate

    s = colour_set("set-q", n=3)
    out = evaluate(tiny_model, s, tmp_path / "p.parquet", free_text=True, progress=False)
    df = read_predictions(out)
    assert out.suffix == ".parquet" and len(df) == 3
    assert "free_text" in df.columns and df["free_text"].map(lambda t: isinstance(t, str)).all()


def test_set_without_images_is_a_clear_error(tiny_model, colour_set, tmp_path):
    from cubeworld.formats.sets import SetFormatError
    from cubeworld.models import evaluate

    s = colour_set("set-x", n=2)
    for png in (s / "images").glob("*.png"):
        png.unlink()
    with pytest.raises(SetFormatError, match="does not exist"):
        evaluate(tiny_model, s, tmp_path / "p.csv", progress=False)
    assert not (tmp_path / "p.csv").exists()


def test_adapter_save_and_load_gives_the_same_p_yes(tiny_model, colour_set, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from cubeworld.formats.sets import load_set
    from cubeworld.hyperparameters import LORA_ALPHA, LORA_R
    from cubeworld.models import load_model, resolve_targets
    from cubeworld.models.inputs import encode_training, example_of
    from cubeworld.models.scoring import score_items

    s = load_set(colour_set("set-l", n=4))
    items = [example_of(s.root, r, r.falls) for r in s.rows]
    b = load_model(tiny_model)
    torch.manual_seed(0)
    b.model = get_peft_model(
        b.model,
        LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=resolve_targets(b.model).modules),
    )
    opt = torch.optim.AdamW([p for p in b.model.parameters() if p.requires_grad], lr=1e-2)
    b.model.train()
    for _ in range(3):  # a few steps, so the adapter is not the zero init
        loss = b.model(**encode_training(b.processor, items, b.yes_id, b.no_id)).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    b.model.eval()
    in_memory = score_items(b, items)
    b.model.save_pretrained(tmp_path / "adapter")
    loaded = load_model(tiny_model, adapter=tmp_path / "adapter")
    base = load_model(tiny_model)
    assert loaded.adapter == str(tmp_path / "adapter")
    assert max(abs(x - y) for x, y in zip(in_memory, score_items(loaded, items))) < 1e-6
    assert max(abs(x - y) for x, y in zip(in_memory, score_items(base, items))) > 1e-4


def test_bad_adapter_folder(tiny_model, tmp_path):
    from cubeworld.models import ModelNotFoundError, load_model

    (tmp_path / "adapter").mkdir()
    with pytest.raises(ModelNotFoundError, match="adapter_config.json"):
        load_model(tiny_model, adapter=tmp_path / "adapter")


def test_prefetch_workers_give_the_same_table(tiny_model, colour_set, tmp_path):
    from cubeworld.models import evaluate

    s = colour_set("set-w", n=6)
    a = read_predictions(evaluate(tiny_model, s, tmp_path / "a.csv", batch_size=2, progress=False))
    b = read_predictions(evaluate(tiny_model, s, tmp_path / "b.csv", batch_size=2, progress=False, num_workers=1))
    assert list(a["stimulus_id"]) == list(b["stimulus_id"])
    assert (a["p_yes"] - b["p_yes"]).abs().max() < 1e-6
