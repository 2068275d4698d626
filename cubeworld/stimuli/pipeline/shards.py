"""Shards: a range of one size's candidates, evaluated apart from the generation that
consumes them (on a cluster node), and read back in candidate order.

Why ranges of candidates: a set's bytes depend only on its card -- candidate k of a size
is drawn from its own random stream, and the generation consumes candidates strictly in
order, keeping a candidate when its quota cell is open. So a shard can evaluate candidates
`start .. stop - 1` of a size without knowing which of them will be kept: it judges each
one as if every label were still wanted and renders every accepted one, and the
generation replays the consumption in order over the shards' results
(`generate_set`'s own loop, fed by `cluster.ShardRunner`). A candidate judged in full
where the one-machine generation stopped early (a label no longer wanted) is surplus
either way: the same log line, the same bytes (`StimulusFamily.judge_wanted`).

What a shard may skip is fixed when it is planned (`plan.json` in its folder): the
labels still wanted per quota-stratum value, given what the shards before it already hold
(a quota cell fills with its first accepted candidates, in order, so a cell those
candidates fill is closed for every later one). A candidate of a closed value is skipped,
one whose label closes is judged only as far as its label -- as on one machine; without a
plan every candidate is judged in full. Either way the merge decides the same.

A shard's folder (`SET/.shards/<name>/`) holds `results.jsonl`, one line per evaluated
candidate in order (its acceptance, reason, label, scene and outcome), and the PNG of each
accepted candidate, written before its line. A killed shard resumes after its last
complete line; its results are the same whichever process or node computed them. The
folder goes when the set is complete (`folder.finish_folder`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cubeworld.formats.atomic import (
    append_jsonl,
    atomic_write_bytes,
    atomic_write_json,
    read_complete_lines,
    truncate_torn_tail,
)
from cubeworld.formats.sets import read_card
from cubeworld.stimuli.catalog import get_family
from cubeworld.stimuli.core.options import check_workers
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.candidates import CandidateResult, Job
from cubeworld.stimuli.pipeline.folder import SHARDS_DIR
from cubeworld.stimuli.pipeline.generate import set_quotas
from cubeworld.stimuli.pipeline.pool import make_runner

RESULTS_FILE = "results.jsonl"
PLAN_FILE = "plan.json"  # {"open": [[value, [labels]], ...]}: the labels still wanted per stratum value
ALL_LABELS = (False, True)  # without a plan a shard judges every candidate as if both labels were wanted


@dataclass(frozen=True, order=True)
class Shard:
    """Candidates `start` .. `stop - 1` of scenes of `size` blocks."""

    size: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"n{self.size}-k{self.start:07d}-{self.stop:07d}"

    def folder(self, out: Path) -> Path:
        return Path(out) / SHARDS_DIR / self.name

    def __len__(self) -> int:
        return self.stop - self.start


def write_plan(shard: Shard, out: Path, open_labels: dict[Any, tuple[bool, ...]]) -> None:
    """Fix what the shard may skip: per stratum value, the labels still wanted (before it runs)."""
    folder = shard.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / PLAN_FILE, {"open": [[v, list(labels)] for v, labels in open_labels.items()]})


def read_plan(shard: Shard, out: Path) -> dict[Any, tuple[bool, ...]] | None:
    path = shard.folder(out) / PLAN_FILE
    if not path.is_file():
        return None
    return {v: tuple(bool(x) for x in labels) for v, labels in json.loads(path.read_text())["open"]}


def _encode(res: CandidateResult) -> dict[str, Any]:
    return {
        "k": res.k,
        "accepted": res.accepted,
        "reason": res.reason,
        "falls": res.falls,
        "scene": res.scene,
        "outcome": res.outcome,
        "png": res.png is not None,
        "skipped": res.skipped,
        "cue": None if res.cue is None else list(res.cue),
    }


def _decode(size: int, entry: dict[str, Any], folder: Path) -> CandidateResult:
    png = (folder / f"{entry['k']:07d}.png").read_bytes() if entry["png"] else None
    return CandidateResult(
        size, int(entry["k"]), bool(entry["accepted"]), entry["reason"], entry["falls"], entry["scene"],
        entry["outcome"], png, skipped=bool(entry.get("skipped", False)),
        cue=None if entry.get("cue", []) is None else tuple(entry.get("cue", [])),
    )  # fmt: skip


def evaluated(shard: Shard, out: Path) -> int:
    """How many of the shard's candidates have their results written (from its start on)."""
    return len(read_complete_lines(shard.folder(out) / RESULTS_FILE))


def is_complete(shard: Shard, out: Path) -> bool:
    return evaluated(shard, out) >= len(shard)


def evaluate_shard(out: str, size: int, start: int, stop: int, workers: int = 1) -> str:
    """A shard's job: evaluate candidates `start` .. `stop - 1` of `size` of the set being
    made in `out` (its card gives the arguments and settings), writing each result as it
    comes; a shard killed before resumes after its last written result. Returns the
    shard's name (what a Slurm job returns)."""
    check_workers(workers)
    out_dir = Path(out)
    card = read_card(out_dir)
    family = get_family(card["domain"])
    args = SetArguments.from_dict(card["arguments"])
    config = SetConfig.from_dict(family, card["settings"])
    if size not in args.sizes or not 0 <= start < stop:
        raise StimuliError(f"{out}: no shard of size {size}, candidates {start} to {stop - 1}, in this set")
    shard = Shard(size, start, stop)
    folder = shard.folder(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / RESULTS_FILE
    truncate_torn_tail(log)
    k = start + evaluated(shard, out_dir)
    if k >= stop:
        return shard.name
    quotas = set_quotas(family, args, config)[size]
    plan = read_plan(shard, out_dir)

    def make_job(j: int) -> Job:
        value = quotas.value_of(j)
        labels = ALL_LABELS if plan is None else plan.get(value, ())
        open_cells = tuple((key, labels) for key in quotas.keys) if labels else ()
        return Job(
            size, j, args.seed, args.resolution, open_cells, stratum=value, skip=not labels,
            controlled=args.control_cues,
        )  # fmt: skip

    at = [k]  # the next candidate to write

    def left() -> int:  # the runner looks ahead less as the shard's end nears
        return max(1, (stop - at[0]) // 2)

    runner = make_runner(family, config, workers)
    try:
        for res in runner.results(make_job, k, left):
            if res.k != at[0]:  # pragma: no cover - runners hand results out in order
                raise RuntimeError(f"shard {shard.name}: candidate {res.k} arrived instead of {at[0]}")
            if res.png is not None:
                atomic_write_bytes(folder / f"{res.k:07d}.png", res.png)
            append_jsonl(log, _encode(res))
            at[0] += 1
            if at[0] >= stop:
                break
    finally:
        runner.close()
    return shard.name


def shard_results(shard: Shard, out: Path, start: int) -> Iterator[CandidateResult]:
    """The shard's results from candidate `start` on, in order (what it has written)."""
    folder = shard.folder(out)
    for line in read_complete_lines(folder / RESULTS_FILE):
        entry = json.loads(line)
        if entry["k"] >= start:
            yield _decode(shard.size, entry, folder)


def existing_shards(out: Path) -> list[Shard]:
    """The shards a generation in `out` planned before (their folders), in order."""
    root = Path(out) / SHARDS_DIR
    found = []
    for p in sorted(root.iterdir()) if root.is_dir() else ():
        try:
            n, a, b = p.name.split("-")
            found.append(Shard(int(n[1:]), int(a[1:]), int(b)))
        except ValueError:
            continue
    return sorted(found)
