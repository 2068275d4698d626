"""Benchmark of GRPO and the prompting modes on a tiny model (CPU, one thread).

Training: GRPO steps/s against supervised (LoRA) steps/s at the same batch of items, each
step of GRPO sampling `--generations` completions per item (up to `--completion-tokens`
tokens) before its backward pass. A step's time is the difference of a run of 1 + `--epochs`
epochs and a run of 1 epoch (same data), divided by the extra steps, so model loading and
TRL's set-up are left out.

Scoring: items/s of the three prompting modes on the same items: logprob (one forward
pass, the study's), free (greedy generation of up to 16 tokens, the answer read from the
text) and step (the step-by-step prompt, up to `--step-tokens` tokens).

    .venv/bin/python benchmarks/bench_grpo.py [--family qwen2-vl] [--items 16] [--batch-size 4]
        [--generations 4] [--completion-tokens 8] [--epochs 4] [--step-tokens 64] [--threads 1]

A random tiny model rarely writes its end-of-turn token, so free and step generate their
full budget of tokens: the figures are the upper end of a mode's cost per token budget.
No GPU here: vLLM generation (`use_vllm`) is not measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def _colour_set(root: Path, n: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
    from conftest import write_colour_set  # the tests' learnable colour task

    return write_colour_set(root, n, seed=11, name="train")


def _run_seconds(config_kw: dict, out: Path, epochs: int) -> tuple[float, float]:
    from cubeworld.models import FinetuneConfig, finetune

    wall, cpu = time.perf_counter(), time.process_time()
    finetune(FinetuneConfig(**config_kw, out=str(out), epochs=epochs))
    return time.perf_counter() - wall, time.process_time() - cpu


def step_rates(kw: dict, root: Path, name: str, epochs: int, steps_per_epoch: int) -> tuple[float, float]:
    w1, c1 = _run_seconds(kw, root / f"{name}-1", 1)
    wn, cn = _run_seconds(kw, root / f"{name}-n", 1 + epochs)
    steps = epochs * steps_per_epoch
    return steps / (wn - w1), steps / (cn - c1)


def mode_rates(model: Path, train: Path, batch: int, step_tokens: int) -> dict[str, tuple[float, float]]:
    from cubeworld.formats.sets import load_set
    from cubeworld.models.config import VlmScoring
    from cubeworld.models.loading import load_model
    from cubeworld.models.scoring import VlmScorer

    stim = load_set(train)
    items = [(stim, row) for row in stim.rows]
    bundle = load_model(model)
    out = {}
    for mode, tokens in (("logprob", None), ("free", 16), ("step", step_tokens)):
        scorer = VlmScorer(bundle, VlmScoring(batch_size=batch, mode=mode, max_new_tokens=tokens))
        scorer.score(items[:batch], lambda rows: None)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        scorer.score(items, lambda rows: None)
        out[mode] = (len(items) / (time.perf_counter() - wall), len(items) / (time.process_time() - cpu))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="qwen2-vl")
    ap.add_argument("--items", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--completion-tokens", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--step-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from cubeworld.models import build_tiny_model

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_model(root / "tiny", seed=0, family=a.family)
        train = _colour_set(root / "train", a.items)
        common = dict(
            model=str(model), train=str(train), max_items=a.items, batch_size=a.batch_size, progress=False, lr=1e-3
        )
        steps = a.items // a.batch_size
        _run_seconds({**common, "method": "lora"}, root / "warm-up", 1)  # imports, first-call costs
        sft = step_rates({**common, "method": "lora"}, root, "sft", a.epochs, steps)
        grpo_kw = {
            **common,
            "method": "grpo",
            "num_generations": a.generations,
            "max_completion_tokens": a.completion_tokens,
        }
        grpo = step_rates(grpo_kw, root, "grpo", a.epochs, steps)
        modes = mode_rates(model, train, a.batch_size, a.step_tokens)

    print(f"tiny {a.family}, {a.items} items, batch {a.batch_size}, {a.threads} torch thread(s), CPU")
    print(f"{'training':<44} {'steps/s wall':>12} {'steps/s CPU':>12}")
    print(f"{'SFT (LoRA)':<44} {sft[0]:>12.2f} {sft[1]:>12.2f}")
    label = f"GRPO ({a.generations} completions x {a.completion_tokens} tokens)"
    print(f"{label:<44} {grpo[0]:>12.2f} {grpo[1]:>12.2f}")
    print(f"{'GRPO step / SFT step (wall)':<44} {sft[0] / grpo[0]:>12.1f}x")
    print(f"{'scoring mode':<44} {'items/s wall':>12} {'items/s CPU':>12}")
    for mode, (wall, cpu) in modes.items():
        tokens = {"logprob": "no generation", "free": "16 tokens", "step": f"{a.step_tokens} tokens"}[mode]
        print(f"{mode + ' (' + tokens + ')':<44} {wall:>12.1f} {cpu:>12.1f}")


if __name__ == "__main__":
    main()
