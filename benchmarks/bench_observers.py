"""Throughput of the observers that are not VLMs: the physics observer and the CNN.

    .venv/bin/python benchmarks/bench_observers.py [--items 12] [--threads 2] [--only physics,batch,cnn,rest,recovery,fit]

Prints, on this machine:
- batched simulation (before/after): items per second at N = 20 noisy copies in one
  process, copies simulated one at a time (`answer_by_simulation`, the path before the
  batch), as one `mujoco.batch` call, and as one batch that also ends copies at rest, with
  the agreement of the rest rule's answers with the full horizon;
- parameter recovery: simulated participants (30, every item once) from known position
  noise (0.08, 0.15) and lapse 0.05 (noise seed 1), fitted with `cubeworld fit physics`'s
  code (noise seed 0): recovered values, 95% intervals, errors;
- a full fit of 2 parameters (position and push noise) on 120 towers: wall time, CPU
  time (this process and its workers) and the load average;
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


def _rows(folder: Path, n_items: int) -> list:
    from cubeworld.formats.sets import load_set

    all_rows = load_set(folder).rows
    step = max(1, len(all_rows) // n_items)
    return all_rows[::step][:n_items]


def bench_batch(sets: dict[str, Path], n_items: int) -> None:
    """Items/s at N = 20 in one process: one copy at a time vs one batch (vs batch + rest)."""
    from cubeworld.observers.noisy_newton import PhysicsScoring, noisy_copies
    from cubeworld.stimuli.engine.batch import RestRule
    from cubeworld.stimuli.families import get_family

    settings = PhysicsScoring(n_simulations=20)
    for name, folder in sets.items():
        rows = _rows(folder, n_items)
        copies = [(get_family(r.domain), noisy_copies(r.extra["scene"], r.stimulus_id, settings)) for r in rows]
        timings, cpu, answers = {}, {}, {}
        for how in ("one at a time", "batch", "batch + rest"):
            t, c = time.perf_counter(), time.process_time()
            if how == "one at a time":
                answers[how] = [[fam.answer_by_simulation(c) for c in cs] for fam, cs in copies]
            else:
                rest = RestRule() if how == "batch + rest" else None
                answers[how] = [fam.answer_copies(cs, rest=rest) for fam, cs in copies]
            timings[how], cpu[how] = time.perf_counter() - t, time.process_time() - c
        same = sum(a == b for x, y in zip(answers["one at a time"], answers["batch"]) for a, b in zip(x, y))
        rest_same = sum(a == b for x, y in zip(answers["one at a time"], answers["batch + rest"]) for a, b in zip(x, y))
        total = len(rows) * 20
        base = cpu["one at a time"]
        print(
            f"batch {name:9s} N=20 {len(rows)} items, 1 process, per CPU second (wall in brackets): "
            + ", ".join(
                f"{how} {len(rows) / cpu[how]:.2f} items/s ({base / cpu[how]:.2f}x; wall {len(rows) / timings[how]:.2f}/s)"
                for how in timings
            )
            + f"; batch = one at a time on {same}/{total} copies, batch + rest on {rest_same}/{total}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )


def one_at_a_time_item(domain: str, stimulus_id: str, scene: dict, settings) -> int:
    """The observer's Yes count of one item as before the batch: copy after copy (a worker's call)."""
    from cubeworld.observers.noisy_newton import noisy_copies
    from cubeworld.stimuli.families import get_family

    family = get_family(domain)
    return sum(family.answer_by_simulation(c) for c in noisy_copies(scene, stimulus_id, settings))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pool workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def bench_batch_cores(sets: dict[str, Path], n_items: int) -> None:
    """Items/s at N = 20 on every core, like with like: the observer before the batch (copies one
    at a time, items spread over one worker per core) vs the batched observer with the rest rule
    (items over the same workers), and vs one process whose batch steps on every core."""
    from cubeworld.observers.noisy_newton import PhysicsScoring, noisy_copies, simulate_items
    from cubeworld.pools import run_calls
    from cubeworld.stimuli.engine.batch import RestRule
    from cubeworld.stimuli.families import get_family

    cores = os.cpu_count() or 1
    for name, folder in sets.items():
        rows = _rows(folder, n_items)
        items = [(r.domain, r.stimulus_id, r.extra["scene"]) for r in rows]
        before = PhysicsScoring(n_simulations=20, workers=cores)
        after = PhysicsScoring(n_simulations=20, workers=cores, stop_at_rest=True)
        figures, counts = {}, {}
        for how in (
            f"before: one at a time, {cores} workers",
            f"batch + rest, {cores} workers",
            "batch + rest, 1 process x threads",
        ):
            t, c = time.perf_counter(), _cpu()
            if how.startswith("before"):
                counts[how] = run_calls(
                    one_at_a_time_item, [(*item, before) for item in items], workers=cores, what="bench"
                )
            elif "workers" in how:
                counts[how] = simulate_items(items, after)
            else:
                counts[how] = [
                    sum(get_family(d).answer_copies(noisy_copies(sc, sid, after), rest=RestRule(), threads=cores))
                    for d, sid, sc in items
                ]
            figures[how] = (len(items) / (time.perf_counter() - t), _cpu() - c)
        base_wall = figures[next(iter(figures))][0]
        same = {how: sum(a == b for a, b in zip(v, next(iter(counts.values())))) for how, v in counts.items()}
        print(
            f"batch {name:9s} N=20 {len(items)} items on {cores} cores: "
            + ", ".join(
                f"{how} {w:.2f} items/s wall ({w / base_wall:.2f}x), {cpu:.1f} s CPU, "
                f"Yes counts equal to before on {same[how]}/{len(items)} items"
                for how, (w, cpu) in figures.items()
            )
            + f"; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )


REST_VARIANTS = {  # the rest rules compared with the full horizon (`--only rest`); every field explicit
    "speed (1 mm/s, 0.01 rad/s, 3 checks)": dict(speed=1e-3, spin=1e-2, checks=3, hold=0),
    "speed or held (1 mm, 0.5 deg, 10 checks)": dict(
        speed=1e-3, spin=1e-2, checks=3, hold=10, hold_move=1e-3, hold_tilt=0.5
    ),
    "speed or held (0.2 mm, 0.1 deg, 10 checks)": dict(
        speed=1e-3, spin=1e-2, checks=3, hold=10, hold_move=2e-4, hold_tilt=0.1
    ),
    "speed or held (0.5 mm, 0.2 deg, 20 checks)": dict(
        speed=1e-3, spin=1e-2, checks=3, hold=20, hold_move=5e-4, hold_tilt=0.2
    ),
}


def rest_agreement_item(domain: str, stimulus_id: str, scene: dict, settings) -> dict:
    """One item's copies simulated to the full horizon and with each rest rule: answers, steps, CPU s."""
    from cubeworld.observers.noisy_newton import noisy_copies
    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.batch import RestRule, simulate_copies
    from cubeworld.stimuli.engine.worlds import simulation_world
    from cubeworld.stimuli.families import get_family

    family = get_family(domain)
    own, physics = family.default_settings(), shared_defaults().physics
    specs = [Scene.from_record(c) for c in noisy_copies(scene, stimulus_id, settings)]
    rules = [family.outcome_rule(s, own) for s in specs]
    world = simulation_world(len(specs[0].blocks))
    out = {}
    for name, rest in [("full horizon", None), *((k, RestRule(**v)) for k, v in REST_VARIANTS.items())]:
        c = time.process_time()
        res = simulate_copies(
            world,
            [s.blocks for s in specs],
            physics,
            removed=rules[0].removed,
            settle=rules[0].settle,
            stops=[r.stop for r in rules],
            rest=rest,
        )
        out[name] = (
            [bool(r.verdict(x)) for r, x in zip(rules, res)],
            sum(x.steps for x in res),
            time.process_time() - c,
        )
    return out


def bench_rest(root: Path) -> None:
    """How often each rest rule's answer agrees with the full horizon, at the fit's noise levels."""
    from cubeworld.fitting.items import load_items
    from cubeworld.observers.noisy_newton import PhysicsScoring
    from cubeworld.pools import run_calls
    from cubeworld.stimuli import generate_set

    towers = generate_set("tower", [2, 3, 4, 5, 6, 7], 20, 905, root / "rest-towers", resolution=32, progress=False)
    pyramids = generate_set("pyramid", [3, 6, 10, 15], 6, 906, root / "rest-pyr", resolution=32, progress=False)
    points = {
        towers: [(0.12, 0.03), (0.22, 0.0), (0.03, 0.0), (0.1, 0.1)],
        pyramids: [(0.1, 0.0)],
    }
    for folder, noise in points.items():
        rows = load_items([folder])
        for position, push in noise:
            settings = PhysicsScoring(position_noise=position, push_noise=push, n_simulations=20)
            calls = [(r.domain, r.stimulus_id, r.extra["scene"], settings) for r in rows]
            results = run_calls(rest_agreement_item, calls, workers=os.cpu_count() or 1, what="rest agreement")
            truth = [a for r in results for a in r["full horizon"][0]]
            line = []
            for name in ["full horizon", *REST_VARIANTS]:
                answers = [a for r in results for a in r[name][0]]
                steps = sum(r[name][1] for r in results) / len(truth)
                cpu = sum(r[name][2] for r in results)
                same = sum(a == b for a, b in zip(answers, truth))
                wrong = [
                    f"{rows[i // settings.n_simulations].stimulus_id}#{i % settings.n_simulations}"
                    for i, (a, b) in enumerate(zip(answers, truth))
                    if a != b
                ]
                line.append(
                    f"{name}: {same}/{len(truth)} agree{' ' + str(wrong) if wrong else ''}, {steps:.0f} steps/copy, "
                    f"{cpu:.1f} s CPU"
                )
            print(
                f"rest {rows[0].domain} x{len(rows)} position noise {position} push {push} "
                f"({sum(truth)} of {len(truth)} copies fall): " + "; ".join(line) + f"; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )


def bench_recovery(root: Path, n_items: int) -> None:
    """Known position noise and lapse in, a fit out (simulated with another noise seed)."""
    import pandas as pd

    from cubeworld.fitting.config import FitConfig
    from cubeworld.fitting.fit import fit_physics
    from cubeworld.fitting.items import load_items
    from cubeworld.fitting.people import simulate_people
    from cubeworld.observers.noisy_newton import PhysicsScoring
    from cubeworld.stimuli import generate_set

    per_size = max(2, -(-n_items // 8) * 2)
    towers = generate_set("tower", [2, 3, 4, 5], per_size, 903, root / "rec-towers", resolution=32, progress=False)
    rows = load_items([towers])
    config = FitConfig(params=("position_noise",), bootstrap=200, n_simulations=20)
    for noise in (0.08, 0.15):
        truth = PhysicsScoring(position_noise=noise, lapse=0.05, n_simulations=20, seed=1, stop_at_rest=True)
        people = simulate_people(rows, truth, participants=30, seed=7)
        pd.DataFrame(people).to_csv(root / f"people-{noise}.csv", index=False)
        t = time.perf_counter()
        fit = fit_physics([towers], root / f"people-{noise}.csv", root / f"fit-{noise}", config, progress=False)
        f, ci = fit["fitted"], fit["intervals_95"]
        print(
            f"recovery {len(rows)} towers x 30 simulated people: true position_noise {noise} lapse 0.05 -> "
            f"fitted {f['position_noise']:.3f} [{ci['position_noise'][0]:.3f}, {ci['position_noise'][1]:.3f}] "
            f"lapse {f['lapse']:.3f} [{ci['lapse'][0]:.3f}, {ci['lapse'][1]:.3f}]; errors "
            f"{abs(f['position_noise'] - noise):.3f} / {abs(f['lapse'] - 0.05):.3f}; held-out LL/trial "
            + ", ".join(f"{m} {v['per_trial']:.3f}" for m, v in fit["heldout"].items())
            + f"; {time.perf_counter() - t:.0f} s"
        )


def bench_fit(root: Path) -> None:
    """A full fit of 2 parameters on 120 towers (2-7 blocks), timed with CPU and load."""
    from cubeworld.fitting.config import FitConfig
    from cubeworld.fitting.fit import fit_physics
    from cubeworld.fitting.items import load_items
    from cubeworld.fitting.people import simulate_people
    from cubeworld.observers.noisy_newton import PhysicsScoring
    from cubeworld.stimuli import generate_set

    towers = generate_set("tower", [2, 3, 4, 5, 6, 7], 20, 904, root / "fit-towers", resolution=32, progress=False)
    rows = load_items([towers])
    truth = PhysicsScoring(
        position_noise=0.12, push_noise=0.03, lapse=0.05, n_simulations=20, seed=1, stop_at_rest=True
    )
    simulate_people(rows, truth, participants=30, seed=8).to_csv(root / "fit-people.csv", index=False)
    config = FitConfig(params=("position_noise", "push_noise"), bootstrap=200, n_simulations=20)
    fit = fit_physics([towers], root / "fit-people.csv", root / "fit-2", config, progress=False)
    print(
        f"fit 2 parameters, {fit['items']} towers, {len(fit['grid_points'])} grid points x 20 copies: "
        f"{fit['seconds']:.0f} s wall, {fit['cpu_seconds']:.0f} s CPU, load average {fit['load_average']}, "
        f"{os.cpu_count()} cores; fitted {fit['fitted']} (true position 0.12, push 0.03, lapse 0.05)"
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
    ap.add_argument("--only", default="physics,batch,cnn,rest,recovery,fit", help="which parts, joined by commas")
    args = ap.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="cw-bench-obs-") as tmp:
        if only & {"physics", "batch", "cnn"}:
            sets = make_sets(Path(tmp), per_size=max(4, -(-args.items // 8) * 2))
        if "physics" in only:
            bench_physics(sets, args.items)
        if "batch" in only:
            bench_batch(sets, args.items)
            bench_batch_cores(sets, args.items)
        if "rest" in only:
            bench_rest(Path(tmp))
        if "recovery" in only:
            bench_recovery(Path(tmp), 40)
        if "fit" in only:
            bench_fit(Path(tmp))
        if "cnn" in only:
            bench_cnn(sets, args.threads)


if __name__ == "__main__":
    main()
