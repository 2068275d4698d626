"""Helpers of the study tests: hand-made sets and a plain run body.

The plain body is a real, resumable, per-epoch function (no model): it lets the run
store and both executors be tested in seconds. The studies of the real stages (tiny model)
are in test_experiments_study.py. (A uniquely named module: every test folder has its own
conftest.py, so `import conftest` would be ambiguous.)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from cubeworld.formats.answers import answer_for
from cubeworld.formats.atomic import atomic_write_json, write_jsonl
from cubeworld.formats.predictions import PredictionWriter
from cubeworld.formats.sets import load_set
from cubeworld.stimuli.families import get_family

SLEEP_ENV = "CUBEWORLD_TEST_EPOCH_SLEEP"


def make_set(root: Path, name: str, domain: str, sizes=(2, 3), per_cell: int = 2) -> Path:
    """A small valid stimulus set written by hand (1x1 PNG images)."""
    from PIL import Image

    d = root / name
    (d / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for n in sizes:
        for falls in (False, True):
            for i in range(per_cell):
                sid = f"{name}-n{n}-{int(falls)}-{i}"
                Image.new("RGB", (8, 8), (n * 20, 100 * falls, i * 30)).save(d / "images" / f"{sid}.png")
                rows.append(
                    {
                        "file_name": f"images/{sid}.png",
                        "stimulus_id": sid,
                        "domain": domain,
                        "n_blocks": n,
                        "falls": falls,
                        "answer": answer_for(falls),
                        "prompt": get_family(domain).prompt,
                    }
                )
    write_jsonl(d / "metadata.jsonl", rows)
    atomic_write_json(
        d / "dataset.json",
        {
            "name": name,
            "domain": domain,
            "generator": "test",
            "generator_version": 1,
            "seed": 0,
            "arguments": {},
            "counts": {},
        },
    )
    return d


def plain_body(task) -> None:
    """A real resumable 'training': per epoch, deterministic predictions + state.json;
    sets added later are scored for every epoch (like the real runner, from 'checkpoints')."""
    from cubeworld.experiments.store import record_evaluation

    spec = task.spec
    state_file = spec.dir / "state.json"
    zero_shot = spec.resolved["condition"]["zero_shot"]
    last = 0 if zero_shot else task.epochs
    start = json.loads(state_file.read_text())["last_epoch"] + 1 if state_file.exists() else (0 if zero_shot else 1)
    for epoch in range(start, last + 1):
        time.sleep(float(os.environ.get(SLEEP_ENV, "0")))
        _score(task, epoch)
        atomic_write_json(state_file, {"last_epoch": epoch})
    for epoch in spec.epochs:  # a set added after training: scored from the 'checkpoints'
        _score(task, epoch)
    for name, _ in task.evaluation:
        record_evaluation(spec, name, list(spec.epochs))


def _score(task, epoch: int) -> None:
    spec = task.spec
    for _, set_dir in task.evaluation:
        s = load_set(set_dir)
        w = PredictionWriter(spec.dir / "predictions" / f"epoch-{epoch}" / f"{s.name}.csv")
        done = w.done_keys()
        rows = []
        for r in s.rows:
            h = hashlib.sha256(f"{r.stimulus_id}|{spec.condition}|{spec.seed}|{epoch}".encode())
            p = int.from_bytes(h.digest()[:4], "big") / 2**32
            answer = "Yes" if p >= 0.5 else "No"
            row = {
                "stimulus_id": r.stimulus_id,
                "set": s.name,
                "domain": r.domain,
                "n_blocks": r.n_blocks,
                "falls": r.falls,
                "model": spec.model,
                "adapter": "",
                "condition": spec.condition,
                "seed": "" if spec.seed is None else spec.seed,
                "epoch": epoch,
                "p_yes": round(p, 6),
                "answer": answer,
                "correct": answer == r.answer,
            }
            if PredictionWriter.key_of(row) not in done:
                rows.append(row)
        if rows:
            w.append(rows)


def plain_config(root: Path, *, epochs: int = 2, seeds=(0, 1), executor: str = "local", extra: str = "") -> Path:
    """A study over hand-made sets for the plain body (no generation, no model)."""
    sets = root / "sets"
    if not sets.exists():
        make_set(sets, "towers-small", "tower")
        make_set(sets, "pyramids-small", "pyramid", sizes=(3, 6))
        make_set(sets, "towers-eval", "tower", per_cell=1)
        make_set(sets, "pyramids-eval", "pyramid", sizes=(3, 6), per_cell=1)
    cfg = root / "plain.yaml"
    cfg.write_text(f"""\
name: plain
runs_dir: runs
models:
  base: {{source: some/hub-model}}
sets:
  towers: {{path: sets/towers-small}}
  pyramids: {{path: sets/pyramids-small}}
  towers-eval: {{path: sets/towers-eval}}
  pyramids-eval: {{path: sets/pyramids-eval}}
conditions:
  zero-shot: {{zero_shot: true}}
  towers: {{train: [towers]}}
  joint: {{size: 8, train: [{{set: towers, proportion: 0.5}}, {{set: pyramids, proportion: 0.5}}]}}
evaluation: [towers-eval, pyramids-eval]
seeds: [{", ".join(str(s) for s in seeds)}]
training: {{epochs: {epochs}}}
executor:
  kind: {executor}
  slurm: {{gpus_per_node: 0, cpus_per_task: 1, mem_gb: 1, timeout_min: 10, poll_s: 1}}
{extra}""")
    return cfg


def read_all_predictions(study_dir: Path) -> dict[str, bytes]:
    """relative path -> bytes of every prediction table under a study folder."""
    return {
        str(p.relative_to(study_dir)): p.read_bytes()
        for p in sorted(study_dir.glob("*/*/seed-*/predictions/epoch-*/*.csv"))
    }
