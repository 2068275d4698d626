"""Stimulus generation: speed, and the validity targets of issue 10, measured.

    .venv/bin/python benchmarks/bench_stimuli.py speed    [--towers-per-size 20] [--pyramids-per-size 6] [--workers 1,2] [--only tower]
    .venv/bin/python benchmarks/bench_stimuli.py validity [--towers-per-size 100] [--pyramids-per-size 40] [--audit-per-size 100]
                                                          [--seeds 11,12] [--control-cues] [--only tower] [--long-items 150]
    .venv/bin/python benchmarks/bench_stimuli.py frame    [--towers 1000]
    .venv/bin/python benchmarks/bench_stimuli.py render   (ms per image, one process; shadow specks)
    .venv/bin/python benchmarks/bench_stimuli.py integrity [--towers-per-size 100] [--set DIR]
    .venv/bin/python benchmarks/bench_stimuli.py cues     [--towers-per-size 200] [--pyramids-per-size 40] [--dominoes-per-size 100]
                                                          [--only tower] [--cue-seeds 4711,4712,4713]
    .venv/bin/python benchmarks/bench_stimuli.py cells    [--per-tier 80] [--cell-seed 4713] [--sizes 6,10] [--keep DIR]
    .venv/bin/python benchmarks/bench_stimuli.py restcheck --only tower|pyramid|domino [--per-size 60] [--seeds 9104]

speed: stimuli per second end to end through `generate_set` into a fresh folder (sampling,
frame check, simulation with its robustness runs, rendering, PNG, atomic writes, rejected
candidates and worker start-up included) at 448 px, with each worker count; beside the
wall-clock rate, the CPU seconds per stimulus summed over all processes (which other
jobs on a shared machine do not inflate) and the rate that would give on free cores.

validity: generates a tower and a pyramid set and reports what issue 10 asks: counts per
size x label (and red row), rejection rates per reason, the shortcut audit, agreement
with the static balance check (towers), and the physics audit -- labels unchanged under
each documented perturbation, per size -- on `--audit-per-size` items per size; for
towers also the rest test's largest measures over the standing ones and how many of
`--long-items` standing towers still stand when simulated for 30 s instead of 3 s.

frame: draws `--towers` seven-block towers (the tallest), applies the generator's frame
check, and renders the kept ones with MuJoCo's segmentation renderer to count block
pixels on the image border: a clipped block would show there.

render: ms per 448 px image in one process, and the residual shadow acne counted on the
tallest towers and largest pyramids re-rendered from their recorded scenes: pixels whose
grey level is more than 4 off the median of their 5x5 neighbourhood, away from edges (a
speck or a dotted acne line on a flat face), with the default shadow map and larger ones.

integrity: what checking a set costs every stage that reads it (`load_set`): rows only
(`check_images=False`), the default fast check (card claims, metadata sha256, every image's
size), `verify=True` (every image decoded and hashed against SHA256SUMS), and sealing the
set (`seal_set`, once when it is made) -- on a tower set at 448 px (made here, or `--set`).

cues: a default and a cue-controlled set of each family on fresh seeds (4711, 4712, 4713): per
size the best one-cue rule and the small models (cross-validated, Wilson intervals), for
pyramids the one-step reading's errors, inner red blocks per answer and a chi-square test
of the red block's place within its tier; candidates per stimulus and the control's CPU
cost against the default design.

cells: steered pyramid candidates (the cue-controlled sampler) per size x red tier, every
one judged in full: per end / interior red block how often physics answers Yes and No,
how often the one-step reading is wrong (a "No" whose reading says Yes), and the CPU per
judged candidate -- the rates the controlled pyramid quotas and the one-step target's
arithmetic are designed from.

The load average is printed with each figure; on a shared machine wall-clock figures are
depressed, CPU figures much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def cpu_all() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def rate(domain: str, sizes: str, per_size: int, workers: int, resolution: int, out: Path) -> tuple[float, float, int]:
    """(stimuli per second, CPU seconds per stimulus over all processes, stimuli)."""
    from cubeworld.stimuli import generate_set

    t0, c0 = time.perf_counter(), cpu_all()
    generate_set(domain, sizes, per_size, 12345, out, resolution=resolution, workers=workers, progress=False)
    dt, dc = time.perf_counter() - t0, cpu_all() - c0
    n = len((out / "metadata.jsonl").read_text().splitlines())
    return n / dt, dc / n, n


def speed(a) -> None:
    print(f"cores: {os.cpu_count()}, {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        for domain, sizes, per in (("tower", "2-7", a.towers_per_size), ("pyramid", "3,6,10,15", a.pyramids_per_size)):
            if a.only not in (None, domain):
                continue
            for w in (int(x) for x in a.workers.split(",")):
                per_sec, cpu, _ = rate(domain, sizes, per, w, a.resolution, Path(tmp) / f"{domain}-{w}")
                print(
                    f"{domain:8s} {sizes:10s} x{per} at {a.resolution} px, {w} worker(s): {per_sec:5.1f} stimuli/s "
                    f"({load()}); {1000 * cpu:.0f} ms CPU per stimulus -> {w / cpu:.1f}/s on {w} free core(s)"
                )


def render_cost(a) -> None:
    import numpy as np

    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.engine.world import World, encode_png
    from cubeworld.stimuli.families.tower.sampler import sample_tower, tower_camera

    os.environ.setdefault("LP_NUM_THREADS", "1")
    cfg = default_config("tower")
    world = World(7, a.resolution, cfg.render)
    blocks = sample_tower(np.random.default_rng(0), 7, cfg.family)
    cam = tower_camera(7, cfg.family.camera)
    world.render(blocks, cam, cfg.physics)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(20):
        image = world.render(blocks, cam, cfg.physics)
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(20):
        encode_png(image)
    t2, c2 = time.perf_counter(), time.process_time()
    print(
        f"render {a.resolution} px: {50 * (t1 - t0):.1f} ms wall, {50 * (c1 - c0):.1f} ms CPU per image; "
        f"PNG {50 * (t2 - t1):.1f} / {50 * (c2 - c1):.1f} ms ({load()})"
    )
    specks(a)


def speck_count(image) -> int:
    """Pixels more than 4 grey levels off their 5x5 median, at least 2 px from an edge."""
    import numpy as np
    from scipy.ndimage import binary_dilation, median_filter, sobel

    grey = image.astype(float).mean(axis=2)
    med = median_filter(grey, size=5)
    edges = binary_dilation(np.hypot(sobel(med, 0), sobel(med, 1)) > 40, iterations=2)
    return int(((np.abs(grey - med) > 4) & ~edges).sum())


def specks(a, per_family: int = 6) -> None:
    import dataclasses

    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.core.scene import Scene
    from cubeworld.stimuli.core.settings import shared_defaults
    from cubeworld.stimuli.engine.world import World

    shared = shared_defaults()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for domain, size in (("tower", 7), ("pyramid", 15)):
            out = generate_set(
                domain, [size], per_family, 5, Path(tmp) / domain, resolution=a.resolution, workers=1, progress=False
            )
            rows += load_set(out).rows
        for shadow in (shared.render.shadow_size, 4096, 8192):
            render = dataclasses.replace(shared.render, shadow_size=shadow)
            counts, seconds = [], 0.0
            for row in rows:
                spec = Scene.from_record(row.extra["scene"])
                world = World(len(spec.blocks), a.resolution, render)
                world.render(spec.blocks, row.extra["scene"]["camera"], shared.physics)
                t0 = time.perf_counter()
                image = world.render(spec.blocks, row.extra["scene"]["camera"], shared.physics)
                seconds += time.perf_counter() - t0
                counts.append(speck_count(image))
                world.close()
            print(
                f"shadow map {shadow}: specks per image {sum(counts) / len(counts):.1f} "
                f"(max {max(counts)}; {len(rows)} images: {per_family} seven-block towers, "
                f"{per_family} 15-block pyramids), render {1000 * seconds / len(rows):.0f} ms"
            )


def validity(a) -> None:
    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.audit.physics import format_physics_audit, physics_audit
    from cubeworld.stimuli.audit.shortcut import format_audit, shortcut_audit
    from cubeworld.stimuli.families import get_family

    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp())
    tower_seed, pyramid_seed = (int(x) for x in a.seeds.split(","))
    for domain, sizes, per, seed in (
        ("tower", "2-7", a.towers_per_size, tower_seed),
        ("pyramid", "3,6,10,15", a.pyramids_per_size, pyramid_seed),
    ):
        if a.only and domain != a.only:
            continue
        out = root / f"{domain}s{'-cc' if a.control_cues else ''}"
        t0, c0 = time.perf_counter(), cpu_all()
        generate_set(
            domain,
            sizes,
            per,
            seed,
            out,
            resolution=a.resolution,
            workers=a.workers,
            progress=False,
            control_cues=a.control_cues,
        )
        dt, dc = time.perf_counter() - t0, cpu_all() - c0
        s = load_set(out)
        card = s.card
        print(
            f"\n== {domain}s {sizes} x{per}, seed {seed}, {a.resolution} px: {len(s)} stimuli in {dt:.0f} s "
            f"({dc / len(s) * 1000:.0f} ms CPU per stimulus, {load()})"
        )
        for size, cnt in card["counts"].items():
            ev = card["candidates_evaluated"][size]
            rej = card["rejections"][size]
            print(
                f"  size {size}: Yes {cnt['Yes']} No {cnt['No']}; {ev} candidates, rejected "
                f"{sum(rej.values())} ({100 * sum(rej.values()) / max(ev, 1):.1f}%): {rej}; surplus {card['surplus_discarded'][size]}"
            )
        for key in card:
            if key.startswith("counts_by_"):
                print(f"  {key}: {json.dumps(card[key])}")
        if "stratum_relaxed" in card:
            print(
                f"  stratum quotas: {json.dumps(card['stratum_quotas'])}; gave way: {json.dumps(card['stratum_relaxed'])}"
            )
        family = get_family(domain)
        for line in format_audit(shortcut_audit(family, [r.to_record() for r in s.rows])):
            print("  " + line)
        audit = physics_audit(out, per_size=a.audit_per_size, seed=1, workers=a.workers, progress=False)
        for line in format_physics_audit(audit):
            print("  " + line)
        if domain == "tower":
            standing(s.rows, a.long_items)
    print(f"\nsets kept in {root}")


def standing(rows, items: int) -> None:
    """Standing towers: the rest test's measures (their last simulated second), and how many
    still stand when simulated for 30 s instead of 3 s."""
    from cubeworld.stimuli import get_family

    still = [r for r in rows if not r.falls]
    horizon = [r for r in still if r.extra["outcome"]["rest_move_mm"] is not None]  # 3.2.0: not ended still
    moves = [r.extra["outcome"]["rest_move_mm"] for r in horizon] or [float("nan")]
    tilts = [r.extra["outcome"]["rest_tilt_deg"] for r in horizon] or [float("nan")]
    print(
        f"  standing towers ({len(still)}): {len(still) - len(horizon)} ended still (physics.rest_stop); the "
        f"{len(horizon)} simulated to the horizon moved in their last second at most {max(moves):.3f} mm "
        f"(median {sorted(moves)[len(moves) // 2]:.4f}), changed their tilt at most {max(tilts):.4f} deg"
    )
    tower = get_family("tower")
    sample = still[:: max(1, len(still) // items)][:items]
    fell = [r.stimulus_id for r in sample if tower.answer_by_simulation(r.extra["scene"], physics={"duration": 30.0})]
    print(f"  simulated for 30 s: {len(sample) - len(fell)} of {len(sample)} standing towers still stand; fell: {fell}")


def frame(a) -> None:
    import mujoco
    import numpy as np

    import cubeworld.stimuli  # noqa: F401  (EGL before mujoco)
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.engine.frame import frame_extent, inside_frame
    from cubeworld.stimuli.engine.world import World
    from cubeworld.stimuli.families import get_family
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    family = get_family("tower")
    cfg = default_config("tower")
    res = a.resolution
    world = World(7, res, cfg.render)
    renderer = mujoco.Renderer(world.model, res, res)
    renderer.enable_segmentation_rendering()
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera = family.camera(7, cfg.family)
    cam.lookat[:], cam.distance, cam.azimuth, cam.elevation = (
        camera["lookat"],
        camera["distance"],
        camera["azimuth"],
        camera["elevation"],
    )
    kept = clipped = rejected = 0
    extents = []
    border = max(1, int(round(cfg.render.frame_margin * res)) - 1)
    for k in range(a.towers):
        blocks = family.sample(candidate_rng(777, family.stream_code, 7, k), 7, cfg.family).blocks
        extents.append(frame_extent(blocks, camera, cfg.render.fovy))
        if not inside_frame(blocks, camera, cfg.render.fovy, cfg.render.frame_margin):
            rejected += 1
            continue
        kept += 1
        world._configure(blocks, cfg.physics)
        renderer.update_scene(world.data, camera=cam)
        seg = renderer.render()[:, :, 0]
        mask = np.isin(seg, world._box_geoms[:7])
        edge = np.zeros_like(mask)
        edge[:border, :] = edge[-border:, :] = True
        edge[:, :border] = edge[:, -border:] = True
        clipped += bool((mask & edge).any())
    print(
        f"{a.towers} seven-block towers: {rejected} rejected by the frame check ({100 * rejected / a.towers:.1f}%), "
        f"{kept} kept, {clipped} kept with block pixels within {border} px of the border at {res} px; "
        f"largest corner extent {max(extents):.3f} (1 = the edge; the check allows {1 - 2 * cfg.render.frame_margin:.2f})"
    )


def integrity(a) -> None:
    from cubeworld.formats.sets import load_set, read_card, seal_set
    from cubeworld.stimuli import generate_set

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.set) if a.set else Path(tmp) / "towers"
        if not a.set:
            generate_set("tower", "2-7", a.towers_per_size, 4242, folder, resolution=a.resolution, progress=False)
        n = len(load_set(folder, check_images=False))
        mb = sum(p.stat().st_size for p in (folder / "images").iterdir()) / 1e6
        print(f"set {folder.name}: {n} images, {mb:.1f} MB ({load()})")
        for name, kwargs in (
            ("rows only", {"check_images": False}),
            ("fast (default)", {}),
            ("verify", {"verify": True}),
        ):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                load_set(folder, **kwargs)
                times.append(time.perf_counter() - t0)
            best = min(times)
            print(f"  load_set {name:15s} {best * 1000:9.1f} ms  ({best / n * 1000:.3f} ms per image)")
        if a.set is None:  # sealing writes into the set: only a set made here
            card = {k: v for k, v in read_card(folder).items() if k != "integrity"}
            t0 = time.perf_counter()
            seal_set(folder, card)
            print(f"  seal_set                 {(time.perf_counter() - t0) * 1000:9.1f} ms")


def cues(a) -> None:
    """Default and cue-controlled sets of both families on fresh seeds: what the audit says
    per size, the targets, the red block's place, and what the control costs."""
    import math
    from collections import Counter

    from scipy.stats import chisquare

    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set, get_family
    from cubeworld.stimuli.audit.shortcut import shortcut_audit
    from cubeworld.stimuli.families.pyramid.geometry import red_interior, red_position

    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp())
    given = [int(x) for x in a.cue_seeds.split(",")]
    tower_seed, pyramid_seed, domino_seed = given + [4711, 4712, 4713][len(given) :]
    for domain, sizes, per, seed in (
        ("tower", a.sizes or "2-7", a.towers_per_size, tower_seed),
        ("pyramid", a.sizes or "3,6,10,15", a.pyramids_per_size, pyramid_seed),
        ("domino", a.sizes or "3-8", a.dominoes_per_size, domino_seed),
    ):
        if a.only and domain != a.only:
            continue
        family = get_family(domain)
        cost = {}
        for controlled in (False, True):
            out = root / f"{domain}s{'-cc' if controlled else ''}"
            t0, c0 = time.perf_counter(), cpu_all()
            generate_set(
                domain,
                sizes,
                per,
                seed,
                out,
                resolution=a.resolution,
                workers=a.workers,
                progress=False,
                control_cues=controlled,
            )
            dt, dc = time.perf_counter() - t0, cpu_all() - c0
            s = load_set(out)
            card = s.card
            cost[controlled] = dc / len(s)
            print(
                f"\n== {domain}s {sizes} x{per}, seed {seed}, {'cue-controlled' if controlled else 'default design'}: "
                f"{len(s)} in {dt:.0f} s, {1000 * dc / len(s):.0f} ms CPU per stimulus ({load()})"
            )
            for size, n in card["candidates_evaluated"].items():
                print(
                    f"  size {size}: {n} candidates ({n / (len(s) / len(card['counts'])):.1f} per stimulus), "
                    f"rejected {card['rejections'][size]}, surplus {card['surplus_discarded'][size]}"
                )
            audit = shortcut_audit(family, [r.to_record() for r in s.rows])
            models = {m.name: m for m in audit.models}
            for size in audit.sizes:
                best = audit.best_cue(size)
                lr, tree = models["logistic_regression"].by_size[size], models["tree_depth2"].by_size[size]
                extra = ""
                if domain == "pyramid":
                    rows = [r.to_record() for r in s.rows if r.n_blocks == size]
                    wrong = next(c for c in audit.cues if c.name == "one_step").reading_wrong_by_size[size]
                    inner = {ans: sum(red_interior(r) for r in rows if r["answer"] == ans) for ans in ("Yes", "No")}
                    places = Counter((r["scene"]["red_row"], int(red_position(r))) for r in rows)
                    tiers = Counter(t for t, _ in places.elements())
                    top = int(math.sqrt(2 * size + 0.25) - 0.5)  # tiers of the pyramid
                    every = [(t, q) for t in range(top - 1) for q in range(top - t)]
                    observed = [places[p] for p in every]
                    expected = [tiers[t] / (top - t) for t, _ in every]
                    p = chisquare(observed, expected).pvalue if len(observed) > 1 else float("nan")
                    extra = (
                        f"; one-step wrong {wrong[0]}/{wrong[1]} ({wrong[0] / max(1, wrong[1]):.3f}); inner red "
                        f"Yes {inner['Yes']:.0f} / No {inner['No']:.0f}; place uniform within tier p = {p:.3g}"
                    )
                print(
                    f"  size {size}: best cue {best[0]} {best[1].cv:.3f} [{wilson_text(best[1])}], logistic "
                    f"{lr.cv:.3f} [{wilson_text(lr)}], tree {tree.cv:.3f}{extra}"
                )
            if controlled:
                met = {k: v["met"] for k, v in card["control_cues"]["targets"]["by_size"].items()}
                print(f"  targets met per size: {met}")
        print(f"  cost: {cost[True] / cost[False]:.2f}x the default design's CPU per stimulus")
    print(f"\nsets kept in {root}")


def restcheck(a) -> None:
    """Generator 3.1.0 ends some simulations once the scene is at rest (`physics.rest_stop`,
    `pyramid.stand_rest`), 3.2.0 a standing tower's simulation under the set's physics too. Inside a real generation (one worker, 32 px), every simulation given a
    rest rule is simulated both ways, and the answer it is asked for (did something fall, by
    the simulation's own stop rule) compared; also the largest change of any block's final tilt
    between the two (did anything move after the rest?). Dominoes do not use the rule: with
    `--only domino` their robustness simulations (those under other physics) are given it here, to
    measure why not."""
    import numpy as np

    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.core.scene import tilt_degrees
    from cubeworld.stimuli.engine import world as engine

    base = default_config(a.only).physics
    original = engine.World.simulate
    runs = changed = rested = steps_rest = steps_full = labelling = labelling_still = restless = 0
    largest_tilt = 0.0

    def both(self, blocks, physics, removed=(), stop=None, settle=0.0, rest=None, rest_if=None):
        nonlocal runs, changed, rested, steps_rest, steps_full, largest_tilt, labelling, labelling_still, restless
        if rest is None and a.only == "domino" and physics != base:
            rest = physics.rest_stop
        if rest is None:
            return original(self, blocks, physics, removed, stop, settle)
        quick = original(self, blocks, physics, removed, stop, settle, rest, rest_if)
        full = original(self, blocks, physics, removed, stop, settle)
        fell = [bool(stop(r.peak_move, r.peak_tilt)) if stop else False for r in (quick, full)]
        runs, rested = runs + 1, rested + quick.rested
        changed += fell[0] != fell[1]
        if physics == base:  # a simulation under the set's physics (3.2.0: a standing tower's labelling one)
            labelling, labelling_still = labelling + 1, labelling_still + quick.rested
            # ended still, but the full horizon would fail the rest test (a kept tower it would reject)
            restless += quick.rested and not full.at_rest(physics)
        steps_rest, steps_full = steps_rest + quick.steps, steps_full + full.steps
        largest_tilt = max(largest_tilt, float(np.abs(tilt_degrees(quick.quat) - tilt_degrees(full.quat)).max()))
        return quick

    sizes = {"tower": "2-7", "pyramid": "3,6,10,15", "domino": "3,4,5,6"}[a.only]
    seed = int(a.seeds.split(",")[0])
    engine.World.simulate = both  # type: ignore[method-assign]
    start = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        generate_set(a.only, sizes, a.per_size, seed, Path(tmp) / "set", resolution=32, workers=1, progress=True)
    engine.World.simulate = original  # type: ignore[method-assign]
    print(
        f"{a.only} {sizes} x{a.per_size}, seed {seed}: {runs} simulations with a rest rule, answers changed {changed}, "
        f"ended at rest {rested}, steps {steps_rest} vs {steps_full} full ({steps_rest / max(1, steps_full):.3f}); "
        f"under the set's physics {labelling}, of which ended still {labelling_still}, and of those the full horizon's "
        f"rest test would fail {restless}; "
        f"largest change of a final tilt {largest_tilt:.2f} deg; {time.process_time() - start:.0f} s CPU"
    )


def _cell_candidate(task: tuple[int, int, int, int, int]) -> dict:
    """One steered pyramid candidate of `size` blocks with its red block in `tier`, at an end
    (`interior` 0) or inside the tier (1): drawn until its place is of that kind (drawing is
    cheap), then judged in full (both labels wanted). Its label or rejection, the one-step
    reading and its CPU seconds (`cells`)."""
    from cubeworld.stimuli import get_family
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.engine.frame import inside_frame
    from cubeworld.stimuli.engine.world import World
    from cubeworld.stimuli.engine.worlds import SIMULATION_RESOLUTION
    from cubeworld.stimuli.families.pyramid.geometry import one_step, red_interior
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    seed, size, tier, interior, k = task
    c0 = time.process_time()
    family, config = get_family("pyramid"), default_config("pyramid")
    camera = family.camera(size, config.family)
    for j in range(1000):
        rng = candidate_rng(seed, family.stream_code, size, ((2 * tier + interior) * 100_000 + k) * 1000 + j)
        scene = family.sample_in_stratum(rng, size, config.family, tier, controlled=True).as_recorded()
        row = {"scene": scene.record(camera), "n_blocks": size}
        if int(red_interior(row)) == interior:
            break
    out = {"task": list(task), "size": size, "tier": tier, "interior": interior, "one_step": int(one_step(row))}
    if not inside_frame(scene.blocks, camera, config.render.fovy, config.render.frame_margin):
        return {**out, "result": "out_of_frame", "cpu": time.process_time() - c0}
    world = _CELL_WORLDS.setdefault(size, World(size, SIMULATION_RESOLUTION, config.render))
    verdict = family.judge(world, scene, config.physics, config.family)
    result = ("Yes" if verdict.falls else "No") if verdict.accepted else verdict.reason
    return {**out, "result": result, "cpu": time.process_time() - c0}


_CELL_WORLDS: dict = {}


def cells(a) -> None:
    """Steered pyramid candidates (the cue-controlled sampler) per size x red tier x end /
    interior red block, every one judged in full: how often physics answers Yes and No, how
    often the one-step reading is wrong, and the CPU per judged candidate -- the rates the
    controlled quotas and the one-step target are designed from. Each result is appended to
    `--keep` (JSON lines) as it comes, and a rerun skips the candidates already there."""
    import multiprocessing as mp
    from collections import Counter, defaultdict

    from cubeworld.stimuli.families.pyramid.settings import TIERS_FOR_SIZE

    sizes = [int(s) for s in (a.sizes or "3,6,10,15").split(",")]
    log = Path(a.keep or tempfile.mkdtemp()) / f"cells-{a.cell_seed}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    seen = {tuple(d["task"]) for d in done}
    tasks = [
        (a.cell_seed, s, t, i, k)
        for k in range(a.per_tier)
        for s in sizes
        for t in range(TIERS_FOR_SIZE[s] - 1)
        for i in ((0, 1) if TIERS_FOR_SIZE[s] - t >= 3 else (0,))
    ]
    todo = [t for t in tasks if t not in seen]
    print(f"{len(tasks)} steered candidates ({len(todo)} to judge), seed {a.cell_seed}, {a.per_tier} per cell, {log}")
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(int(a.workers or 2)) as pool, log.open("a") as f:
        for d in pool.imap_unordered(_cell_candidate, todo):
            f.write(json.dumps(d) + "\n")
            f.flush()
            done.append(d)
    print(f"{time.perf_counter() - t0:.0f} s wall ({load()})")
    done = [d for d in done if tuple(d["task"]) in set(tasks)]
    by: dict[tuple[int, int, int], Counter] = defaultdict(Counter)
    for d in done:
        c = by[(d["size"], d["tier"], d["interior"])]
        c[d["result"]] += 1
        c["all"] += 1
        c["wrong"] += d["result"] == "No" and d["one_step"] == 1
        c["yes_reading0"] += d["result"] == "Yes" and d["one_step"] == 0
        c["cpu"] += d["cpu"]
    print("size tier red       judged  Yes   No  wrong (No, reading Yes)  Yes with reading No  rejected")
    for (s, t, i), c in sorted(by.items()):
        rejected = {k: v for k, v in c.items() if k not in ("Yes", "No", "wrong", "yes_reading0", "all", "cpu")}
        print(
            f"{s:>4} {t:>4} {'interior' if i else 'end':<9} {c['all']:>6} {c['Yes']:>4} {c['No']:>4} "
            f"{c['wrong']:>6} ({c['wrong'] / c['all']:.3f})         {c['yes_reading0']:>4}          "
            f"{dict(sorted(rejected.items()))}"
        )
    for s in sizes:
        # As the controlled sampler draws: every tier equally, the place uniform within its tier.
        tiers = TIERS_FOR_SIZE[s] - 1
        rate = {"wrong": 0.0, "Yes": 0.0, "No": 0.0}
        for t in range(tiers):
            places = TIERS_FOR_SIZE[s] - t
            for i, share in ((0, min(2, places) / places), (1, max(0, places - 2) / places)):
                c = by.get((s, t, i))
                if share and c:
                    for key in rate:
                        rate[key] += c[key] / c["all"] * share / tiers
        cpu = sum(c["cpu"] for (z, _, _), c in by.items() if z == s) / sum(
            c["all"] for (z, _, _), c in by.items() if z == s
        )
        print(
            f"size {s}, as the steered sampler draws: Yes {rate['Yes']:.3f}, No {rate['No']:.3f}, one-step wrong "
            f"{rate['wrong']:.3f} of candidates; {1000 * cpu:.0f} ms CPU per judged candidate"
        )


def wilson_text(score) -> str:
    from cubeworld.stimuli.audit.scoring import wilson

    lo, hi = wilson(score.cv_correct, score.n)
    return f"{lo:.3f}, {hi:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "validity", "frame", "render", "integrity", "cues", "restcheck", "cells"])
    ap.add_argument("--towers-per-size", type=int, default=None)
    ap.add_argument("--pyramids-per-size", type=int, default=None)
    ap.add_argument("--dominoes-per-size", type=int, default=100, help="cues: dominoes per size")
    ap.add_argument("--audit-per-size", type=int, default=100)
    ap.add_argument("--towers", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=448)
    ap.add_argument("--workers", default=None)
    ap.add_argument("--keep", default=None, help="validity: keep the sets in this folder")
    ap.add_argument("--set", default=None, help="integrity: an existing set folder (not written to)")
    ap.add_argument("--sizes", default=None, help="cues: only these sizes")
    ap.add_argument("--seeds", default="11,12", help="validity: the tower and pyramid sets' seeds")
    ap.add_argument("--control-cues", action="store_true", help="validity: cue-controlled sets")
    ap.add_argument("--long-items", type=int, default=150, help="validity: standing towers simulated for 30 s")
    ap.add_argument(
        "--only", default=None, choices=["tower", "pyramid", "domino"], help="speed, cues, restcheck: one family"
    )
    ap.add_argument("--per-size", type=int, default=60, help="restcheck: stimuli per size")
    ap.add_argument(
        "--cue-seeds", default="4711,4712,4713", help="cues: the tower, pyramid and domino sets' seeds (leading ones)"
    )
    ap.add_argument("--per-tier", type=int, default=80, help="cells: candidates per size x red tier x end/interior")
    ap.add_argument("--cell-seed", type=int, default=4713, help="cells: the candidates' seed")
    a = ap.parse_args()
    if a.what == "speed":
        a.towers_per_size = a.towers_per_size or 20
        a.pyramids_per_size = a.pyramids_per_size or 6
        a.workers = a.workers or "1,2"
        speed(a)
    elif a.what == "validity":
        a.towers_per_size = a.towers_per_size or 100
        a.pyramids_per_size = a.pyramids_per_size or 40
        a.workers = int(a.workers or 2)
        validity(a)
    elif a.what == "frame":
        frame(a)
    elif a.what == "cues":
        a.towers_per_size = a.towers_per_size or 200
        a.pyramids_per_size = a.pyramids_per_size or 40
        a.workers = int(a.workers or 2)
        cues(a)
    elif a.what == "restcheck":
        if a.only is None:
            ap.error("restcheck needs --only tower, pyramid or domino")
        restcheck(a)
    elif a.what == "cells":
        cells(a)
    elif a.what == "integrity":
        a.towers_per_size = a.towers_per_size or 100
        integrity(a)
    else:
        render_cost(a)


if __name__ == "__main__":
    main()
