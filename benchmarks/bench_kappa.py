"""Benchmark: kappa of one model against 107 participants, and the full Lerer100 analysis.

1. Compares the vectorised bootstraps of `cubeworld.analysis.kappa_to_humans` - crossed
   (items and participants drawn together, the report's), items only, and the paper's
   participants only - with a plain loop over resamples and participants (crossed), on
   Lerer100 (the copy shipped with cubeworld, or $CUBEWORLD_LERER100). The plain loop runs
   on a slice of the resamples and is extrapolated (printed as such). Also the crossed
   human-human ceiling (every pair of 107 people on every item resample).
2. Times the full analysis of Lerer100 as `cubeworld analyze` runs it - the five
   published zero-shot models, 107 participants, 10,000 crossed resamples for every
   interval, every registered analysis (kappa with one-sided Holm-corrected p-values and
   paired differences, graded alignment with the leave-one-out benchmark and the
   split-half ceiling, calibration, human labels, ...), figures (PNG + PDF) and
   report.html - end to end, and per analysis (its numbers and figures). Target: under
   10 s on an idle 2-core machine.
3. Times the human-study planner's default run (`cubeworld human plan` on Lerer100, both
   designs; target under 30 s), with `bench_human.bench_planner`.

    .venv/bin/python benchmarks/bench_kappa.py [--n-boot 10000] [--loop-boot 300]
        [--full-repeats 3] [--skip-full]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def load_data() -> tuple[np.ndarray, np.ndarray, str]:
    root = lerer100_root()
    if root is not None:
        import pandas as pd

        s = pd.read_csv(root / "stimuli.csv").set_index("image_id")
        h = pd.read_csv(root / "human_responses.csv")
        R = h.pivot(index="image_id", columns="participant", values="response_falls")
        truth = s.loc[R.index, "falls"].to_numpy()
        m = pd.read_csv(root / "model_answers.csv")
        gpt = m[m["model"] == "GPT-4V"].set_index("image_id").loc[R.index, "response_falls"]
        H = (R.to_numpy() == truth[:, None]).astype(float)
        return (gpt.to_numpy() == truth).astype(float), H, f"Lerer100 ({root}), GPT-4V"
    rng = np.random.default_rng(0)
    return (
        (rng.random(100) < 0.6).astype(float),
        (rng.random((100, 107)) < 0.66).astype(float),
        "random 100 items x 107 participants",
    )


def plain_loop(model: np.ndarray, H: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """One resample at a time, one participant at a time: the straightforward version of
    the crossed bootstrap (items and participants drawn together)."""
    rng = np.random.default_rng(seed)
    n, P = H.shape
    out = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        people = rng.integers(0, P, P)
        m = model[idx]
        ks = []
        for j in people:
            h = H[idx, j]
            p_m, p_h = m.mean(), h.mean()
            c_obs = np.mean(m == h)
            c_exp = p_m * p_h + (1 - p_m) * (1 - p_h)
            ks.append((c_obs - c_exp) / (1 - c_exp) if c_exp < 1 else np.nan)
        out[b] = np.nanmean(ks)
    return out


def lerer100_root() -> Path | None:
    from cubeworld.datasets import get_dataset

    root = get_dataset("lerer100").source()
    return root if (root / "stimuli.csv").is_file() else None


def cold_import_seconds() -> float:
    """A fresh interpreter importing what `cubeworld analyze` needs before it works."""
    import subprocess
    import sys

    code = (
        "import time; t = time.perf_counter(); import cubeworld.analysis.pipeline, "
        "cubeworld.analysis.plotting; from cubeworld.analysis import ANALYSES; "
        "[ANALYSES.get(n) for n in ANALYSES.names()]; print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def full_analysis(n_boot: int, repeats: int) -> None:
    """The full Lerer100 analysis: end to end, then per registered analysis."""
    import tempfile
    import warnings

    root = lerer100_root()
    if root is None:
        print("full Lerer100 analysis: skipped (no Lerer100 folder; set CUBEWORLD_LERER100)")
        return
    from cubeworld.analysis import ANALYSES, AnalysisContext, analyze, load_inputs
    from cubeworld.analysis.tables import select_epoch
    from cubeworld.datasets.lerer100 import import_lerer100, import_lerer100_models

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = import_lerer100(root, Path(tmp) / "set")
        m = import_lerer100_models(root, Path(tmp) / "models.csv")
        h = s / "human_responses.csv"
        for name in ANALYSES.names():  # load the modules before timing
            ANALYSES.get(name)
        times = []
        for i in range(repeats):
            t = time.perf_counter()
            analyze([m], Path(tmp) / f"rep{i}", truth=[s], humans=h, n_boot=n_boot, progress=False)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        data = load_inputs([m], [s], h)
        load_s = time.perf_counter() - t
        ctx = AnalysisContext(data, select_epoch(data.predictions), n_boot, 0, "last", ANALYSES)
        per = []
        for name in ANALYSES.names():
            t = time.perf_counter()
            out = ctx.output(name)
            per.append((name, time.perf_counter() - t, len(out.figures)))
    n_models = data.predictions["model"].nunique()
    n_part = data.humans["participant"].nunique()
    print(
        f"\nfull Lerer100 analysis: {n_models} models, {n_part} participants, "
        f"{n_boot:,} resamples, every registered analysis, figures (PNG + PDF), report"
    )
    print(
        f"  analyze() end to end: {min(times):.2f} s (best of {repeats}; all: "
        f"{', '.join(f'{x:.2f}' for x in times)})   target < 10 s on an idle 2-core machine"
    )
    print(f"  reading and checking the inputs: {load_s:.2f} s")
    for name, sec, n_fig in per:
        print(f"  {name:18s} {sec:6.2f} s  ({n_fig} figure{'s' * (n_fig != 1)})")
    print(
        f"  cold start (imports, fresh interpreter): {cold_import_seconds():.2f} s "
        "(paid once per `cubeworld analyze`, not in the figure above)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=10_000)
    ap.add_argument(
        "--loop-boot", type=int, default=300, help="resamples the plain loop runs (its time is scaled to --n-boot)"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--full-repeats", type=int, default=3, help="runs of the full Lerer100 analysis (the best is reported)"
    )
    ap.add_argument("--skip-full", action="store_true", help="only the kappa bootstrap")
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    from cubeworld.analysis import human_human_kappa, kappa_to_humans

    model, H, what = load_data()
    print(f"data: {what}; {H.shape[0]} items x {H.shape[1]} participants; {args.n_boot} resamples")
    rows = []
    for resample in ("crossed", "items", "participants"):
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            est = kappa_to_humans(model, H, n_boot=args.n_boot, seed=0, resample=resample)
            times.append(time.perf_counter() - t)
        rows.append((f"vectorised, resample {resample}", min(times), est))
    t = time.perf_counter()
    boots = plain_loop(model, H, args.loop_boot, seed=0)
    loop_s = (time.perf_counter() - t) * args.n_boot / args.loop_boot
    t = time.perf_counter()
    hh = human_human_kappa(H, n_boot=args.n_boot, seed=0)
    hh_s = time.perf_counter() - t
    print(f"{'method':38s} {'seconds':>9s}  kappa  95% interval")
    for name, sec, est in rows:
        print(f"{name:38s} {sec:9.3f}  {est.kappa:.3f} [{est.ci_low:.3f}, {est.ci_high:.3f}]")
    lo, hi = np.percentile(boots, [2.5, 97.5])
    print(
        f"{'plain loop, resample crossed':38s} {loop_s:9.3f}  {rows[0][2].kappa:.3f} "
        f"[{lo:.3f}, {hi:.3f}]  (ran {args.loop_boot} resamples, time scaled x"
        f"{args.n_boot / args.loop_boot:.0f})"
    )
    print(f"speed-up of the vectorised crossed bootstrap: {loop_s / rows[0][1]:.0f}x")
    print(
        f"human-human ceiling, crossed ({H.shape[1]} participants, "
        f"{H.shape[1] * (H.shape[1] - 1) // 2} pairs): {hh.kappa:.3f} [{hh.ci_low:.3f}, {hh.ci_high:.3f}] "
        f"in {hh_s:.3f} s"
    )
    if not args.skip_full:
        full_analysis(args.n_boot, args.full_repeats)
    from bench_human import bench_planner  # beside this script

    bench_planner()


if __name__ == "__main__":
    main()
