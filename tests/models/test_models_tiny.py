"""The tiny model loads like a real checkpoint; Yes/No scoring is sound and exact."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cubeworld.formats.answers import NO, YES
from cubeworld.stimuli.families import get_family

TOWER_PROMPT, PYRAMID_PROMPT = get_family("tower").prompt, get_family("pyramid").prompt


def _items(tmp_path: Path):
    """Items of different prompt lengths and image sizes, so a batch needs padding."""
    from PIL import Image

    from cubeworld.models.inputs import Example

    items = []
    for i, (size, prompt) in enumerate(
        [
            ((112, 112), TOWER_PROMPT),
            ((168, 112), PYRAMID_PROMPT),
            ((112, 112), PYRAMID_PROMPT),
            ((224, 168), TOWER_PROMPT),
            ((140, 140), TOWER_PROMPT),
        ]
    ):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", size, (40 * i, 200 - 30 * i, 90)).save(path)
        items.append(Example(f"s{i}", path, prompt))
    return items


def test_tiny_model_loads_through_auto_classes(tiny_model):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import cubeworld.models  # noqa: F401  (registers the video-free processor)

    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    processor = AutoProcessor.from_pretrained(tiny_model)
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert type(processor.image_processor).__name__ == "Qwen2VLImageProcessorPil"
    assert processor.chat_template and "<|im_start|>assistant" in processor.chat_template
    n = sum(p.numel() for p in model.parameters())
    assert 300_000 < n < 1_500_000


def test_same_seed_same_weights(tmp_path, tiny_model):
    import torch
    from safetensors.torch import load_file

    from cubeworld.models import build_tiny_model

    again = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    a, b, c = (load_file(p / "model.safetensors") for p in (tiny_model, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    from cubeworld.models import ModelsError

    with pytest.raises(ModelsError, match="not empty"):
        build_tiny_model(again)


def test_answer_tokens_are_the_templates_yes_and_no(tiny_model):
    from cubeworld.models import load_model

    b = load_model(tiny_model)
    tok = b.processor.tokenizer
    assert tok.decode([b.yes_id]) == YES and tok.decode([b.no_id]) == NO
    assert tok.convert_ids_to_tokens(list(b.answer.end_of_turn))[0] == "<|im_end|>"
    assert b.info["max_pixels"] == 224 * 224


def test_p_yes_batched_equals_single_and_is_deterministic(tiny_model, tmp_path):
    from cubeworld.models import load_model
    from cubeworld.models.scoring import score_items

    b = load_model(tiny_model)
    items = _items(tmp_path)
    single = [score_items(b, [it])[0] for it in items]
    batched = score_items(b, items, batch_size=5)
    again = score_items(b, items, batch_size=2)
    assert all(0.0 < p < 1.0 for p in single)
    assert max(abs(x - y) for x, y in zip(single, batched)) < 1e-5
    assert max(abs(x - y) for x, y in zip(batched, again)) < 1e-5
    assert len({round(p, 6) for p in single}) > 1  # the image and prompt matter


def test_p_yes_is_softmax_of_the_two_logits(tiny_model, tmp_path):
    import torch

    from cubeworld.models import load_model
    from cubeworld.models.inputs import encode_prompts
    from cubeworld.models.scoring import score_items

    b = load_model(tiny_model)
    item = _items(tmp_path)[:1]
    with torch.no_grad():
        logits = b.model(**encode_prompts(b.processor, item)).logits[0, -1]
    logp = torch.log_softmax(logits, -1)
    expected = math.exp(logp[b.yes_id]) / (math.exp(logp[b.yes_id]) + math.exp(logp[b.no_id]))
    assert score_items(b, item)[0] == pytest.approx(expected, abs=1e-6)


def test_max_pixels_sets_the_image_resolution(tiny_model, tmp_path):
    from cubeworld.models import load_model
    from cubeworld.models.inputs import encode_prompts

    items = _items(tmp_path)[3:4]  # 224 x 168
    full = load_model(tiny_model)
    small = load_model(tiny_model, max_pixels=112 * 112)
    g_full = encode_prompts(full.processor, items)["image_grid_thw"][0].tolist()
    g_small = encode_prompts(small.processor, items)["image_grid_thw"][0].tolist()
    assert g_full[1] * g_full[2] * 14 * 14 <= 224 * 224
    assert g_small[1] * g_small[2] * 14 * 14 <= 112 * 112 < g_full[1] * g_full[2] * 14 * 14
    assert small.max_pixels == 112 * 112


def test_tokenizer_that_splits_yes_is_refused(tmp_path):
    from cubeworld.models import AnswerTokenError, build_tiny_model, load_model

    # A byte-level vocabulary without merges: "Yes" becomes three tokens.
    split = build_tiny_model(tmp_path / "split", vocab_size=270)
    with pytest.raises(AnswerTokenError, match=r"splits 'Yes' into 3 tokens"):
        load_model(split)


def test_unknown_models_are_clear_errors(tmp_path, monkeypatch):
    from cubeworld.models import ModelNotFoundError, load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="no such folder"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        load_model(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="'nobody-xyz/no-such-vlm'"):
        load_model("nobody-xyz/no-such-vlm")
