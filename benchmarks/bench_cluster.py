"""Paper-scale sets on one machine and on Slurm: measured per-stimulus cost, extrapolated.

    .venv/bin/python benchmarks/bench_cluster.py [--per-size 20] [--slurm-per-size 60] [--machine-workers 8,32]

1. CPU per stimulus of each of the study's fine-tuning presets (10,000 stimuli each), measured
   on a scaled copy: the preset's sizes and seed, `--per-size` per size, 448 px, one worker
   (CPU summed over every process, so load does not inflate it much). The 10,000-stimulus
   preset is **extrapolated** from it: one machine with W free cores takes about
   10,000 x CPU / W (W = 2 and each of `--machine-workers`).
2. The shard machinery's own cost, measured here with in-process shards on the towers 2-4
   copy: candidates evaluated in shards per candidate consumed (work past the last one the
   merge needed), and the merge's time per stimulus (reading results, copying images,
   writing rows: what the submitting process does).
3. A real Slurm run (the single-node cluster the tests start; needs its Debian packages):
   towers 2-4 x `--slurm-per-size` made with `--executor slurm` (shards of
   `--shard-candidates`, 1 CPU per job, the machine's cores as the cluster) and with 2 local
   workers, back to back: wall time, shard jobs, the per-job start-up (a job's import and
   MuJoCo set-up), and that both sets are byte-identical. With S shard jobs of c CPUs
   running at once, a preset takes about its one-core time x waste / (S x c) + one job's
   start-up + the merge: printed for S x c = 64 and 512.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

FINE_TUNING = ("towers-2-4", "towers-5-7", "pyramids-3-6", "pyramids-10-15", "dominoes-3-5", "dominoes-6-8")
PRESET_TOTAL = 10_000


def cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _fmt(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def per_stimulus(per_size: int, root: Path, machine_workers: list[int]) -> dict[str, float]:
    from cubeworld.stimuli import generate_set, list_presets

    presets = list_presets()
    print(f"1. CPU per stimulus (scaled copies of the fine-tuning presets, {per_size} per size, 448 px, 1 worker)")
    head = "   preset            CPU s/stim   10,000 on 2 cores" + "".join(f"   on {w} cores" for w in machine_workers)
    print(head)
    out = {}
    for name in FINE_TUNING:
        spec = presets[name]
        c0 = cpu()
        generate_set(spec["domain"], spec["sizes"], per_size, spec["seed"], root / name, workers=1, progress=False)
        per = (cpu() - c0) / (per_size * len(spec["sizes"]))
        out[name] = per
        times = "".join(f"   {_fmt(PRESET_TOTAL * per / w):>11s}" for w in machine_workers)
        print(f"   {name:16s} {per:10.3f}   {_fmt(PRESET_TOTAL * per / 2):>17s}{times}")
    return out


class _Timed:
    """In-process shards, timed: what the backend spends is evaluation, the rest is merge."""

    def __init__(self):
        from cubeworld.stimuli.pipeline.cluster import InProcessShards

        self.inner, self.seconds, self.evaluated = InProcessShards(), 0.0, 0

    def run(self, out, shards, progress):
        t0 = time.perf_counter()
        self.inner.run(out, shards, progress)
        self.seconds += time.perf_counter() - t0
        self.evaluated += sum(len(s) for s in shards)


def shard_overhead(per_size: int, root: Path) -> tuple[float, float]:
    import json

    from cubeworld.stimuli import generate_set, list_presets
    from cubeworld.stimuli.pipeline.cluster import SlurmExecutor, SlurmOptions

    spec = list_presets()["towers-2-4"]
    timed = _Timed()
    executor = SlurmExecutor(SlurmOptions(shard_candidates=50), progress=False, backend=timed)
    t0 = time.perf_counter()
    out = generate_set(
        spec["domain"], spec["sizes"], per_size, spec["seed"], root / "sharded", executor=executor, progress=False
    )
    total = time.perf_counter() - t0
    card = json.loads((out / "dataset.json").read_text())
    consumed = sum(card["candidates_evaluated"].values())
    n = per_size * len(spec["sizes"])
    waste = timed.evaluated / consumed
    merge = (total - timed.seconds) / n
    print(
        f"\n2. shards (in-process, towers 2-4 x {per_size}, shards of 50): {timed.evaluated} candidates evaluated "
        f"for {consumed} consumed ({waste:.2f}x); merge {1000 * merge:.1f} ms per stimulus "
        f"(load {os.getloadavg()[0]:.2f})"
    )
    return waste, merge


def slurm_run(
    per_size: int, shard_candidates: int, root: Path, cpu_per: dict[str, float], waste: float, merge: float
) -> None:
    from cubeworld.experiments.testing.slurm_cluster import LocalSlurmCluster, missing_binaries
    from cubeworld.stimuli import generate_set, list_presets
    from cubeworld.stimuli.pipeline.cluster import SlurmExecutor, SlurmOptions

    if missing_binaries():
        print(f"\n3. Slurm: skipped, missing {missing_binaries()}")
        return
    spec = list_presets()["towers-2-4"]
    n = per_size * len(spec["sizes"])
    with LocalSlurmCluster():
        options = SlurmOptions(shard_candidates=shard_candidates, cpus_per_task=1, mem_gb=2, poll_s=1.0)
        t0 = time.perf_counter()
        made = generate_set(
            spec["domain"],
            spec["sizes"],
            per_size,
            spec["seed"],
            root / "slurm",
            executor=SlurmExecutor(options, progress=False),
            progress=False,
        )
        slurm_s = time.perf_counter() - t0
        import json
        import subprocess

        name = json.loads((made / "dataset.json").read_text())["name"]
        listed = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID", "--name", f"cubeworld-generate-{name}"],
            capture_output=True,
            text=True,
        ).stdout.split()
    t0 = time.perf_counter()
    local = generate_set(
        spec["domain"], spec["sizes"], per_size, spec["seed"], root / "local", workers=2, progress=False
    )
    local_s = time.perf_counter() - t0
    same = all((made / p.relative_to(local)).read_bytes() == p.read_bytes() for p in local.rglob("*") if p.is_file())
    start_up = _job_start_up()
    print(
        f"\n3. Slurm (single-node cluster on this machine, {os.cpu_count()} cores): towers 2-4 x {per_size} ({n} "
        f"stimuli) in {slurm_s:.0f} s as {len(listed)} shard jobs of up to {shard_candidates} candidates on 1 CPU each, {local_s:.0f} s "
        f"with 2 local workers (load {os.getloadavg()[0]:.2f}); byte-identical: {same}; a shard job's start-up "
        f"(imports, MuJoCo worlds, renderer): {start_up:.1f} s"
    )
    print(
        "   extrapolated, 10,000 stimuli with S x c CPUs in shard jobs at once (one-core CPU x waste / (S x c) "
        "+ a job's start-up + the merge here):"
    )
    for name, per in cpu_per.items():
        cols = []
        for cores in (64, 512):
            cols.append(_fmt(PRESET_TOTAL * per * waste / cores + start_up + PRESET_TOTAL * merge))
        print(f"     {name:16s} 64 CPUs: {cols[0]:>8s}   512 CPUs: {cols[1]:>8s}")


def _job_start_up() -> float:
    """What a shard job spends before its first candidate: import, the card, the worlds."""
    import subprocess
    import sys

    code = (
        "import time; t=time.perf_counter(); from cubeworld.stimuli.pipeline.candidates import Evaluator; "
        "from cubeworld.stimuli.catalog import default_config, get_family; "
        "e=Evaluator(get_family('tower'), default_config('tower')); e.world(3); e.render_world(448, 3); "
        "print(time.perf_counter()-t)"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-size", type=int, default=20)
    ap.add_argument("--machine-workers", default="8,32")
    ap.add_argument("--slurm-per-size", type=int, default=60)
    ap.add_argument("--shard-candidates", type=int, default=40)
    a = ap.parse_args()
    if a.slurm_per_size % 2 or a.per_size % 2:
        ap.error("--per-size and --slurm-per-size must be even (half Yes, half No per size)")
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per = per_stimulus(a.per_size, root, [int(w) for w in a.machine_workers.split(",")])
        waste, merge = shard_overhead(a.per_size, root)
        if a.slurm_per_size:
            slurm_run(a.slurm_per_size, a.shard_candidates, root, per, waste, merge)


if __name__ == "__main__":
    main()
