"""What a CUDA machine checks that the CPU test suite cannot: 4-bit QLoRA on the GPU, bf16
scoring, and the scoring speed-up on a model of the study's size.

    python benchmarks/gpu_check.py [--device cuda] [--shape 2b] [--out results.json]

Needs no hub and no download: the models are the tiny Qwen2-VL the toolkit builds itself
and, for the speed figures, a *randomly initialised* Qwen2-VL with the layer sizes of
Qwen2-VL-2B-Instruct (same classes, same compute per image; its answers mean nothing).

1. QLoRA on the GPU: the tiny model loaded in 4 bit (bitsandbytes nf4), LoRA r=16 trained
   with `finetune` on a colour task (red = Yes, blue = No), held-out accuracy per epoch;
   the same with plain LoRA in bf16; a second call of a finished run does nothing.
2. Scoring on the GPU: batched vs one-by-one P(Yes) in bf16 and float32, and the free-text
   column.
3. Speed at the study's size: the predecessor's per-image `generate` + parse loop vs
   batched Yes/No scoring at 448 px, and QLoRA training steps on the 4-bit base.
4. Every tiny model family (`cubeworld.models.families`): QLoRA on the 4-bit base learns
   the colour task, and batched scoring in the default dtype (bf16 on CUDA) agrees with
   one-by-one scoring.

Each part prints its figures and a PASS/FAIL line; the JSON file holds them all.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Layer sizes of the study's models (from their config.json on the hub).
SHAPES = {
    "2b": dict(
        text=dict(
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            vocab_size=151936,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
        ),
        vision=dict(depth=32, embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4),
        tie_word_embeddings=True,
    ),
    "7b": dict(
        text=dict(
            hidden_size=3584,
            intermediate_size=18944,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            vocab_size=152064,
            max_position_embeddings=32768,
            rope_parameters={"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
        ),
        vision=dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4),
        tie_word_embeddings=False,
    ),
}


def _tiny_shape() -> dict:
    """The tiny model's own layer sizes, in the form of SHAPES (a CPU smoke test)."""
    from cubeworld.models.families.qwen2_vl import TEXT_CONFIG, VISION_CONFIG, VOCAB_SIZE

    return dict(text=dict(TEXT_CONFIG, vocab_size=VOCAB_SIZE), vision=dict(VISION_CONFIG), tie_word_embeddings=False)


RESULTS: dict = {}


def _colour_set_writer():
    """The models tests' colour-task set writer (tests/models/conftest.py)."""
    spec = importlib.util.spec_from_file_location("models_conftest", ROOT / "tests/models/conftest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.write_colour_set


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def part(name: str):
    def wrap(fn):
        def run(*a, **kw):
            print(f"\n== {name}", flush=True)
            start = time.perf_counter()
            try:
                ok, figures = fn(*a, **kw)
            except Exception as e:  # report and go on with the next part
                traceback.print_exc()
                ok, figures = False, {"error": f"{type(e).__name__}: {e}"}
            figures["seconds"] = round(time.perf_counter() - start, 1)
            RESULTS[name] = {"pass": ok, **figures}
            print(f"{'PASS' if ok else 'FAIL'} {name}: {json.dumps(figures)}", flush=True)

        return run

    return wrap


def _accuracy(run: Path, set_name: str, epochs: int) -> list[float]:
    from cubeworld.formats.predictions import read_predictions

    return [
        round(float(read_predictions(run / f"predictions/epoch-{k}/{set_name}.csv")["correct"].mean()), 3)
        for k in range(epochs + 1)
    ]


@part("qlora-tiny")
def check_qlora(tmp: Path, tiny: Path, device: str, train: Path, held: Path):
    import bitsandbytes as bnb

    from cubeworld.models import FinetuneConfig, finetune, load_model

    figures = {}
    ok = True
    for method, lr in (("qlora", 2e-3), ("lora", 2e-3)):
        cfg = FinetuneConfig(
            model=str(tiny),
            train=str(train),
            out=str(tmp / f"run-{method}"),
            method=method,
            backend="transformers",
            device=device,
            epochs=6,
            max_items=48,
            batch_size=8,
            lr=lr,
            warmup_steps=0,
            scheduler="constant",
            eval_sets=[str(held)],
            progress=False,
        )
        start = time.perf_counter()
        finetune(cfg)
        seconds = time.perf_counter() - start
        acc = _accuracy(Path(cfg.out), "held-out", 6)
        state = json.loads((Path(cfg.out) / "state.json").read_text())
        start = time.perf_counter()
        finetune(cfg)  # finished: must return at once, writing nothing
        again = time.perf_counter() - start
        figures[method] = {
            "accuracy_by_epoch": acc,
            "train_seconds": round(seconds, 1),
            "method": state["method"],
            "device": state["device"],
            "rerun_seconds": round(again, 2),
        }
        ok &= state["method"] == method and acc[-1] >= 0.9 and again < 1.0
    b = load_model(tiny, quantize="4bit", device=device)
    n4 = sum(isinstance(m, bnb.nn.Linear4bit) for m in b.model.modules())
    figures["linear4bit_modules"] = n4
    ok &= n4 > 0
    # The trained adapter loads on the 4-bit base and scores like the run's last epoch did.
    from cubeworld.models import evaluate

    table = evaluate(
        tiny,
        [held],
        tmp / "adapter-eval.csv",
        adapter=tmp / "run-qlora/checkpoints/epoch-6",
        quantize="4bit",
        device=device,
        progress=False,
    )
    import pandas as pd

    figures["adapter_reload_accuracy"] = round(float(pd.read_csv(table)["correct"].mean()), 3)
    ok &= figures["adapter_reload_accuracy"] >= 0.9
    return ok, figures


@part("scoring-tiny")
def check_scoring(tmp: Path, tiny: Path, device: str, held: Path):
    from cubeworld.formats.sets import load_set
    from cubeworld.models import evaluate, load_model, score_items
    from cubeworld.models.inputs import example_of

    s = load_set(held)
    items = [example_of(s.root, r) for r in s.rows]
    figures = {}
    ok = True
    for dtype, tol in (("float32", 1e-4), ("bfloat16", 2e-2)):
        b = load_model(tiny, device=device, dtype=dtype)
        one = score_items(b, items, 1)
        many = score_items(b, items, 8)
        diff = max(abs(x - y) for x, y in zip(one, many))
        flips = sum((x >= 0.5) != (y >= 0.5) for x, y in zip(one, many))
        figures[dtype] = {"max_abs_diff_batched_vs_one": float(f"{diff:.3g}"), "answer_flips": flips}
        ok &= diff <= tol
    table = evaluate(tiny, [held], tmp / "free.csv", device=device, free_text=True, progress=False)
    import pandas as pd

    df = pd.read_csv(table)
    figures["free_text_rows"] = int(df["free_text"].notna().sum())
    ok &= len(df) == len(items)
    return ok, figures


def build_shaped(tiny: Path, shape: str, device: str):
    """A random Qwen2-VL of the study's layer sizes, with the tiny model's processor."""
    import torch
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from cubeworld.models import load_model

    small = load_model(tiny, device="cpu")
    tiny_cfg = small.model.config
    spec = _tiny_shape() if shape == "tiny" else SHAPES[shape]
    text = dict(
        spec["text"],
        eos_token_id=tiny_cfg.text_config.eos_token_id,
        pad_token_id=tiny_cfg.text_config.pad_token_id,
        bos_token_id=None,
    )
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=dict(spec["vision"]),
        image_token_id=tiny_cfg.image_token_id,
        video_token_id=tiny_cfg.video_token_id,
        vision_start_token_id=tiny_cfg.vision_start_token_id,
        vision_end_token_id=tiny_cfg.vision_end_token_id,
        tie_word_embeddings=spec["tie_word_embeddings"],
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration(config).to(
            torch.bfloat16 if device.startswith("cuda") else torch.float32
        )
    model.generation_config.eos_token_id = tiny_cfg.text_config.eos_token_id
    model.generation_config.pad_token_id = tiny_cfg.text_config.pad_token_id
    model.eval()
    small.model = model
    small.device = device
    return small


@part("speed-study-size")
def check_speed(tmp: Path, tiny: Path, device: str, shape: str, n_images: int, batch_size: int, train_steps: int):
    import torch

    from benchmarks.bench_models import make_images
    from cubeworld.models.inputs import encode_prompts, encode_training, to_device
    from cubeworld.models.scoring import score_items

    folder = tmp / "images-448"
    folder.mkdir()
    items = make_images(folder, n_images, size=448)
    b = build_shaped(tiny, shape, device)
    b.set_image_size(max_pixels=448 * 448)
    params = sum(p.numel() for p in b.model.parameters())
    tok = b.processor.tokenizer

    def baseline(k: int, max_new_tokens: int) -> float:
        _sync(device)
        start = time.perf_counter()
        for it in items[:k]:
            batch = to_device(encode_prompts(b.processor, [it]), device)
            batch["pixel_values"] = batch["pixel_values"].to(b.model.dtype)
            with torch.inference_mode():
                out = b.model.generate(
                    **batch, max_new_tokens=max_new_tokens, do_sample=False, min_new_tokens=max_new_tokens
                )
            new = out[0, batch["input_ids"].shape[1] :]
            text = tok.decode(new[new < len(tok)], skip_special_tokens=True).strip().lower()
            _ = "yes" if text.startswith("yes") else "no"
        _sync(device)
        return k / (time.perf_counter() - start)

    baseline(2, 2)  # warm-up
    k = max(8, n_images // 4)
    base10 = baseline(k, 10)
    base2 = baseline(k, 2)
    score_items(b, items[:batch_size], batch_size)  # warm-up
    rates = {}
    for bs in (1, batch_size):
        _sync(device)
        start = time.perf_counter()
        score_items(b, items, bs)
        _sync(device)
        rates[bs] = n_images / (time.perf_counter() - start)
    figures = {
        "shape": shape,
        "parameters_M": round(params / 1e6),
        "images": n_images,
        "baseline_generate10_img_s": round(base10, 2),
        "baseline_generate2_img_s": round(base2, 2),
        "score_b1_img_s": round(rates[1], 2),
        f"score_b{batch_size}_img_s": round(rates[batch_size], 2),
        "speedup_vs_generate10": round(rates[batch_size] / base10, 1),
        "speedup_vs_generate2": round(rates[batch_size] / base2, 1),
    }
    if device.startswith("cuda"):
        figures["peak_gpu_mem_GiB_scoring"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    # QLoRA training steps on the 4-bit base of the same shape (saved, then loaded in 4 bit).
    if train_steps > 0:
        from cubeworld.models import FinetuneConfig, load_model
        from cubeworld.models.training import _wrap_for_training

        folder = tmp / f"random-{shape}"
        b.model.save_pretrained(folder)
        b.processor.save_pretrained(folder)
        del b
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        q = load_model(folder, quantize="4bit", device=device, max_pixels=448 * 448)
        cfg = FinetuneConfig(model=str(folder), train="-", out="-", method="qlora")
        q = _wrap_for_training(q, cfg, "qlora")
        trainable = sum(p.numel() for p in q.model.parameters() if p.requires_grad)
        opt = torch.optim.AdamW([p for p in q.model.parameters() if p.requires_grad], lr=cfg.lr)
        q.model.train()
        labelled = [type(it)(it.stimulus_id, it.image, it.prompt, bool(i % 2)) for i, it in enumerate(items)]

        def step(chunk):
            batch = to_device(encode_training(q.processor, chunk, q.yes_id, q.no_id), device)
            batch["pixel_values"] = batch["pixel_values"].to(torch.bfloat16)
            loss = q.model(**batch, use_cache=False).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return float(loss.detach())

        step(labelled[:8])
        _sync(device)
        start = time.perf_counter()
        losses = [step(labelled[(s * 8) % len(labelled) :][:8]) for s in range(train_steps)]
        _sync(device)
        figures["qlora_train_samples_s_b8"] = round(8 * train_steps / (time.perf_counter() - start), 2)
        figures["qlora_trainable_M"] = round(trainable / 1e6, 1)
        figures["qlora_losses"] = [round(x, 3) for x in losses]
        if device.startswith("cuda"):
            figures["peak_gpu_mem_GiB_qlora"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    return figures["speedup_vs_generate10"] > 1.0, figures


@part("qlora-families")
def check_families(tmp: Path, device: str, train: Path, held: Path):
    from cubeworld.formats.sets import load_set
    from cubeworld.models import FinetuneConfig, build_tiny_model, finetune, load_model
    from cubeworld.models.families import MODEL_FAMILIES
    from cubeworld.models.inputs import example_of
    from cubeworld.models.scoring import score_items

    s = load_set(held)
    items = [example_of(s.root, r) for r in s.rows[:8]]
    figures, ok = {}, True
    for family in MODEL_FAMILIES.names():
        model = build_tiny_model(tmp / f"tiny-{family}", family=family)
        run = tmp / f"family-{family}"
        start = time.perf_counter()
        finetune(
            FinetuneConfig(
                model=str(model),
                train=str(train),
                out=str(run),
                method="qlora",
                device=device,
                epochs=2,
                max_items=48,
                batch_size=8,
                lr=5e-3,
                warmup_steps=0,
                scheduler="constant",
                eval_sets=[str(held)],
                progress=False,
            )
        )
        seconds = time.perf_counter() - start
        acc = _accuracy(run, "held-out", 2)
        state = json.loads((run / "state.json").read_text())
        b = load_model(model, device=device)
        single = [score_items(b, [it])[0] for it in items]
        batched = score_items(b, items, len(items))
        diff = max(abs(x - y) for x, y in zip(single, batched))
        figures[family] = {
            "accuracy_by_epoch": acc,
            "train_seconds": round(seconds, 1),
            "quantize": state["effective"]["quantize"],
            "lora_modules": state["effective"]["lora_targets"]["count"],
            "scoring_dtype": b.dtype,
            "batched_vs_single_max_diff": round(diff, 6),
        }
        ok &= acc[-1] >= 0.9 and diff < (2e-2 if b.dtype != "float32" else 1e-5)
    return ok, figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="default: cuda when available")
    ap.add_argument(
        "--shape",
        choices=sorted(SHAPES) + ["tiny"],
        default="2b",
        help="layer sizes of the speed part; tiny = the tiny model itself (smoke test)",
    )
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--train-steps", type=int, default=5)
    ap.add_argument("--parts", default="qlora-tiny,scoring-tiny,speed-study-size,qlora-families")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args()

    import torch

    from cubeworld.models import build_tiny_model
    from cubeworld.models.loading import default_device

    device = args.device or default_device()
    info = {
        "device": device,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else "",
        "python": sys.version.split()[0],
    }
    for name in ("transformers", "peft", "bitsandbytes", "accelerate"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = "missing"
    print(json.dumps(info), flush=True)
    RESULTS["environment"] = info
    parts = set(args.parts.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        tiny = build_tiny_model(tmp / "tiny")
        write = _colour_set_writer()
        train = write(tmp / "train", 48, 11, name="train")
        held = write(tmp / "held-out", 32, 12, name="held-out", prefix="held")
        if "qlora-tiny" in parts:
            check_qlora(tmp, tiny, device, train, held)
        if "scoring-tiny" in parts:
            check_scoring(tmp, tiny, device, held)
        if "speed-study-size" in parts:
            check_speed(tmp, tiny, device, args.shape, args.images, args.batch_size, args.train_steps)
        if "qlora-families" in parts:
            check_families(tmp, device, train, held)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(RESULTS, indent=2) + "\n")
    failed = [k for k, v in RESULTS.items() if isinstance(v, dict) and v.get("pass") is False]
    print("\nall parts passed" if not failed else f"\nFAILED: {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
