"""Benchmark of the probes stage (CPU): extraction items/s and probe fitting time per array.

Per tiny model family, on a generated tower set (real MuJoCo towers, rendered at `--px`):
activation extraction for probes (items/s: the scoring forward with hooks on every point
of the family, pooled and written to the float16 cache) and fitting (seconds per cached
array, `POINT@POOL`, for both targets: the label and the margin, with the default
settings: 5 outer folds, nested choice of C / alpha, 3 shuffled-value refits; and with a
fixed C / alpha). Then the same fitting on synthetic arrays of a full-size decoder's width
(`--width`, default 3584: Qwen2.5-VL-7B), to plan a real run: a cache of P arrays takes
about P x that time, divided by `--workers` processes.

Last, the test's calibration (`--null-reps`): arrays of pure noise, many times over; the
share of them whose one-sided p-value (before Holm) is under 0.05 should be near 0.05.

    .venv/bin/python benchmarks/bench_probes.py [--families qwen2-vl,smolvlm] [--items 24]
        [--px 224] [--batch-size 8] [--width 3584] [--wide-items 400] [--null-reps 100]
        [--null-items 80] [--clock cpu|wall]

Rates are per second of this process's CPU time by default (`--clock cpu`; fitting runs in
this process with one BLAS thread, so that is its compute); `--clock wall` on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

CLOCK = time.process_time


def fit_seconds(cache: Path, sets: list, config) -> tuple[float, int]:
    """CPU (or wall) seconds per cached array to fit every task of `config`, and the arrays."""
    from cubeworld.probes import fit_probes

    start = CLOCK()
    res = fit_probes(cache, sets, config, progress=False)
    arrays = len({(r.point, r.pool) for r in res.rows})
    return (CLOCK() - start) / arrays, arrays


def synthetic_cache(root: Path, n: int, width: int, signal: float = 0.1, seed: int = 0):
    """A tower-like set of n rows (margins, half falling) and a cache of one array whose
    first coordinate carries `signal` x the margin: the index format any extractor writes."""
    import numpy as np

    from cubeworld.formats.answers import answer_for
    from cubeworld.formats.sets import StimulusRow, load_set
    from cubeworld.models.activations import FORMAT, VERSION, set_identity
    from cubeworld.stimuli.families import get_family

    rng = np.random.default_rng(0)
    tower = get_family("tower")
    set_dir = root / "wide-set"
    set_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        falls = i % 2 == 0
        margin = float(rng.uniform(1, 30)) * (-1 if falls else 1)
        row = StimulusRow(
            f"w-{i:05d}",
            f"images/w-{i:05d}.png",
            "tower",
            3,
            falls,
            answer_for(falls),
            tower.prompt,
            {"difficulty": margin},
        )
        lines.append(json.dumps(row.to_record()))
    (set_dir / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    (set_dir / "dataset.json").write_text(json.dumps({"name": "wide"}))
    s = load_set(set_dir, check_images=False)
    X = np.random.default_rng(seed).standard_normal((n, width)).astype(np.float32)
    X[:, 0] += signal * np.array([r.difficulty for r in s.rows])
    cache = root / f"wide-cache-{seed}"
    cache.mkdir()
    np.save(cache / "decoder.27@answer.npy", X.astype(np.float16))
    index = {
        "format": FORMAT,
        "version": VERSION,
        "model": "synthetic",
        "adapter": "",
        "sets": [set_identity(s)],
        "points": ["decoder.27"],
        "point_stages": {"decoder.27": "decoder"},
        "items": [[s.name, r.stimulus_id] for r in s.rows],
        "arrays": {"decoder.27@answer": {"file": "decoder.27@answer.npy", "shape": [n, width], "dtype": "float16"}},
    }
    (cache / "index.json").write_text(json.dumps(index))
    (cache / "progress.json").write_text(json.dumps({"done": n, "complete": True}))
    return cache, [s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default="qwen2-vl,smolvlm,gemma3", help="comma-separated tiny families")
    ap.add_argument("--items", type=int, default=24, help="generated towers (even; half per size 2, 3)")
    ap.add_argument("--px", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for extraction")
    ap.add_argument("--width", type=int, default=3584)
    ap.add_argument("--wide-items", type=int, default=400)
    ap.add_argument("--null-reps", type=int, default=100)
    ap.add_argument("--null-items", type=int, default=80)
    ap.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import torch

    from cubeworld.formats.sets import load_set
    from cubeworld.models import build_tiny_model, extract_activations, load_model
    from cubeworld.probes import ProbeConfig
    from cubeworld.stimuli import generate_set

    torch.set_num_threads(args.threads)
    default = ProbeConfig()
    fixed = ProbeConfig(c=1.0, alpha=100.0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        per_size = args.items // 2
        set_dir = generate_set("tower", [2, 3], per_size, 1, tmp / "towers", resolution=args.px, progress=False)
        towers = load_set(set_dir)
        print(
            f"{len(towers)} generated towers at {args.px} px, batch {args.batch_size}, torch threads {args.threads}, "
            f"clock {args.clock}; fitting: 1 BLAS thread, in-process"
        )
        print(f"{'family':<16} {'extract':>10} {'arrays':>6} {'fit default':>12} {'fit fixed':>10}")
        for family in args.families.split(","):
            model = load_model(build_tiny_model(tmp / family, family=family), image_size=args.px)
            start = CLOCK()
            cache = extract_activations(
                model, [towers], "all", tmp / f"act-{family}", batch_size=args.batch_size, progress=False
            )
            rate = len(towers) / (CLOCK() - start)
            per_default, arrays = fit_seconds(cache, [towers], default)
            per_fixed, _ = fit_seconds(cache, [towers], fixed)
            print(f"{family:<16} {rate:>8.1f}/s {arrays:>6} {per_default:>10.2f} s {per_fixed:>8.2f} s", flush=True)
        cache, sets = synthetic_cache(tmp, args.wide_items, args.width)
        wide_default, _ = fit_seconds(cache, sets, default)
        wide_fixed, _ = fit_seconds(cache, sets, fixed)
        print(
            f"full-width array ({args.wide_items} items x {args.width}): {wide_default:.1f} s default, "
            f"{wide_fixed:.1f} s fixed C / alpha (per array, both targets)"
        )
        print(
            "extract: items/s (forward + hooks + float16 cache); fit: seconds per cached array for the label and "
            "the margin: default = nested C/alpha + 3 shuffles, fixed = --c 1 --alpha 100 + 3 shuffles"
        )
        if args.null_reps:
            null_calibration(tmp, args.null_reps, args.null_items)


def null_calibration(root: Path, reps: int, n: int) -> None:
    """Share of pure-noise arrays (width 12) whose one-sided p (before Holm) is under 0.05."""
    import numpy as np

    from cubeworld.probes import ProbeConfig, fit_probes

    config = ProbeConfig(folds=5, c=1.0, alpha=10.0, shuffles=3, n_boot=1000)
    p: dict[str, list[float]] = {"falls": [], "margin": []}
    for rep in range(reps):
        cache, sets = synthetic_cache(root / "null", n, 12, signal=0.0, seed=1000 + rep)
        for row in fit_probes(cache, sets, config, progress=False).rows:
            p[row.target].append(row.p_value)
    for target, values in p.items():
        share = float(np.mean(np.array(values) < 0.05))
        print(f"null calibration, {target}: p < 0.05 in {share:.3f} of {reps} noise arrays ({n} items; nominal 0.05)")


if __name__ == "__main__":
    main()
