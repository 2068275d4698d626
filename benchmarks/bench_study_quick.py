"""Time studies/quick.yaml end to end (local executor) into a fresh run store.

    .venv/bin/python benchmarks/bench_study_quick.py [--runs-dir DIR] [--threads N]

Prints the wall time of each phase (sets + tiny model, the runs, the report), the
seconds per run, and the time of a second call (which must do nothing). The README's claim
"about 10 minutes on a 2-core machine" is this script's total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(REPO / "studies/quick.yaml"))
    ap.add_argument("--runs-dir", default=None, help="default: a temporary folder")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run")
    args = ap.parse_args()

    from cubeworld.experiments.config import load_config
    from cubeworld.experiments.prepare import needed_sets, prepare_models, prepare_sets
    from cubeworld.experiments.study import run_study, study_report

    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="cw-bench-")
    cfg = load_config(args.config, runs_dir=runs_dir)
    t0 = time.perf_counter()
    prepare_sets(cfg, needed_sets(cfg), progress=False)
    prepare_models(cfg)
    t1 = time.perf_counter()
    result = run_study(cfg, progress=False, report=False, threads=args.threads)
    t2 = time.perf_counter()
    report = study_report(cfg, progress=False)
    t3 = time.perf_counter()
    again = run_study(cfg, progress=False, report=False, threads=args.threads)
    t4 = time.perf_counter()
    n = len(result.states)
    print(f"study            {cfg.name} -> {cfg.study_dir}")
    print(f"sets + model     {t1 - t0:8.1f} s")
    print(f"runs ({n:2d})        {t2 - t1:8.1f} s   ({(t2 - t1) / max(n, 1):.1f} s per run)")
    print(f"report           {t3 - t2:8.1f} s   {report}")
    print(f"total            {t3 - t0:8.1f} s   ({(t3 - t0) / 60:.1f} min)")
    print(f"second run       {t4 - t3:8.1f} s   ({again.skipped}/{n} already done)")


if __name__ == "__main__":
    main()
