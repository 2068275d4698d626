"""The family matrix: every tiny family loads like a checkpoint, scores batched as one by one,
learns the colour task with LoRA in one epoch, and reloads its adapter to the same P(Yes)."""

from __future__ import annotations

import json

import pytest
from models_helpers import FAMILIES, mixed_items

from cubeworld.formats.predictions import read_predictions

# family -> model class, processor class, image processor class, end-of-turn token, "Yes" token
FACTS = {
    "qwen2-vl": (
        "Qwen2VLForConditionalGeneration",
        "VideoFreeQwen2VLProcessor",
        "Qwen2VLImageProcessorPil",
        "<|im_end|>",
        "Yes",
    ),
    "qwen2.5-vl": (
        "Qwen2_5_VLForConditionalGeneration",
        "VideoFreeQwen2_5_VLProcessor",
        "Qwen2VLImageProcessorPil",
        "<|im_end|>",
        "Yes",
    ),
    "qwen3-vl": (
        "Qwen3VLForConditionalGeneration",
        "VideoFreeQwen3VLProcessor",
        "Qwen2VLImageProcessorPil",
        "<|im_end|>",
        "Yes",
    ),
    "smolvlm": (
        "Idefics3ForConditionalGeneration",
        "Idefics3Processor",
        "Idefics3ImageProcessorPil",
        "<end_of_utterance>",
        " Yes",
    ),
    "llava-onevision": (
        "LlavaOnevisionForConditionalGeneration",
        "VideoFreeLlavaOnevisionProcessor",
        "LlavaOnevisionImageProcessorPil",
        "<|im_end|>",
        "Yes",
    ),
    "gemma3": (
        "Gemma3ForConditionalGeneration",
        "Gemma3Processor",
        "Gemma3ImageProcessorPil",
        "<end_of_turn>",
        "Yes",
    ),
}
# family -> (vision block linears, decoder block linears) at the tiny size (2 + 2 layers)
LORA_COUNTS = {
    "qwen2-vl": (2 * 4, 2 * 7),
    "qwen2.5-vl": (2 * 5, 2 * 7),
    "qwen3-vl": (2 * 4, 2 * 7),
    "smolvlm": (2 * 6, 2 * 7),
    "llava-onevision": (2 * 6, 2 * 7),
    "gemma3": (2 * 6, 2 * 7),
}
# family -> the named extras of lora_targets.yaml, and how many linears each adds (Gemma 3's
# projector is a bare weight matrix: nothing to add)
EXTRAS = {
    "qwen2-vl": {"merger": 2},
    "qwen2.5-vl": {"merger": 2},
    "qwen3-vl": {"merger": 2, "deepstack": 2},
    "smolvlm": {"connector": 1},
    "llava-onevision": {"projector": 2},
    "gemma3": {},
}
# The real chat templates' rendering of the study's turn, up to the image placeholder.
PROMPT_STARTS = {
    "qwen2-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>",
    "qwen2.5-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|>",
    "qwen3-vl": "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>You are now viewing",
    "smolvlm": "<|im_start|>User:<image>You are now viewing",
    "llava-onevision": "<|im_start|>user\n<image>\nYou are now viewing",
    "gemma3": "<bos><start_of_turn>user\n<start_of_image>You are now viewing",
}
PROMPT_ENDS = {
    "qwen2-vl": "<|im_start|>assistant\n",
    "qwen2.5-vl": "<|im_start|>assistant\n",
    "qwen3-vl": "<|im_start|>assistant\n",
    "smolvlm": "<end_of_utterance>\nAssistant:",
    "llava-onevision": "<|im_start|>assistant\n",
    "gemma3": "<end_of_turn>\n<start_of_turn>model\n",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_family_reloads_like_a_checkpoint(family, tiny_of):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import cubeworld.models  # noqa: F401  (registers the video-free processors)
    from cubeworld.models import load_model
    from cubeworld.models.families import get_model_family
    from cubeworld.models.families.base import template
    from cubeworld.models.inputs import messages_for
    from cubeworld.stimuli.families import FAMILIES as STIMULUS_FAMILIES

    TOWER_PROMPT = STIMULUS_FAMILIES.get("tower").prompt

    folder = tiny_of(family)
    model_cls, proc_cls, image_cls, end_of_turn, yes = FACTS[family]
    model = AutoModelForImageTextToText.from_pretrained(folder)
    processor = AutoProcessor.from_pretrained(folder)
    assert (type(model).__name__, type(processor).__name__, type(processor.image_processor).__name__) == (
        model_cls,
        proc_cls,
        image_cls,
    )
    assert 300_000 < sum(p.numel() for p in model.parameters()) < 1_500_000
    assert json.loads((folder / "cubeworld_tiny.json").read_text())["family"] == family
    fam = get_model_family(family)
    assert model.config.model_type in fam.model_types
    assert processor.chat_template == template(
        fam.name.replace(".", "_").replace("-", "_") if family != "qwen2.5-vl" else "qwen2_vl"
    )
    text = processor.apply_chat_template(messages_for(TOWER_PROMPT), tokenize=False, add_generation_prompt=True)
    assert text.startswith(PROMPT_STARTS[family]) and text.endswith(PROMPT_ENDS[family])
    tok = processor.tokenizer
    assert tok.decode(tok(TOWER_PROMPT, add_special_tokens=False)["input_ids"]) == TOWER_PROMPT
    b = load_model(folder)
    assert b.family is fam and b.info["family"] == family
    assert tok.decode([b.yes_id]) == yes and tok.decode([b.no_id]) == yes.replace("Yes", "No")
    assert tok.convert_ids_to_tokens(list(b.answer.end_of_turn))[0] == end_of_turn


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_p_yes_equals_one_by_one(family, tiny_of, tmp_path):
    from cubeworld.models import load_model
    from cubeworld.models.scoring import score_items

    b = load_model(tiny_of(family))
    items = mixed_items(tmp_path)
    single = [score_items(b, [it])[0] for it in items]
    batched = score_items(b, items, batch_size=5)
    pairs = score_items(b, items, batch_size=2)
    assert all(0.0 < p < 1.0 for p in single)
    assert max(abs(x - y) for x, y in zip(single, batched)) < 1e-5
    assert max(abs(x - y) for x, y in zip(single, pairs)) < 1e-5
    assert len({round(p, 6) for p in single}) > 1  # the image and the prompt matter


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_learns_the_colour_task_and_the_adapter_reloads(family, tiny_of, colour_task, tmp_path):
    """One LoRA epoch on 32 colour images: held-out P(correct) from chance to >= 0.8 (accuracy >= 0.9); the
    saved adapter, reloaded on the base, gives the trained model's P(Yes)."""
    from cubeworld.models import FinetuneConfig, evaluate, finetune, load_model, resolve_targets

    train, held = colour_task
    run = tmp_path / "run"
    finetune(
        FinetuneConfig(
            model=str(tiny_of(family)),
            train=str(train),
            out=str(run),
            method="lora",
            epochs=1,
            max_items=32,
            batch_size=4,
            lr=5e-3,
            warmup_steps=0,
            scheduler="constant",
            eval_sets=[str(held)],
            progress=False,
        )
    )
    preds = {k: read_predictions(run / f"predictions/epoch-{k}/held-out.csv") for k in (0, 1)}
    acc = {k: df["correct"].mean() for k, df in preds.items()}
    # Mean P(correct answer): ~0.5 for a random model. Its accuracy alone can be anything,
    # since a colour signal that happens to straddle P(Yes) = 0.5 (the random Gemma 3:
    # red 0.57, blue 0.47) is "right" on every item without knowing the task.
    p_right = {k: df["p_yes"].where(df["falls"], 1 - df["p_yes"]).mean() for k, df in preds.items()}
    assert p_right[0] < 0.6 and acc[1] >= 0.9 and p_right[1] >= 0.8, (acc, p_right)
    state = json.loads((run / "state.json").read_text())
    eff = state["effective"]
    assert eff["family"] == family and eff["method"] == "lora" and eff["dtype"] == "float32"
    base = load_model(tiny_of(family))
    planned = resolve_targets(base.model)
    assert sorted(eff["lora_targets"]["modules"]) == sorted(planned.modules)
    assert eff["lora_targets"]["count"] == planned.count == sum(LORA_COUNTS[family])
    assert eff["trainable_parameters"] > 0
    # The adapter saved at epoch 1, loaded on the base model, scores like the trained model.
    trained = read_predictions(run / "predictions/epoch-1/held-out.csv").set_index("stimulus_id")
    again = read_predictions(
        evaluate(tiny_of(family), held, tmp_path / "again.csv", progress=False, adapter=run / "checkpoints/epoch-1")
    ).set_index("stimulus_id")
    assert (again["p_yes"] - trained.loc[again.index, "p_yes"]).abs().max() < 1e-5
    zero = read_predictions(run / "predictions/epoch-0/held-out.csv").set_index("stimulus_id")
    assert (again["p_yes"] - zero.loc[again.index, "p_yes"]).abs().max() > 0.1


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_targets_follow_the_architecture(family, tiny_of):
    from cubeworld.models import ModelsError, load_model, resolve_targets

    model = load_model(tiny_of(family)).model
    t = resolve_targets(model)
    assert (t.vision, t.decoder, t.other) == (*LORA_COUNTS[family], 0) and t.source == "auto"
    outside = ("patch_embed", "merger", "connector", "projector", "lm_head", "embed_tokens", "embeddings")
    assert not [n for n in t.modules if any(o in n for o in outside)]
    assert all(any(k in n for k in ("attn", "mlp")) for n in t.modules)
    for name, added in EXTRAS[family].items():
        with_extra = resolve_targets(model, extra=[name])
        assert with_extra.count == t.count + added and with_extra.other == added
    if len(EXTRAS[family]) > 1:  # extras add up
        both = resolve_targets(model, extra=list(EXTRAS[family]))
        assert both.other == sum(EXTRAS[family].values())
    no_mlp = resolve_targets(model, exclude=[r"\.mlp\."])
    assert 0 < no_mlp.count < t.count and not [n for n in no_mlp.modules if ".mlp." in n]
    named = ", ".join(sorted(EXTRAS[family])) or "none"
    with pytest.raises(ModelsError, match=rf"lora_extra 'nothing-like-this'.*named extras here: {named}\)"):
        resolve_targets(model, extra=["nothing-like-this"])
    given = resolve_targets(model, [t.modules[0].rsplit(".", 1)[-1]])  # a peft-style name list
    assert given.source == "given" and given.count >= 2


@pytest.mark.parametrize("family", FAMILIES)
def test_answer_split_into_pieces_is_refused(family, tmp_path):
    """A vocabulary without merges: every family's template discovery names the pieces."""
    from cubeworld.models import AnswerTokenError, build_tiny_model, load_model

    split = build_tiny_model(tmp_path / "split", family=family, vocab_size=270)
    with pytest.raises(AnswerTokenError, match=r"splits ' ?Yes' into \d+ tokens \["):
        load_model(split)


# family -> (default fed size, image_size 448 fed size) of a 448 x 448 image
# family -> (default fed size, image_size 448 fed size) of a 448 x 448 image; None: refused
IMAGE_SIZES = {
    "qwen2-vl": ("224x224", "448x448"),
    "qwen2.5-vl": ("224x224", "448x448"),
    "qwen3-vl": ("224x224", "448x448"),
    "smolvlm": ("224x224", "448x448"),
    "llava-onevision": ("448x448", "448x448"),
    "gemma3": ("224x224", None),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_image_size_is_mapped_by_each_family(family, tiny_of, tmp_path):
    """image_size N reaches the family's processor argument; the size reported as fed is the
    one the processor really produced."""
    from PIL import Image

    from cubeworld.models import BackendError, load_model
    from cubeworld.models.inputs import Example, encode_for_scoring
    from cubeworld.stimuli.families import FAMILIES as STIMULUS_FAMILIES

    TOWER_PROMPT = STIMULUS_FAMILIES.get("tower").prompt

    path = tmp_path / "big.png"
    Image.new("RGB", (448, 448), (200, 30, 30)).save(path)
    item = [Example("big", path, TOWER_PROMPT)]
    default, large = IMAGE_SIZES[family]
    for size, expected in ((None, default), (448, large)):
        if expected is None:  # a fixed-size encoder: another size is refused, naming its own
            with pytest.raises(BackendError, match=rf"fixed {default}.*give {default.split('x')[0]}"):
                load_model(tiny_of(family), image_size=size)
            continue
        b = load_model(tiny_of(family), image_size=size)
        enc = encode_for_scoring(b.processor, b.family, item)
        assert enc.fed_sizes == [expected]
        h, w = map(int, expected.split("x"))
        if "image_grid_thw" in enc.batch:  # Qwen: patches of 14 px (Qwen3-VL: 16 px)
            patch = b.processor.image_processor.patch_size
            assert enc.batch["image_grid_thw"][0, 1:].tolist() == [h // patch, w // patch]
        elif "pixel_attention_mask" in enc.batch:  # Idefics3: tiles, plus a global one if split
            tiles = (h // 224) * (w // 224)
            assert enc.batch["pixel_values"].shape[1] == (tiles + 1 if tiles > 1 else 1)
        elif "token_type_ids" in enc.batch:  # Gemma 3: one image at the encoder's size
            assert tuple(enc.batch["pixel_values"].shape) == (1, 3, h, w)
        else:  # LLaVA-OneVision: the grid's crops plus the base crop
            assert enc.batch["pixel_values"].shape[1] == (h // 224) * (w // 224) + 1
            assert b.model.config.image_grid_pinpoints == b.processor.image_processor.image_grid_pinpoints
        if size is not None:
            assert b.max_pixels <= 448 * 448
    small = load_model(tiny_of(family), image_size=224)
    assert small.max_pixels == 224 * 224
    from cubeworld.models.families import GENERIC  # an architecture no family covers

    with pytest.raises(BackendError, match="no known way to set its image size"):
        GENERIC.set_max_pixels(small.processor, small.model.config, 224 * 224)
    if family in ("smolvlm", "llava-onevision", "gemma3"):  # a budget below one tile / crop is refused
        with pytest.raises(BackendError, match="224"):
            load_model(tiny_of(family), image_size=112)


@pytest.mark.parametrize("family", ["smolvlm", "llava-onevision", "qwen3-vl", "gemma3"])
def test_qlora_on_the_cpu(family, tiny_of, colour_task, tmp_path):
    """4-bit nf4 base (bitsandbytes on the CPU) + LoRA for further families than Qwen2-VL
    (tests/models/test_models_training.py): trains, scores each epoch, reloads on 4 bit.
    Two epochs: scoring between epochs must not leave the 4-bit weights in bitsandbytes'
    CPU inference packing, which the next training step cannot use."""
    pytest.importorskip("bitsandbytes")
    from cubeworld.formats.sets import load_set
    from cubeworld.models import FinetuneConfig, finetune, load_model
    from cubeworld.models.inputs import example_of
    from cubeworld.models.scoring import score_items

    train, held = colour_task
    run = tmp_path / "q"
    finetune(
        FinetuneConfig(
            model=str(tiny_of(family)),
            train=str(train),
            out=str(run),
            method="qlora",
            device="cpu",
            epochs=2,
            max_items=16,
            batch_size=4,
            lr=5e-3,
            warmup_steps=0,
            eval_sets=[str(held)],
            progress=False,
        )
    )
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["effective"]["quantize"] == "4bit"
    assert state["effective"]["lora_targets"]["count"] == sum(LORA_COUNTS[family])
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert all(r["loss"] == r["loss"] and r["loss"] > 0 for r in log)  # finite, no NaN
    df = read_predictions(run / "predictions/epoch-2/held-out.csv")
    assert len(df) == 32 and set(df["quantize"]) == {"4bit"}
    b = load_model(tiny_of(family), adapter=run / "checkpoints/epoch-2", quantize="4bit", device="cpu")
    s = load_set(held)
    items = [example_of(s.root, r) for r in s.rows[:4]]
    reloaded = score_items(b, items, batch_size=4)
    expected = df.set_index("stimulus_id").loc[[it.stimulus_id for it in items], "p_yes"].tolist()
    assert max(abs(x - y) for x, y in zip(reloaded, expected)) < 1e-4


def test_the_newer_qwen_study_is_the_papers_grid_on_qwen2_5_and_qwen3():
    """studies/paper-qwen-next.yaml: the paper's conditions, sets, seeds and evaluation
    (compared with studies/paper.yaml, so the two cannot drift), on Qwen2.5-VL-7B and
    Qwen3-VL-8B; it loads into its grid of runs."""
    from pathlib import Path

    from cubeworld.experiments.config import load_config
    from cubeworld.experiments.plan import plan_runs

    studies = Path(__file__).resolve().parents[2] / "studies"
    paper, nxt = load_config(studies / "paper.yaml"), load_config(studies / "paper-qwen-next.yaml")
    assert [(m.name, m.source) for m in nxt.models] == [
        ("qwen2.5-vl-7b", "Qwen/Qwen2.5-VL-7B-Instruct"),
        ("qwen3-vl-8b", "Qwen/Qwen3-VL-8B-Instruct"),
    ]
    base = paper.models[0]  # the paper's settings: the study-wide ones, none of a model's own
    for m in nxt.models:
        assert (m.training, m.scoring, m.epochs, m.evaluate_each_epoch) == (
            base.training,
            base.scoring,
            base.epochs,
            base.evaluate_each_epoch,
        )
    assert nxt.conditions == paper.conditions and nxt.sets == paper.sets
    same = ("seeds", "epochs", "evaluate_each_epoch", "evaluation", "executor")
    assert [getattr(nxt, k) for k in same] == [getattr(paper, k) for k in same]
    runs = plan_runs(nxt)
    assert len(runs) == len(plan_runs(paper)) == 2 * (1 + 9 * 3)
    assert {r.model for r in runs} == {"qwen2.5-vl-7b", "qwen3-vl-8b"}
    assert {r.run_id.split("/", 1)[1] for r in runs if r.model == "qwen3-vl-8b"} == {
        r.run_id.split("/", 1)[1] for r in plan_runs(paper) if r.model == "qwen2-vl-7b"
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_grpo_runs_on_every_family(family, tiny_of, colour_task, tmp_path):
    """One GRPO epoch (TRL's GRPOTrainer, 2 steps of 2 items x 2 completions) per family; the
    adapter it saves loads on the base model."""
    from cubeworld.models import FinetuneConfig, finetune, load_model

    train, _ = colour_task
    run = finetune(
        FinetuneConfig(
            model=str(tiny_of(family)),
            train=str(train),
            out=str(tmp_path / "run"),
            method="grpo",
            epochs=1,
            max_items=4,
            batch_size=2,
            num_generations=2,
            max_completion_tokens=2,
            progress=False,
        )
    )
    steps = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"step"' in x]
    steps = [s for s in steps if s["record"] == "step"]
    assert len(steps) == 2 and all("reward" in s and "extraction_failed" in s for s in steps)
    state = json.loads((run / "state.json").read_text())
    assert state["finished"] and state["effective"]["family"] == family and state["grpo"]["adapter"] == "lora"
    assert load_model(tiny_of(family), adapter=run / "checkpoints/epoch-1").yes_id is not None
