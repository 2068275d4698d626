"""Activation extraction for probes: every family's points, checked against a direct forward
pass; batched as one by one; float16 memory-mapped cache that resumes after a kill."""

from __future__ import annotations

import json

import numpy as np
import pytest
from models_helpers import FAMILIES, write_colour_set

# family -> the points of its tiny model (2 vision blocks, its projector(s), 2 decoder layers)
POINTS = {
    family: ["vision.0", "vision.1", "projector"]
    + (["deepstack.0"] if family == "qwen3-vl" else [])
    + ["decoder.0", "decoder.1"]
    for family in FAMILIES
}


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory):
    """Two tiny colour sets of different image sizes, so one batch mixes image-token counts."""
    root = tmp_path_factory.mktemp("act-sets")
    return [
        write_colour_set(root / "a", 3, seed=21, name="a", size=112, prefix="a"),
        write_colour_set(root / "b", 3, seed=22, name="b", size=168, prefix="b"),
    ]


def _f32(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_activations_equal_a_direct_forward_pass(family, tiny_of, small_sets, tmp_path):
    """Decoder points equal output_hidden_states (answer position and image-token mean; the
    last layer through the final norm); every point of every stage is cached; a batch of
    mixed image sizes gives each item what it gets alone."""
    import torch

    from cubeworld.formats.sets import load_set
    from cubeworld.models import load_model
    from cubeworld.models.activations import extract_activations, list_points, load_activations
    from cubeworld.models.inputs import encode_prompts, example_of

    b = load_model(tiny_of(family))
    points = list_points(b)
    assert [p.name for p in points] == POINTS[family]
    assert {p.stage for p in points} == {"vision", "projector", "decoder"}
    acts = load_activations(extract_activations(b, small_sets, None, tmp_path / "b4", batch_size=4, progress=False))
    one = load_activations(extract_activations(b, small_sets, "all", tmp_path / "b1", batch_size=1, progress=False))
    assert acts.items == [("a", f"a-{i:05d}") for i in range(3)] + [("b", f"b-{i:05d}") for i in range(3)]
    pools = {"vision": ["image"], "projector": ["image"], "decoder": ["answer", "image"]}
    assert sorted(acts.keys) == sorted(f"{p.name}@{pool}" for p in points for pool in pools[p.stage])
    for key in acts.keys:
        a, c = _f32(acts.array(*key.split("@"))), _f32(one.array(*key.split("@")))
        assert a.shape[0] == 6 and acts.array(*key.split("@")).dtype == np.float16
        assert np.abs(a - c).max() <= 2e-3 * max(1.0, np.abs(c).max()), key  # batched = one by one
        assert np.abs(a[0] - a[3]).max() > 1e-3, key  # the image matters at every point
    assert not any(acts.index["clipped"].values()) and not any(acts.index["nonfinite"].values())

    rows = [(s, r) for s in map(load_set, small_sets) for r in s.rows]
    enc = encode_prompts(b.processor, [example_of(s.root, r) for s, r in rows])
    with torch.inference_mode():
        hidden = b.model(**enc, output_hidden_states=True).hidden_states
    mask = (enc["input_ids"] == b.model.config.image_token_id).float()
    final_norm = b.model.get_decoder().norm
    n_layers = len(hidden) - 1
    for i in range(n_layers):
        answer = _f32(acts.array(f"decoder.{i}", "answer"))
        image = _f32(acts.array(f"decoder.{i}", "image"))
        if i == n_layers - 1:  # hidden_states[-1] is after the final norm
            with torch.inference_mode():
                answer = final_norm(torch.from_numpy(answer)).numpy()
            ref_image = None
        else:
            ref_image = ((hidden[i + 1] * mask[..., None]).sum(1) / mask.sum(1)[:, None]).numpy()
        ref_answer = hidden[i + 1][:, -1, :].numpy()
        assert np.abs(answer - ref_answer).max() <= 2e-3 * np.abs(ref_answer).max(), (family, i)
        if ref_image is not None:
            assert np.abs(image - ref_image).max() <= 2e-3 * np.abs(ref_image).max(), (family, i)


def test_resume_after_a_kill_equals_an_uninterrupted_extraction(tiny_of, small_sets, tmp_path, monkeypatch):
    """A kill mid-way leaves `done` rows final; rows past it (torn writes) are redone; the
    finished cache equals one made in one go and is reused without loading the model."""
    from cubeworld.models import activations as act
    from cubeworld.models import load_model

    b = load_model(tiny_of("qwen2-vl"))
    points = ["vision.1", "projector", "decoder"]
    straight = act.load_activations(
        act.extract_activations(b, small_sets, points, tmp_path / "straight", batch_size=2, progress=False)
    )

    real = act._encode_chunk
    calls = {"n": 0}

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the third batch
            raise KeyboardInterrupt("simulated kill")
        return real(*a, **k)

    monkeypatch.setattr(act, "_encode_chunk", dying)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        act.extract_activations(b, small_sets, points, killed, batch_size=2, progress=False)
    progress = json.loads((killed / act.PROGRESS_FILE).read_text())
    assert progress["done"] == 4 and not progress["complete"]
    with pytest.raises(act.ActivationsError, match="stopped after 4 of 6 items"):
        act.load_activations(killed)
    torn = np.lib.format.open_memmap(killed / "decoder.0@answer.npy", mode="r+")
    torn[4:] = 7.0  # a write the kill tore: past `done`, so never trusted
    torn.flush()
    del torn
    monkeypatch.setattr(act, "_encode_chunk", real)
    act.extract_activations(b, small_sets, points, killed, batch_size=2, progress=False)
    resumed = act.load_activations(killed)
    assert resumed.keys == straight.keys and resumed.items == straight.items
    for key in straight.keys:
        assert np.array_equal(resumed.array(*key.split("@")), straight.array(*key.split("@"))), key

    # Complete: called again, it returns at once (no model load), even given by path.
    monkeypatch.setattr(act, "load_model", lambda *a, **k: pytest.fail("reloaded"))
    before = [(killed / f).read_bytes() for f in (act.INDEX_FILE, act.PROGRESS_FILE)]
    act.extract_activations(b.name, small_sets, points, killed, progress=False)
    assert [(killed / f).read_bytes() for f in (act.INDEX_FILE, act.PROGRESS_FILE)] == before
    # Another extraction in the same folder is refused, naming what differs.
    with pytest.raises(act.ActivationsError, match="points_requested"):
        act.extract_activations(b, small_sets, ["decoder.0"], killed, progress=False)
    with pytest.raises(act.ActivationsError, match="sets="):
        act.extract_activations(b, small_sets[:1], points, killed, progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(act.ActivationsError, match="not an activations folder"):
        act.extract_activations(b, small_sets, points, tmp_path / "other", progress=False)


def test_points_are_checked_and_an_adapter_is_read_through(tiny_of, small_sets, tmp_path):
    """Unknown points name the model's points; a peft adapter's model is hooked underneath
    and changes the activations; an architecture no family covers keeps its decoder points."""
    from peft import LoraConfig, get_peft_model

    from cubeworld.models import load_model
    from cubeworld.models.activations import ActivationsError, extract_activations, load_activations, select_points
    from cubeworld.models.families import GENERIC

    b = load_model(tiny_of("gemma3"))
    with pytest.raises(ActivationsError, match=r"unknown activation point 'decoder.9'.*decoder.1 \(or a stage"):
        extract_activations(b, small_sets, ["decoder.9"], tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()
    assert [p.name for p in select_points(GENERIC.activation_points(b.model), None)] == ["decoder.0", "decoder.1"]

    adapter = tmp_path / "adapter"
    peft_model = get_peft_model(b.model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(adapter)
    plain = load_activations(
        extract_activations(tiny_of("gemma3"), small_sets, "decoder", tmp_path / "p", progress=False)
    )
    tuned = load_activations(
        extract_activations(tiny_of("gemma3"), small_sets, "decoder", tmp_path / "t", adapter=adapter, progress=False)
    )
    assert tuned.index["adapter"] == str(adapter) and plain.index["adapter"] == ""
    assert tuned.points == ["decoder.0", "decoder.1"]
    diff = np.abs(_f32(tuned.array("decoder.1")) - _f32(plain.array("decoder.1"))).max()
    assert diff > 1e-3
