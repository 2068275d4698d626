"""The domino family's figures: causes, labels, robustness, shortcut cues and generation speed.

    .venv/bin/python benchmarks/bench_dominoes.py [--candidates 40] [--per-size 40] [--workers 2] [--speed 1,2]
                                                  [--control-cues]

1. Candidates (no rendering): per size and cause, `--candidates` chains drawn exactly as
   generation draws them (seed 777) and judged step by step -- labelled by the shared
   physics, a "No" checked to stop at its critical domino, then re-simulated under **every**
   perturbation of the family's `robustness_checks` (the documented list; not stopping at
   the first that disagrees) -- and the chains kept (all agree) once more under held-out
   perturbations the generator never checks. Printed: per cause the answers before quotas,
   the rejections and where the answer flips (the critical margin of the last "Yes" and
   the first "No"), the agreement per perturbation.
2. A set (`--per-size` per size, seed 12345, `--resolution` px, generated with `--workers`; cue-controlled
   with `--control-cues`): its card's shortcut audit per size (5-fold cross-validated, every cue and the
   logistic regression and depth-2 tree on all of them, with the best cue per size), the
   agreement of the critical margin's sign with the label per cause, the candidates drawn per
   kept stimulus, and `cubeworld audit --physics` on it (every documented perturbation,
   `--audit-per-size` items per size).
3. Speed: stimuli per second end to end through `generate_set` at 448 px with each of
   `--speed` workers (sizes 3-8 x `--speed-per-size`), and the CPU time per stimulus summed
   over every process (load does not inflate it); `answer_by_simulation` per item.

Other processes sharing the CPU depress the wall-clock figures; the load is printed.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

DOMINO = "domino"
# Perturbations the generator does not check: a sample of "other reasonable physics".
HELD_OUT = (
    {"friction": 0.5},
    {"friction": 0.7},
    {"solref": [0.02, 1.0], "cone": "elliptic"},
    {"solref": [0.01, 1.0]},
    {"density": 1000.0},
)


def _name(change: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in change.items())


def cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _judge_size(job: tuple[int, int, int]) -> list[dict]:
    """Every cause's `per_cause` candidates of one size, judged in full (a worker's job)."""
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.engine.world import World
    from cubeworld.stimuli.families import get_family
    from cubeworld.stimuli.families.domino.geometry import critical_margin
    from cubeworld.stimuli.families.domino.judge import classify, simulate_chain, stop_index
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    n, per_cause, seed = job
    family, cfg = get_family(DOMINO), default_config(DOMINO)
    s, checks = cfg.family, family.robustness_checks(cfg.family)
    world = World(n, 16, cfg.render)
    out = []
    for k in range(per_cause * len(s.causes)):
        cause = s.causes[k % len(s.causes)]
        scene = family.sample_in_stratum(candidate_rng(seed, family.stream_code, n, k), n, s, cause)
        blocks = [b.to_record() for b in scene.blocks]
        margin = critical_margin(blocks, cause, scene.keys["critical"], s.cause_range(cause).flip)
        rec = {"n": n, "cause": cause, "margin": margin, "label": None}

        def label(change: dict, chain=scene.blocks) -> str:
            return classify(simulate_chain(world, chain, cfg.physics.perturbed(change), s.fall_tilt), s)

        tilt = simulate_chain(world, scene.blocks, cfg.physics, s.fall_tilt)
        rec["label"] = classify(tilt, s)
        if rec["label"] == "No" and stop_index(tilt, s) != scene.keys["critical"]:
            rec["reason"] = "stopped_elsewhere"
        elif rec["label"] not in ("Yes", "No"):
            rec["reason"] = rec["label"]
        else:
            rec["checks"] = [label(c) for c in checks]
            if all(x == rec["label"] for x in rec["checks"]):
                rec["held_out"] = [label(c) for c in HELD_OUT]
            else:
                rec["reason"] = "perturbation_sensitive"
        out.append(rec)
    return out


def candidates(per_cause: int, seed: int, workers: int) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor

    from cubeworld.stimuli.families import get_family

    jobs = [(n, per_cause, seed) for n in get_family(DOMINO).sizes]
    with ProcessPoolExecutor(workers) as pool:
        return [rec for part in pool.map(_judge_size, jobs) for rec in part]


def report_candidates(recs: list[dict]) -> None:
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.families import get_family

    family = get_family(DOMINO)
    checks = family.robustness_checks(default_config(DOMINO).family)
    print("\n1. candidates (drawn as generation draws them; judged without rendering)")
    print("   cause      size  drawn  Yes  No  rejected (why)")
    for cause in default_config(DOMINO).family.causes:
        for n in family.sizes:
            rows = [r for r in recs if r["cause"] == cause and r["n"] == n]
            kept = [r for r in rows if "held_out" in r]
            why = Counter(r["reason"] for r in rows if "reason" in r)
            yes = sum(r["label"] == "Yes" for r in kept)
            print(f"   {cause:10s} {n:4d} {len(rows):6d} {yes:4d} {len(kept) - yes:3d}  {dict(why)}")
        kept = [r for r in recs if r["cause"] == cause and "held_out" in r]
        yes = [r["margin"] for r in kept if r["label"] == "Yes"]
        no = [r["margin"] for r in kept if r["label"] == "No"]
        agree = sum(m <= 0 for m in yes) + sum(m > 0 for m in no)
        print(
            f"   {cause}: kept {len(kept)}, Yes {len(yes) / max(1, len(kept)):.2f}; critical margin of the kept: "
            f"Yes up to {max(yes, default=float('nan')):+.3f}, No from {min(no, default=float('nan')):+.3f}; "
            f"its sign is the label on {agree} of {len(kept)}"
        )
    judged = [r for r in recs if "checks" in r]
    kept = [r for r in recs if "held_out" in r]
    print(f"   agreement with the shared physics' label on the {len(judged)} labelled chains, per check:")
    for i, change in enumerate(checks):
        a = sum(r["checks"][i] == r["label"] for r in judged)
        print(f"     {_name(change):28s} {a}/{len(judged)} = {a / len(judged):.3f}")
    print(f"   agreement of the {len(kept)} kept chains under held-out perturbations (never checked):")
    for i, change in enumerate(HELD_OUT):
        a = sum(r["held_out"][i] == r["label"] for r in kept)
        print(f"     {_name(change):34s} {a}/{len(kept)} = {a / len(kept):.4f}")


def report_set(
    per_size: int, workers: int, audit_per_size: int, root: Path, resolution: int = 448, control_cues: bool = False
) -> None:
    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.audit.physics import format_physics_audit, physics_audit
    from cubeworld.stimuli.families import get_family

    family = get_family(DOMINO)
    out = root / "set"
    t0, c0 = time.perf_counter(), cpu()
    generate_set(
        DOMINO,
        family.sizes,
        per_size,
        12345,
        out,
        resolution=resolution,
        workers=workers,
        progress=False,
        control_cues=control_cues,
    )
    dt, dc = time.perf_counter() - t0, cpu() - c0
    s = load_set(out)
    card = s.card
    total = len(s.rows)
    drawn = sum(card["candidates_evaluated"].values())
    print(
        f"\n2. a {'cue-controlled ' if control_cues else ''}set: sizes 3-8 x {per_size} at {resolution} px, seed 12345 "
        f"({total} stimuli): {dt:.0f} s with {workers} "
        f"worker(s) (load {os.getloadavg()[0]:.2f}), {dc / total:.3f} CPU s per stimulus; {drawn} candidates "
        f"({drawn / total:.2f} per kept), rejected {card['rejections']}"
    )
    audit = card["shortcut_audit"]["cues"]
    sizes = [str(n) for n in family.sizes]
    print("   shortcut audit, 5-fold cross-validated accuracy per size (pooled):")
    print("   " + " " * 26 + " ".join(f"{n:>6s}" for n in sizes) + "  pooled")
    for name, cue in audit.items():
        if "all" not in cue:
            continue
        per = " ".join(f"{cue['by_size'][n]['cv_accuracy']:6.3f}" for n in sizes)
        print(f"   {name:26s}{per}  {cue['all']['cv_accuracy']:.3f} {cue['all']['cv_interval']}")
    for name, model in card["shortcut_audit"]["models"].items():
        per = " ".join(f"{model['by_size'][n]['cv_accuracy']:6.3f}" for n in sizes)
        print(f"   {name:26s}{per}  {model['all']['cv_accuracy']:.3f} {model['all']['cv_interval']}")
    best = {n: max(c["by_size"][n]["cv_accuracy"] for c in audit.values() if "all" in c) for n in sizes}
    print("   best single cue per size: " + ", ".join(f"{n}: {v:.3f}" for n, v in best.items()))
    if control_cues:
        met = {n: t["met"] for n, t in card["control_cues"]["targets"]["by_size"].items()}
        print(f"   targets (best cue <= 0.65, logistic regression <= 0.75 per size) met: {met}")
    print(f"   warnings: {card['shortcut_warnings']}")
    by_cause = defaultdict(lambda: [0, 0])
    for r in s.rows:
        by_cause[r.extra["cause"]][0] += (r.difficulty > 0) == (not r.falls)
        by_cause[r.extra["cause"]][1] += 1
    print("   critical margin sign = label: " + ", ".join(f"{c} {a}/{n}" for c, (a, n) in by_cause.items()))
    if audit_per_size:
        result = physics_audit(out, per_size=audit_per_size, seed=0, workers=workers, progress=False, log=root / "log")
        for line in format_physics_audit(result):
            print("   " + line)


def speed(per_size: int, workers: list[int], root: Path) -> None:
    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.families import get_family

    family = get_family(DOMINO)
    total = per_size * len(family.sizes)
    print(f"\n3. speed: sizes 3-8 x {per_size} at 448 px ({total} stimuli, seed 4242)")
    for w in workers:
        out = root / f"speed-w{w}"
        t0, c0 = time.perf_counter(), cpu()
        generate_set(DOMINO, family.sizes, per_size, 4242, out, workers=w, progress=False)
        dt, dc = time.perf_counter() - t0, cpu() - c0
        card = load_set(out).card
        print(
            f"   {w} worker(s): {total / dt:5.2f} stimuli/s (load {os.getloadavg()[0]:.2f}); "
            f"{dc / total:.3f} CPU s per stimulus; candidates {sum(card['candidates_evaluated'].values())}, "
            f"rejected {card['rejections_total']}, surplus {sum(card['surplus_discarded'].values())}"
        )
    rows = load_set(root / f"speed-w{workers[0]}").rows
    family.answer_by_simulation(rows[0].extra["scene"])
    t0 = time.process_time()
    agree = sum(family.answer_by_simulation(r.extra["scene"]) == r.falls for r in rows)
    print(
        f"   answer_by_simulation: {1000 * (time.process_time() - t0) / len(rows):.1f} ms CPU per item; "
        f"agrees with the label on {agree} of {len(rows)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=40, help="candidates per size and cause (0: skip)")
    ap.add_argument("--per-size", type=int, default=40, help="stimuli per size of the audited set (0: skip)")
    ap.add_argument("--audit-per-size", type=int, default=20, help="items per size re-simulated by audit --physics")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=448, help="of the audited set (labels do not depend on it)")
    ap.add_argument("--speed", default="1,2", help="worker counts for the speed figures ('' to skip)")
    ap.add_argument("--speed-per-size", type=int, default=10)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--control-cues", action="store_true", help="make the audited set cue-controlled")
    a = ap.parse_args()
    if a.per_size % 2 or a.speed_per_size % 2:
        ap.error("--per-size and --speed-per-size must be even (half Yes, half No per size)")
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        if a.candidates:
            c0 = cpu()
            report_candidates(candidates(a.candidates, a.seed, a.workers))
            print(f"   ({cpu() - c0:.0f} CPU s)")
        if a.per_size:
            report_set(a.per_size, a.workers, a.audit_per_size, Path(tmp), a.resolution, a.control_cues)
        if a.speed:
            speed(a.speed_per_size, [int(x) for x in a.speed.split(",")], Path(tmp))


if __name__ == "__main__":
    main()
