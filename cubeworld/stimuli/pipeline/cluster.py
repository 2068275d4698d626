"""Generating a set on a Slurm cluster: shards of candidates as one submitit job array,
merged here in candidate order, so the set is byte for byte the one a single machine makes.

    cubeworld generate towers --sizes 2-7 --per-size 5000 --seed 1 --out sets/t --executor slurm \\
        [--slurm-partition cpu] [--slurm-cpus 4] [--shard-candidates 400]

How (`generate_set(..., executor=SlurmExecutor(options))`): generation runs its usual loop
-- quotas, candidates consumed strictly in order, rows, card -- but takes candidate results
from a `ShardRunner` instead of worker processes. The runner plans **shards** (ranges of
one size's candidates, `pipeline.shards`) for every size still open, enough for the
stimuli it lacks at the rate its candidates have been kept so far (at first
`candidates_per_item`), submits them as one job array, waits, and hands their results out
in order; a size whose shards run out before its quotas are full gets more in another
round. A shard whose job died (killed, timed out, node lost) is submitted again and
resumes after its last written result, up to `attempts` times; a generation killed
meanwhile resumes from its log and its shards (jobs still running are waited for, not
submitted twice). Candidates past the last one consumed are evaluated in vain -- the
price of not waiting for each size's merge -- and are counted on no card.

The backend that runs shards is one small class: `SlurmShards` (submitit on Slurm) or
`InProcessShards` (here, one after another: the same shards and merge without a cluster).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cubeworld.formats.atomic import atomic_write_json
from cubeworld.formats.sets import read_card
from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import StimulusFamily
from cubeworld.stimuli.pipeline.arguments import SetArguments
from cubeworld.stimuli.pipeline.candidates import CandidateResult
from cubeworld.stimuli.pipeline.executor_options import EXECUTORS, SlurmOptions
from cubeworld.stimuli.pipeline.folder import SHARDS_DIR
from cubeworld.stimuli.pipeline.pool import MakeJob
from cubeworld.stimuli.pipeline.progress import GenerationState
from cubeworld.stimuli.pipeline.shards import (
    Shard,
    evaluate_shard,
    evaluated,
    existing_shards,
    is_complete,
    shard_results,
    write_plan,
)

JOBS_FILE = "jobs.json"  # shard name -> Slurm job id of its last submission


# -- backends: who runs a list of shards --------------------------------------------------


class ShardBackend(Protocol):
    def run(self, out: Path, shards: Sequence[Shard], progress: bool) -> None:
        """Evaluate every shard (each resumes what it has); return when none is running."""
        ...


class InProcessShards:
    """Shards evaluated here, one after another, with `workers` processes each: the same
    shards and merge as on a cluster, for machines without one."""

    def __init__(self, workers: int = 1):
        self.workers = workers

    def run(self, out: Path, shards: Sequence[Shard], progress: bool) -> None:
        for shard in shards:
            evaluate_shard(str(out), shard.size, shard.start, shard.stop, self.workers)


class SlurmShards:
    """Shards as one submitit job array per round; each job evaluates one shard (`job`:
    `evaluate_shard`, or a function with its signature that calls it)."""

    def __init__(self, options: SlurmOptions, job: Callable[..., str] = evaluate_shard):
        self.options, self.job = options, job

    def _executor(self, out: Path):
        from cubeworld.slurm import slurm_executor

        o = self.options
        return slurm_executor(
            Path(out) / SHARDS_DIR / "slurm",
            f"cubeworld-generate-{read_card(Path(out)).get('name') or Path(out).name}",
            timeout_min=o.timeout_min,
            mem_gb=o.mem_gb,
            cpus_per_task=o.cpus_per_task,
            array_parallelism=o.array_parallelism,
            partition=o.partition,
            constraint=o.constraint,
            account=o.account,
            qos=o.qos,
            setup=o.setup,
        )

    def _jobs(self, out: Path) -> dict[str, str]:
        try:
            return json.loads((Path(out) / SHARDS_DIR / JOBS_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def run(self, out: Path, shards: Sequence[Shard], progress: bool) -> None:
        from submitit.slurm.slurm import SlurmJob

        jobs = self._jobs(out)
        # A generation killed and started again: a shard whose job is still queued or running is
        # waited for, never submitted a second time (two writers to one shard).
        running: list[SlurmJob] = [
            SlurmJob(Path(out) / SHARDS_DIR / "slurm" / "%j", jobs[s.name])
            for s in shards
            if s.name in jobs and not is_complete(s, out)
        ]
        running = [job for job in running if not job.done(force_check=True)]
        self._wait(running, progress, len(shards))
        todo = [s for s in shards if not is_complete(s, out)]
        if not todo:
            return
        try:
            submitted = self._executor(out).map_array(
                self.job,
                [str(out)] * len(todo),
                [s.size for s in todo],
                [s.start for s in todo],
                [s.stop for s in todo],
                [self.options.cpus_per_task] * len(todo),
            )
        except Exception as e:  # noqa: BLE001 - sbatch missing or refusing: one clear line
            first = str(e).strip().splitlines()
            raise StimuliError(
                f"submitting {len(todo)} shard(s) to Slurm failed: {type(e).__name__}: "
                f"{first[-1] if first else ''} (is sbatch on PATH and SLURM_CONF set? are the --slurm-* "
                "resources possible on this cluster?)"
            ) from None
        jobs.update({s.name: j.job_id for s, j in zip(todo, submitted)})
        atomic_write_json(Path(out) / SHARDS_DIR / JOBS_FILE, jobs)
        self._wait(submitted, progress, len(todo))

    def _wait(self, jobs: Sequence[Any], progress: bool, total: int) -> None:
        if not jobs:
            return
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="shards (slurm)", unit="job", disable=not progress, leave=False)
        pending = list(jobs)
        while pending:
            pending = [job for job in pending if not job.done(force_check=True)]
            bar.n = len(jobs) - len(pending)
            bar.refresh()
            if pending:
                time.sleep(self.options.poll_s)
        bar.close()


def job_error(out: Path, shard: Shard) -> str:
    """The end of the last error a shard's Slurm job wrote, if any (for the message)."""
    try:
        job_id = json.loads((Path(out) / SHARDS_DIR / JOBS_FILE).read_text())[shard.name]
    except (OSError, KeyError, json.JSONDecodeError):
        return ""
    for path in sorted((Path(out) / SHARDS_DIR / "slurm").glob(f"{job_id}*/*.err")):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return f" (job {job_id}: {lines[-1][:300]}; log {path})"
    return f" (job {job_id})"


# -- the runner generation consumes ---------------------------------------------------------


class ShardRunner:
    """Hands generation the results of one size's candidates in order, from shards, planning
    and running more shards (for every open size at once) whenever they run out."""

    MARGIN = 1.25  # plan this much more than the measured rate says is needed

    def __init__(
        self,
        out: Path,
        args: SetArguments,
        state: GenerationState,
        backend: ShardBackend,
        shard_candidates: int,
        candidates_per_item: float,
        attempts: int,
        progress: bool,
    ):
        self.out, self.args, self.state, self.backend = Path(out), args, state, backend
        self.shard_candidates, self.guess, self.attempts, self.progress = (
            shard_candidates,
            candidates_per_item,
            attempts,
            progress,
        )
        self.shards = existing_shards(self.out)
        self.tries: dict[Shard, int] = {}

    # -- what the shards cover -------------------------------------------------------------
    def _covering(self, size: int, k: int) -> Shard | None:
        return next((s for s in self.shards if s.size == size and s.start <= k < s.stop), None)

    def _covered_to(self, size: int) -> int:
        return max((s.stop for s in self.shards if s.size == size), default=0)

    def _accepted(self, size: int, start: int, complete_only: bool = False) -> tuple[int, Counter]:
        """(candidates, accepted results per quota cell (stratum value, cue key, label)) in the shards of
        `size` from candidate `start` on (only finished shards: what rates are measured on)."""
        quotas = self.state.cells[size].quotas
        n, cells = 0, Counter[tuple[Any, Any, bool]]()
        for shard in self.shards:
            if shard.size != size or shard.stop <= start or (complete_only and not is_complete(shard, self.out)):
                continue
            for res in shard_results(shard, self.out, start):
                n += not res.skipped
                if res.accepted and res.falls is not None:
                    cells[(quotas.value_of(res.k), res.cue, bool(res.falls))] += 1
        return n, cells

    def _lacking(self, size: int, start: int) -> dict[tuple[Any, Any, bool], int]:
        """Per quota cell still open: the stimuli it lacks beyond the accepted candidates the
        shards hold from `start` on (each cell fills with its first accepted candidates, in order)."""
        cell = self.state.cells[size]
        _, ahead = self._accepted(size, start)
        lacking = {}
        for key, target in cell.quotas.cell_target.items():
            short = target - cell.by_value[key] - ahead[key]
            if short > 0:
                lacking[key] = short
        return lacking

    def _want(self, size: int, lacking: dict[tuple[Any, Any, bool], int]) -> int:
        """Candidates to plan for `lacking`: at each cell's rate in the finished shards (a cell
        not seen yet: the first guess, or twice the candidates evaluated so far), with a
        margin; and never less than half of what the size has had, so rounds grow."""
        n, seen = self._accepted(size, 0, complete_only=True)
        cells = max(1, len(self.state.cells[size].quotas.cell_target))
        guess = self.guess * cells  # a cell holds 1 / cells of the stimuli, each costing `guess` candidates
        want = 0.0
        for key, short in lacking.items():
            rate = n / seen[key] if seen[key] else max(guess, 2.0 * n)
            want = max(want, short * rate)
        return math.ceil(max(want * self.MARGIN, self._covered_to(size) / 2.0, 1.0))

    # -- planning and running --------------------------------------------------------------
    def _plan(self, size: int, start: int, count: int) -> list[Shard]:
        """New shards of `size` after its covered candidates, `count` candidates in all, never
        past the candidate limit (candidate `limit` itself is evaluated: it ends the
        generation with the limit's error, as on one machine)."""
        limit = self.state.cells[size].quotas.limit + 1
        begin = max(self._covered_to(size), start)
        end = min(limit, begin + count)
        if end <= begin:
            return []
        pieces = math.ceil((end - begin) / self.shard_candidates)
        step = math.ceil((end - begin) / pieces)
        return [Shard(size, a, min(end, a + step)) for a in range(begin, end, step)]

    def _round(self, size: int, k: int) -> None:
        """Shards for `size` from candidate k, where its shards ran out, and for every other
        open size whose shards do not hold enough accepted candidates for each quota cell;
        then run every shard not finished."""
        new: list[Shard] = []
        for s, cell in self.state.cells.items():
            if cell.complete:
                continue
            start = k if s == size else cell.next_k
            lacking = self._lacking(s, start)
            if s == size and not lacking:  # pragma: no cover - a size whose shards ran out lacks stimuli
                lacking = {(None, (), True): 1}
            if lacking:
                values = self.state.cells[s].quotas.values
                # per stratum value, the labels some cue key of it still lacks (a shard judges those)
                open_labels = {
                    v: tuple(lbl for lbl in (False, True) if any(c[0] == v and c[2] == lbl for c in lacking))
                    for v in values
                }
                for shard in self._plan(s, start, self._want(s, lacking)):
                    write_plan(shard, self.out, open_labels)  # planned: its folder and plan say so
                    new.append(shard)
        self.shards = sorted({*self.shards, *new})
        self._run_until_complete([s for s in self.shards if not is_complete(s, self.out)])

    def _run_until_complete(self, shards: list[Shard]) -> None:
        while shards:
            for shard in shards:
                self.tries[shard] = self.tries.get(shard, 0) + 1
                if self.tries[shard] > self.attempts:
                    raise StimuliError(
                        f"shard {shard.name} of {self.out} did not finish in {self.attempts} attempts: "
                        f"{evaluated(shard, self.out)} of {len(shard)} candidates evaluated"
                        f"{job_error(self.out, shard)}; run the same command again to resume"
                    )
            self.backend.run(self.out, shards, self.progress)
            shards = [s for s in shards if not is_complete(s, self.out)]

    # -- the Runner protocol ---------------------------------------------------------------
    def results(self, make_job: MakeJob, start: int, missing: Callable[[], int]) -> Iterator[CandidateResult]:
        size = make_job(start).size
        k = start
        while True:
            shard = self._covering(size, k)
            if shard is None or not is_complete(shard, self.out):
                self._round(size, k)
                shard = self._covering(size, k)
                if shard is None:  # pragma: no cover - a round always covers k below the limit
                    raise RuntimeError(f"no shard covers candidate {k} of size {size}")
            for res in shard_results(shard, self.out, k):
                yield res
                k += 1

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class SlurmExecutor:
    """`generate_set(..., executor=SlurmExecutor(options))`: the set's candidates evaluated in
    shards on Slurm (or, with `backend=InProcessShards()`, here), merged in order."""

    options: SlurmOptions = SlurmOptions()
    progress: bool = True
    backend: ShardBackend | None = None

    def runner(
        self, out: Path, family: StimulusFamily, config: SetConfig, args: SetArguments, state: GenerationState
    ) -> ShardRunner:
        backend = self.backend if self.backend is not None else SlurmShards(self.options)
        return ShardRunner(
            out,
            args,
            state,
            backend,
            self.options.shard_candidates,
            self.options.candidates_per_item,
            self.options.attempts,
            self.progress,
        )


def make_executor(executor: str, slurm: SlurmOptions | None = None, progress: bool = True) -> SlurmExecutor | None:
    """The `executor` argument of `generate_set` for an executor name ('local': None)."""
    if executor not in EXECUTORS:
        raise StimuliError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor == "local":
        return None
    import shutil

    if shutil.which("sbatch") is None:
        raise StimuliError("--executor slurm: no sbatch on PATH; run it where Slurm jobs are submitted")
    return SlurmExecutor(slurm or SlurmOptions(), progress)
