"""The domino family's figures: labels, robustness, shortcut cues and generation speed.

    .venv/bin/python benchmarks/bench_dominoes.py [--candidates 100] [--per-size 10] [--workers 1,2]

1. Candidates (no rendering): per size, `--candidates` rows drawn exactly as generation
   draws them (seed 777) and judged step by step: rejected near the reach limit, labelled
   by the shared physics, then re-simulated under **every** perturbation of the family's
   `robustness_checks` (not stopping at the first that disagrees), and the rows kept (all
   agree) once more under held-out perturbations the generator never checks. Printed: the
   rejection reasons, the Yes rate before quotas, the agreement per perturbation.
2. Shortcut cues: the accuracy the best threshold on each of the family's cues reaches on
   the kept rows, balanced per size as the quotas balance a set.
3. Generation: stimuli per second end to end through `generate_set` at 448 px with 1 and 2
   workers, and the CPU time per stimulus summed over every process (load does not
   inflate it); then `answer_by_simulation` per item on the set made.

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
    {"timestep": 0.004},
    {"friction": 0.5},
    {"friction": 0.7},
    {"duration": 10.0},
    {"solref": [0.02, 1.0], "cone": "elliptic"},
    {"solref": [0.01, 1.0]},
    {"density": 1000.0},
)


def _name(change: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in change.items())


def candidates(per_size: int, seed: int) -> list[dict]:
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.engine.world import World
    from cubeworld.stimuli.families import get_family
    from cubeworld.stimuli.families.domino.geometry import reach_margin_mm
    from cubeworld.stimuli.families.domino.judge import _classify, simulate_chain
    from cubeworld.stimuli.pipeline.candidates import candidate_rng

    family, cfg = get_family(DOMINO), default_config(DOMINO)
    s, checks = cfg.family, family.robustness_checks(cfg.family)
    world = World(family.capacity, 16, cfg.render)
    out = []
    for n in family.sizes:
        for k in range(per_size):
            scene = family.sample(candidate_rng(seed, family.stream_code, n, k), n, s)
            rec = {
                "n": n,
                "margin": reach_margin_mm([b.to_record() for b in scene.blocks]),
                "scene": scene.record({}),
                "n_blocks": n,
            }
            if abs(rec["margin"]) < 1000 * s.reach_margin:
                rec["reason"] = "near_reach"
            else:
                rec["label"] = _classify(simulate_chain(world, scene.blocks, cfg.physics), s)
                if rec["label"] in ("Yes", "No"):
                    rec["checks"] = [
                        _classify(simulate_chain(world, scene.blocks, cfg.physics.perturbed(c)), s) for c in checks
                    ]
                    if all(x == rec["label"] for x in rec["checks"]):
                        rec["held_out"] = [
                            _classify(simulate_chain(world, scene.blocks, cfg.physics.perturbed(c)), s)
                            for c in HELD_OUT
                        ]
                    else:
                        rec["reason"] = "perturbation_sensitive"
                else:
                    rec["reason"] = rec["label"]
            out.append(rec)
    return out


def report_candidates(recs: list[dict]) -> list[dict]:
    from cubeworld.stimuli.catalog import default_config
    from cubeworld.stimuli.families import get_family

    family = get_family(DOMINO)
    checks = family.robustness_checks(default_config(DOMINO).family)
    by_size = defaultdict(list)
    for r in recs:
        by_size[r["n"]].append(r)
    print("\n1. candidates (drawn as generation draws them; judged without rendering)")
    print("   size  drawn  rejected: near_reach / other / perturbation   kept  Yes among kept  margin sign = label")
    kept_all = []
    for n, rows in sorted(by_size.items()):
        reasons = Counter(r.get("reason") for r in rows if r.get("reason"))
        kept = [r for r in rows if "held_out" in r]
        kept_all += kept
        other = sum(v for k, v in reasons.items() if k not in ("near_reach", "perturbation_sensitive"))
        yes = sum(r["label"] == "Yes" for r in kept)
        sign = sum((r["margin"] > 0) == (r["label"] == "No") for r in kept)
        print(
            f"   {n:4d}  {len(rows):5d}  {reasons['near_reach']:10d} / {other:5d} / {reasons['perturbation_sensitive']:12d}"
            f"   {len(kept):4d}  {yes / max(1, len(kept)):14.2f}  {sign}/{len(kept)}"
        )
    judged = [r for r in recs if "checks" in r]
    print(
        f"   agreement with the shared physics' label, per checked perturbation, on the {len(judged)} rows "
        "labelled before that check (what the check rejects):"
    )
    for i, change in enumerate(checks):
        a = sum(r["checks"][i] == r["label"] for r in judged)
        print(f"     {_name(change):28s} {a}/{len(judged)} = {a / len(judged):.3f}")
    print(f"   agreement of the {len(kept_all)} kept rows under held-out perturbations (never checked):")
    for i, change in enumerate(HELD_OUT):
        a = sum(r["held_out"][i] == r["label"] for r in kept_all)
        print(f"     {_name(change):28s} {a}/{len(kept_all)} = {a / len(kept_all):.4f}")
    return kept_all


def report_cues(kept: list[dict]) -> None:
    """Best-threshold accuracy of each shortcut cue on kept rows balanced per size."""
    from cubeworld.stimuli.families import get_family

    balanced = []
    by_size = defaultdict(lambda: {"Yes": [], "No": []})
    for r in kept:
        by_size[r["n"]][r["label"]].append(r)
    for cells in by_size.values():
        m = min(len(cells["Yes"]), len(cells["No"]))
        balanced += cells["Yes"][:m] + cells["No"][:m]
    print(f"\n2. shortcut cues: best single-threshold accuracy on {len(balanced)} kept rows (half Yes per size)")
    for cue in get_family(DOMINO).shortcut_cues():
        values = [(cue.value(r), r["label"] == "Yes") for r in balanced]
        best = 0
        for t in sorted({v for v, _ in values}):
            above = sum((v > t) == yes for v, yes in values)
            best = max(best, above, len(values) - above)
        print(f"   {cue.name:20s} {best / len(values):.3f}   ({cue.description})")


def cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def generation(per_size: int, workers: list[int], resolution: int) -> None:
    from cubeworld.formats.sets import load_set
    from cubeworld.stimuli import generate_set
    from cubeworld.stimuli.families import get_family

    family = get_family(DOMINO)
    total = per_size * len(family.sizes)
    print(f"\n3. generation, sizes 3-8 x {per_size} at {resolution} px ({total} stimuli, seed 12345)")
    with tempfile.TemporaryDirectory() as tmp:
        for w in workers:
            out = Path(tmp) / f"w{w}"
            t0, c0 = time.perf_counter(), cpu()
            generate_set(DOMINO, family.sizes, per_size, 12345, out, resolution=resolution, workers=w, progress=False)
            dt, dc = time.perf_counter() - t0, cpu() - c0
            card = load_set(out).card
            print(
                f"   {w} worker(s): {total / dt:5.1f} stimuli/s (load {os.getloadavg()[0]:.2f}); "
                f"{dc / total:.3f} CPU s per stimulus; candidates {sum(card['candidates_evaluated'].values())}, "
                f"rejected {card['rejections_total']}, surplus {sum(card['surplus_discarded'].values())}"
            )
        rows = load_set(Path(tmp) / f"w{workers[0]}").rows
        family.answer_by_simulation(rows[0].extra["scene"])
        t0 = time.perf_counter()
        agree = sum(family.answer_by_simulation(r.extra["scene"]) == r.falls for r in rows)
        print(
            f"   answer_by_simulation: {1000 * (time.perf_counter() - t0) / len(rows):.1f} ms per item; "
            f"agrees with the label on {agree} of {len(rows)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=100, help="candidates per size for the label figures")
    ap.add_argument("--per-size", type=int, default=10, help="stimuli per size for the speed figures")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--resolution", type=int, default=448)
    ap.add_argument("--seed", type=int, default=777)
    a = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    if a.candidates:
        c0 = time.process_time()
        kept = report_candidates(candidates(a.candidates, a.seed))
        print(f"   ({time.process_time() - c0:.0f} CPU s)")
        report_cues(kept)
    if a.per_size:
        generation(a.per_size, [int(x) for x in a.workers.split(",")], a.resolution)


if __name__ == "__main__":
    main()
