"""Throughput of the observers that are not VLMs: the physics observer and the CNN.

    .venv/bin/python benchmarks/bench_observers.py [--items 12] [--threads 2]

Prints, on this machine:
- physics observer: items per second per core at N = 20 noisy simulations (one process),
  for towers (2-7 blocks) and pyramids (3, 6, 10, 15 blocks), and with one worker per core;
- CNN (default architecture, 112 px): training samples per second (forward, backward,
  AdamW step, batches of 32, images in memory) and scoring images per second (from the
  PNG files: decode, resize, forward, batches of 64), with `--threads` torch threads.

Sets are generated into a temporary folder by the stimuli stage (MuJoCo) first; their
generation is not timed.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def make_sets(root: Path, per_size: int) -> dict[str, Path]:
    from cubeworld.stimuli import generate_set

    return {
        "towers": generate_set(
            "tower", [2, 3, 4, 5, 6, 7], per_size, 901, root / "towers", resolution=112, progress=False
        ),
        "pyramids": generate_set(
            "pyramid", [3, 6, 10, 15], per_size, 902, root / "pyramids", resolution=112, progress=False
        ),
    }


def bench_physics(sets: dict[str, Path], n_items: int) -> None:
    from cubeworld.formats.sets import load_set
    from cubeworld.observers.noisy_newton import PhysicsScoring, simulate_items

    cores = os.cpu_count() or 1
    for name, folder in sets.items():
        all_rows = load_set(folder).rows
        step = max(1, len(all_rows) // n_items)
        rows = all_rows[::step][:n_items]  # every size alike (rows are ordered by size)
        items = [(r.domain, r.stimulus_id, r.extra["scene"]) for r in rows]
        for workers in (1, cores):
            settings = PhysicsScoring(n_simulations=20, workers=workers)
            t = time.perf_counter()
            simulate_items(items, settings)
            dt = time.perf_counter() - t
            per_core = len(items) / dt / workers
            print(
                f"physics {name:9s} N=20  workers={workers}  {len(items) / dt:6.2f} items/s  "
                f"({per_core:.2f} items/s per core; {dt / len(items) * 1000 / 20:.1f} ms per "
                f"simulation per core)"
            )


def bench_cnn(sets: dict[str, Path], threads: int) -> None:
    import torch

    from cubeworld.formats.sets import load_set
    from cubeworld.formats.tables import fill_tables
    from cubeworld.observers.cnn_config import CnnScoring, CnnTraining
    from cubeworld.observers.cnn_net import architecture, build_network, load_images, parameter_count
    from cubeworld.observers.cnn_trainer import CnnScorer

    torch.set_num_threads(threads)
    d = CnnTraining()
    arch = architecture(d.channels, d.image_size, d.stem_stride, d.dropout)
    net = build_network(arch)
    s = load_set(sets["towers"])
    images = load_images([s.root / r.file_name for r in s.rows], arch["image_size"])
    labels = torch.tensor([int(r.falls) for r in s.rows])
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net.train()
    batch, seen = 32, 0
    t = time.perf_counter()
    while time.perf_counter() - t < 20 or seen < 128:
        idx = torch.randint(0, len(labels), (batch,))
        loss = torch.nn.functional.cross_entropy(net(images[idx].float() / 255), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += batch
    dt = time.perf_counter() - t
    print(
        f"cnn training  {parameter_count(net):,} parameters, {arch['image_size']} px, "
        f"threads={threads}: {seen / dt:6.1f} samples/s ({dt / seen * 900:.1f} s per epoch "
        "of 900)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        scorer = CnnScorer(net, arch, CnnScoring(batch_size=64))
        fill_tables(
            [(load_set(s.root), Path(tmp) / "p.csv")],
            {"model": "bench", "adapter": "", "condition": "", "seed": None, "epoch": 0},
            kind="cnn",
            open_scorer=lambda: scorer,
            progress=False,
        )
        dt = time.perf_counter() - t
    print(f"cnn scoring   {len(s.rows)} PNGs decoded + scored, threads={threads}: {len(s.rows) / dt:6.1f} images/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=12, help="physics: items per family")
    ap.add_argument("--threads", type=int, default=2, help="CNN: torch threads")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cw-bench-obs-") as tmp:
        sets = make_sets(Path(tmp), per_size=max(4, -(-args.items // 8) * 2))
        bench_physics(sets, args.items)
        bench_cnn(sets, args.threads)


if __name__ == "__main__":
    main()
