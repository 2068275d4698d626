"""Throughput and latency of the human-study server under concurrent participants.

Starts a real uvicorn server (`python -m cubeworld.human serve`) on 127.0.0.1 over a small
generated set, lets N simulated participants (threads, one HTTP connection each) start,
consent and answer every trial as fast as the server acknowledges, and prints:
acknowledged responses per second and the latency of a response (p50/p95/max).

    .venv/bin/python benchmarks/bench_human.py --participants 50 --items 20
    .venv/bin/python benchmarks/bench_human.py --planner   # also: the planner's default run

Every response is committed to SQLite (WAL, synchronous=FULL) before it is acknowledged, so
the figure includes one fsync per answer.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
from PIL import Image

from cubeworld.formats.answers import answer_for
from cubeworld.formats.sets import StimulusRow
from cubeworld.human.study import create_human_study
from cubeworld.stimuli.families import get_family


def make_set(root: Path, n: int) -> Path:
    (root / "images").mkdir(parents=True)
    lines = []
    for i in range(n):
        falls = i % 2 == 0
        Image.new("RGB", (32, 32), (i % 255, 80, 160)).save(root / f"images/t{i}.png")
        row = StimulusRow(
            f"tower-s0-n3-{i:05d}", f"images/t{i}.png", "tower", 3, falls, answer_for(falls), get_family("tower").prompt
        )
        lines.append(json.dumps(row.to_record()))
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--items", type=int, default=20, help="items each participant answers")
    ap.add_argument("--design", choices=["same", "spread"], default="same")
    ap.add_argument(
        "--planner",
        action="store_true",
        help="also time `cubeworld human plan`'s default run on Lerer100 (both designs)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_items = args.items * (args.participants if args.design == "spread" else 1)
        set_dir = make_set(tmp / "set", n_items)
        kw = {"items": args.items} if args.design == "spread" else {}
        study = create_human_study(set_dir, tmp / "study", args.design, **kw)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cubeworld.human", "serve", str(study), "--port", str(port), "--no-access-log"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        try:
            t0 = time.monotonic()
            while True:
                try:
                    httpx.get(url + "/", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() - t0 > 60:
                        raise SystemExit("server did not start") from None
                    time.sleep(0.1)
            startup = time.monotonic() - t0
            latencies: list[float] = []
            lock = threading.Lock()
            barrier = threading.Barrier(args.participants + 1)

            def participant(i: int) -> None:
                with httpx.Client(base_url=url, timeout=30) as c:
                    s = c.post("/api/session", json={"prolific_pid": f"bench{i:04d}", "session_id": f"s{i}"}).json()
                    h = {"X-Participant-Token": s["token"]}
                    c.post("/api/consent", json={"agree": True}, headers=h)
                    barrier.wait()
                    mine = []
                    for t in s["trials"]:
                        t1 = time.perf_counter()
                        r = c.post(
                            "/api/responses",
                            headers=h,
                            json={
                                "request_id": uuid.uuid4().hex,
                                "stimulus_id": t["stimulus_id"],
                                "trial_index": t["trial_index"],
                                "response": 1,
                                "rt_ms": 700,
                            },
                        )
                        r.raise_for_status()
                        mine.append(time.perf_counter() - t1)
                    c.post("/api/complete", headers=h).raise_for_status()
                with lock:
                    latencies.extend(mine)

            threads = [threading.Thread(target=participant, args=(i,)) for i in range(args.participants)]
            for t in threads:
                t.start()
            barrier.wait()
            t1 = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t1
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        lat = sorted(latencies)
        print(f"design={args.design} participants={args.participants} responses={len(lat)} cpu_cores={os.cpu_count()}")
        print(f"server startup:          {startup:.2f} s")
        print(f"acknowledged responses:  {len(lat) / wall:.0f} /s  (wall {wall:.2f} s)")
        print(
            f"response latency:        p50 {1000 * statistics.median(lat):.1f} ms, "
            f"p95 {1000 * lat[int(0.95 * (len(lat) - 1))]:.1f} ms, max {1000 * lat[-1]:.1f} ms"
        )
    if args.planner:
        bench_planner()


def bench_planner() -> None:
    """The planner's default run (target: under 30 s): pilot loading, simulation, outputs."""
    from cubeworld.human.pilot import lerer100_pilot
    from cubeworld.human.plan import PlanSettings, plan
    from cubeworld.human.plan_report import Pay, write_outputs

    for design in ("same", "spread"):
        t0 = time.perf_counter()
        pilot = lerer100_pilot()
        t1 = time.perf_counter()
        result = plan(pilot, PlanSettings(design=design))
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            write_outputs(result, Pay(), Path(tmp))
        t3 = time.perf_counter()
        print(
            f"planner ({design}, Lerer100, defaults): {t3 - t0:.2f} s "
            f"(pilot {t1 - t0:.2f} s, simulation {t2 - t1:.2f} s, outputs {t3 - t2:.2f} s)"
        )


if __name__ == "__main__":
    main()
