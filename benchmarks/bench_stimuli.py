"""Stimuli per second for towers and pyramids at 448 px, with 1 and 2 worker processes.

    .venv/bin/python benchmarks/bench_stimuli.py [--towers-per-size 20] [--pyramids-per-size 4]

Each figure is end to end through `generate_set` into a fresh folder: sampling, analytic
check, simulation, perturbed-physics runs (pyramids), rendering, PNG encoding, atomic
writes, including rejected candidates and worker start-up. A single-process breakdown
(physics / render / PNG per tower) is printed first, and last the time of
`family.answer_by_simulation` per item (what the physics observer calls in a loop) on the
sets just made. Other processes sharing the CPU depress the figures; the load average is
printed alongside.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def breakdown(resolution: int, n: int = 40) -> None:
    import numpy as np

    from cubeworld.stimuli.config import default_config
    from cubeworld.stimuli.engine import World, encode_png
    from cubeworld.stimuli.towers import judge_tower, sample_tower, tower_camera

    cfg = default_config("tower")
    world = World(7, resolution, cfg.render)
    world.render(sample_tower(np.random.default_rng(0), 2, cfg.family), tower_camera(2, cfg.family.camera), cfg.physics)
    wall = {"physics": 0.0, "render": 0.0, "png": 0.0}
    cpu = dict(wall)
    for k in range(n):
        size = 2 + k % 6
        blocks = sample_tower(np.random.default_rng(k), size, cfg.family)
        camera = tower_camera(size, cfg.family.camera)
        steps = [
            ("physics", lambda: judge_tower(world, blocks, cfg.physics, cfg.family)),
            ("render", lambda: world.render(blocks, camera, cfg.physics)),
        ]
        image = None
        for key, fn in steps:
            w0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            wall[key] += time.perf_counter() - w0
            cpu[key] += time.process_time() - c0
            if key == "render":
                image = result
        w0, c0 = time.perf_counter(), time.process_time()
        encode_png(image)
        wall["png"] += time.perf_counter() - w0
        cpu["png"] += time.process_time() - c0
    print(f"one process, towers of 2-7 blocks at {resolution} px, ms per tower (wall / CPU):")
    for key in wall:
        print(f"  {key:8s} {1000 * wall[key] / n:6.1f} / {1000 * cpu[key] / n:6.1f}")
    total = sum(cpu.values()) / n
    print(f"  total CPU {1000 * total:.1f} ms -> at most {1 / total:.1f} towers/s per free core (before rejections)")


def resimulation(domain: str, set_dir: Path) -> None:
    """ms per `answer_by_simulation` call on a set's recorded scenes, and agreement with its labels."""
    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli.families import get_family

    rows = load_set(set_dir).rows
    family = get_family(domain)
    family.answer_by_simulation(rows[0].extra["scene"])  # builds the process's world
    t0 = time.perf_counter()
    agree = sum(family.answer_by_simulation(r.extra["scene"]) == r.falls for r in rows)
    dt = time.perf_counter() - t0
    print(f"answer_by_simulation, {domain}: {1000 * dt / len(rows):.1f} ms per item; agrees with the label on "
          f"{agree} of {len(rows)} (load {os.getloadavg()[0]:.2f})")


def rate(domain: str, sizes: str, per_size: int, workers: int, resolution: int,
         keep: Path | None = None) -> tuple[float, float]:
    """(stimuli per second, CPU seconds per stimulus summed over all processes); the set is
    kept in `keep` if given."""
    import resource

    from cubeworld.stimuli import generate_set

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), cpu()
        generate_set(domain, sizes, per_size, 12345, keep or Path(tmp) / "set", resolution=resolution, workers=workers,
                     progress=False)
        dt, dc = time.perf_counter() - t0, cpu() - c0
    n = per_size * len(sizes.split(",")) if "," in sizes else per_size * 6
    return n / dt, dc / n


def report(label: str, workers: int, r: tuple[float, float]) -> None:
    per_sec, cpu = r
    print(f"{label}, {workers} worker(s): {per_sec:6.1f} stimuli/s measured (load {os.getloadavg()[0]:.2f}); "
          f"{1000 * cpu:.0f} ms CPU per stimulus -> {workers / cpu:.1f}/s if {workers} core(s) were free")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--towers-per-size", type=int, default=20)
    ap.add_argument("--pyramids-per-size", type=int, default=10)
    ap.add_argument("--resolution", type=int, default=448)
    ap.add_argument("--workers", default="1,2")
    a = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    breakdown(a.resolution)
    with tempfile.TemporaryDirectory() as keep:
        kept = {"tower": Path(keep) / "towers", "pyramid": Path(keep) / "pyramids"}
        for i, w in enumerate(int(x) for x in a.workers.split(",")):
            report(f"towers   2-7       {a.resolution} px", w,
                   rate("tower", "2-7", a.towers_per_size, w, a.resolution, kept["tower"] if i == 0 else None))
        for i, w in enumerate(int(x) for x in a.workers.split(",")):
            report(f"pyramids 3,6,10,15 {a.resolution} px", w,
                   rate("pyramid", "3,6,10,15", a.pyramids_per_size, w, a.resolution, kept["pyramid"] if i == 0 else None))
        for domain, folder in kept.items():
            resimulation(domain, folder)


if __name__ == "__main__":
    main()
