"""Benchmark of the models stage: every tiny model family side by side (CPU, one thread).

Per family, at one image size (224 px by default): the baseline to beat, the predecessor
study's per-image loop (`generate` with batch size 1, then parse "yes"/"no" from the text);
Yes/No scoring one by one and batched (images/s, PNG decoding and preprocessing included);
the speed-up of batched scoring over the baseline; and LoRA training (samples/s: forward,
backward and AdamW step, with the family's architecture-derived LoRA targets); and
activation extraction for probes (items/s: the batched scoring forward with hooks on every
activation point of the family, pooled and written to the float16 memory-mapped cache). The
image tokens column says how many tokens an image costs the decoder in that family.

    .venv/bin/python benchmarks/bench_models.py [--families qwen2-vl,smolvlm] [--px 224]
        [--images 48] [--batch-size 8] [--train-steps 4] [--clock cpu|wall] [--threads 1]

Rates are per second of this process's CPU time by default (`--clock cpu`): with one
torch thread that is the compute an image costs, and it stays meaningful on a machine
shared with other jobs; `--clock wall` gives wall-clock rates (use on an idle machine).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

CLOCK = time.process_time  # set from --clock in main()


def make_images(root: Path, n: int, size: int = 448):
    """n block-tower-like PNGs (flat blocks on a shaded floor) at `size` px, as scoring items."""
    import numpy as np
    from PIL import Image, ImageDraw

    from cubeworld.models.inputs import Example
    from cubeworld.stimuli.families import get_family

    rng = np.random.default_rng(0)
    shade = np.linspace(90, 200, size, dtype=np.float32)[:, None, None]
    floor = np.broadcast_to(shade, (size, size, 3)).astype(np.uint8)
    items = []
    for i in range(n):
        img = Image.fromarray(floor.copy())
        draw = ImageDraw.Draw(img)
        x = size // 2
        for level in range(int(rng.integers(2, 7))):
            w, h = size // 5, size // 9
            x += int(rng.integers(-w // 3, w // 3 + 1))
            y = size - size // 8 - (level + 1) * h
            colour = tuple(int(c) for c in rng.integers(40, 255, 3))
            draw.rectangle([x - w // 2, y, x + w // 2, y + h], fill=colour, outline=(20, 20, 20))
        path = root / f"img{i:04d}.png"
        img.save(path)
        items.append(Example(f"bench-{i}", path, get_family("tower").prompt, label=bool(i % 2)))
    return items


def baseline_generate_loop(bundle, items, max_new_tokens: int) -> float:
    """The predecessor study's way: one image at a time, `generate`, parse yes/no from text."""
    import torch

    from cubeworld.models.inputs import encode_prompts

    start = CLOCK()
    answers = []
    for it in items:
        batch = encode_prompts(bundle.processor, [it])
        with torch.inference_mode():
            out = bundle.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
        text = (
            bundle.processor.tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
            .strip()
            .lower()
        )
        answers.append("yes" if text.startswith("yes") else "no")
    return len(items) / (CLOCK() - start)


def scoring_rate(bundle, items, batch_size: int) -> float:
    from cubeworld.models.scoring import score_items

    score_items(bundle, items[:batch_size], batch_size)  # warm-up
    start = CLOCK()
    score_items(bundle, items, batch_size)
    return len(items) / (CLOCK() - start)


def image_tokens(bundle, item) -> int:
    """How many image tokens one image costs the decoder (the family's placeholder count)."""
    from cubeworld.models.inputs import encode_prompts

    ids = encode_prompts(bundle.processor, [item])["input_ids"][0].tolist()
    # The model's image-token id: Gemma 3's processor calls its begin-of-image token so.
    image_id = getattr(bundle.model.config, "image_token_id", None)
    return sum(1 for t in ids if t == image_id)


def write_set(root: Path, items) -> Path:
    """The benchmark's images as a stimulus-set folder (what extraction reads)."""
    import json

    from cubeworld.formats.answers import answer_for
    from cubeworld.formats.sets import StimulusRow

    rows = [
        StimulusRow(it.stimulus_id, it.image.name, "tower", 3, bool(it.label), answer_for(bool(it.label)), it.prompt)
        for it in items
    ]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r.to_record()) + "\n" for r in rows))
    (root / "dataset.json").write_text(json.dumps({"name": "bench", "domain": "tower"}))
    return root


def extraction_rate(bundle, set_dir: Path, out: Path, batch_size: int) -> tuple[float, int]:
    """(items/s, cached arrays) of extracting every activation point of the model."""
    from cubeworld.formats.sets import load_set
    from cubeworld.models.activations import extract_activations, load_activations

    s = load_set(set_dir)
    extract_activations(bundle, s, "all", out / "warm-up", batch_size=batch_size, progress=False)
    start = CLOCK()
    extract_activations(bundle, s, "all", out / "timed", batch_size=batch_size, progress=False)
    return len(s) / (CLOCK() - start), len(load_activations(out / "timed").keys)


def training_rate(model_dir, items, px: int, method: str, batch_size: int, steps: int):
    """(samples/s, trainable parameters) of `method` training steps on the model."""
    import torch

    from cubeworld.models import FinetuneConfig, load_model
    from cubeworld.models.inputs import encode_training
    from cubeworld.models.training import _wrap_for_training

    cfg = FinetuneConfig(model=str(model_dir), train="-", out="-", method=method)
    b = _wrap_for_training(load_model(model_dir, image_size=px), cfg, method)
    params = [p for p in b.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    b.model.train()

    def step(chunk):
        loss = b.model(**encode_training(b.processor, chunk, b.yes_id, b.no_id), use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(items[:batch_size])  # warm-up
    start = CLOCK()
    done = 0
    for s in range(steps):
        chunk = items[(s * batch_size) % len(items) :][:batch_size] or items[:batch_size]
        step(chunk)
        done += len(chunk)
    return done / (CLOCK() - start), sum(p.numel() for p in params)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=None, help="comma-separated (default: every tiny family)")
    ap.add_argument("--px", type=int, default=224, help="image size (images made at this size too)")
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--train-steps", type=int, default=4)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    ap.add_argument(
        "--baseline-tokens",
        type=int,
        default=10,
        help="max_new_tokens of the generate baseline (a short free-text answer)",
    )
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    from cubeworld.models import build_tiny_model, load_model
    from cubeworld.models.families import MODEL_FAMILIES

    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    families = args.families.split(",") if args.families else list(MODEL_FAMILIES.names())
    bs = args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / f"images-{args.px}"
        folder.mkdir()
        items = make_images(folder, args.images, size=args.px)
        set_dir = write_set(folder, items)
        print(
            f"{args.images} PNGs of {args.px} px, image_size {args.px}, threads {args.threads}, "
            f"torch {torch.__version__}, clock {args.clock}"
        )
        print(
            f"{'family':<16} {'img tok':>7} {'baseline':>10} {'score b1':>9} "
            f"{'score b' + str(bs):>9} {'speedup':>8} {'LoRA train':>12} {'LoRA params':>11} "
            f"{'extract b' + str(bs):>10} {'arrays':>6}"
        )
        for family in families:
            model_dir = build_tiny_model(tmp / family, family=family)
            b = load_model(model_dir, image_size=args.px)
            tokens = image_tokens(b, items[0])
            base = baseline_generate_loop(b, items[: max(8, args.images // 4)], args.baseline_tokens)
            one = scoring_rate(b, items, 1)
            many = scoring_rate(b, items, bs)
            lora, trainable = training_rate(model_dir, items, args.px, "lora", bs, args.train_steps)
            extract, arrays = extraction_rate(b, set_dir, tmp / f"act-{family}", bs)
            print(
                f"{family:<16} {tokens:>7} {base:>8.1f}/s {one:>7.1f}/s {many:>7.1f}/s "
                f"{many / base:>7.1f}x {lora:>6.1f} sa/s {trainable:>11,} {extract:>8.1f}/s {arrays:>6}",
                flush=True,
            )
        print(
            f"img tok: image tokens per image in the decoder; baseline: per-image "
            f"generate(max_new_tokens={args.baseline_tokens}) + text parsing (images/s); score: "
            "PNG decode + processor + one forward (images/s); speedup = batched scoring / "
            f"baseline; LoRA train: samples/s at batch {bs} (forward + backward + AdamW step); extract: "
            "items/s of activation extraction at every point (hooks, pooling, float16 cache), arrays: "
            "how many point x pool arrays it writes"
        )


if __name__ == "__main__":
    main()
