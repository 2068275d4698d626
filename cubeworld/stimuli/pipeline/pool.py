"""Running candidates: in this process, or in worker processes that may die.

Candidates are evaluated ahead (a sliding window) but handed out strictly in candidate
order, so a set's bytes never depend on the number of workers.

Workers run in a `ProcessPoolExecutor` (spawn: no inherited GL contexts or threads).
When a worker dies abruptly -- a crash in native code, the out-of-memory killer -- the
executor raises `BrokenProcessPool` for every candidate in flight, instead of waiting
for them forever as `multiprocessing.Pool` does. The lost candidates are evaluated again
in a fresh pool; a candidate's result depends only on its index, so the retried results
are identical. A candidate lost twice ends the generation with a one-line error naming the size
and the candidates; the set folder stays resumable.
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import StimulusFamily
from cubeworld.stimuli.pipeline.candidates import CandidateResult, Job

if TYPE_CHECKING:  # pragma: no cover
    from cubeworld.stimuli.pipeline.arguments import SetArguments
    from cubeworld.stimuli.pipeline.progress import GenerationState

MakeJob = Callable[[int], Job]


class Runner(Protocol):
    """What generation consumes candidates from: their results in candidate order."""

    def results(self, make_job: MakeJob, start: int, missing: Callable[[], int]) -> Iterator[CandidateResult]:
        """Results of candidates start, start + 1, ... of one size (`make_job(k)` says what
        the generation would ask of candidate k now; `missing()` how many stimuli it lacks)."""
        ...

    def close(self) -> None: ...


class Executor(Protocol):
    """Where a generation's candidates are evaluated, when not in worker processes here
    (`cubeworld.stimuli.pipeline.cluster.SlurmExecutor`)."""

    def runner(
        self, out: Path, family: StimulusFamily, config: SetConfig, args: SetArguments, state: GenerationState
    ) -> Runner:
        """A runner for the set being made in `out` (its card written, its log replayed into `state`)."""
        ...


class WorkerLost(RuntimeWarning):
    """A worker process died; its candidates are evaluated again in a fresh pool."""


class InProcess:
    """One worker: evaluate lazily in this process, in candidate order."""

    def __init__(self, family: StimulusFamily, config: SetConfig):
        from cubeworld.stimuli.pipeline.candidates import Evaluator

        self._evaluate = Evaluator(family, config)

    def results(self, make_job: MakeJob, start: int, missing: Callable[[], int]) -> Iterator[CandidateResult]:
        k = start
        while True:
            yield self._evaluate(make_job(k))
            k += 1

    def close(self) -> None:
        pass


class PoolRunner:
    """Several workers: a window of candidates evaluated ahead, consumed in order."""

    def __init__(self, family: StimulusFamily, config: SetConfig, workers: int):
        self._family, self._config = family, config
        self._workers = workers
        self._window = 3 * workers
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        from cubeworld.stimuli.pipeline.candidates import init_worker

        return ProcessPoolExecutor(
            self._workers,
            mp_context=mp.get_context("spawn"),
            initializer=init_worker,
            initargs=(self._family, self._config),
        )

    def _submit(self, job: Job) -> Future:
        from cubeworld.stimuli.pipeline.candidates import run_job

        return self._pool.submit(run_job, job)

    def results(self, make_job: MakeJob, start: int, missing: Callable[[], int]) -> Iterator[CandidateResult]:
        pending: deque[tuple[Job, Future | None]] = deque()
        lost_before: set[int] = set()
        k = start
        while True:
            try:
                # Look ahead less as the size fills, so few candidates are computed in vain.
                window = max(self._workers, min(self._window, 2 * missing()))
                while len(pending) < window:
                    job = make_job(k)
                    k += 1
                    pending.append((job, None))  # in flight even if submitting finds the pool broken
                    pending[-1] = (job, self._submit(job))
                job, future = pending[0]
                result = future.result()  # type: ignore[union-attr]
            except BrokenProcessPool as e:
                pending = self._recover(pending, lost_before, e)
                continue
            pending.popleft()
            yield result

    def _recover(self, pending: deque, lost_before: set[int], error: BrokenProcessPool) -> deque:
        """Start a fresh pool and resubmit every candidate in flight, or stop if one of them
        was lost before."""
        jobs = [job for job, _ in pending]
        lost = [job.k for job in jobs]
        size = jobs[0].size if jobs else "?"
        self._kill()
        again = sorted(lost_before.intersection(lost))
        if again:
            raise StimuliError(
                f"a worker process died twice while evaluating size {size}, candidates {again} "
                f"(crash in native code or out of memory? {error}); run the same command again to resume, "
                "or use --workers 1"
            )
        lost_before.update(lost)
        warnings.warn(
            f"a worker process died; evaluating size {size}, candidates {lost} again in a fresh pool",
            WorkerLost,
            stacklevel=3,
        )
        self._pool = self._start()
        return deque((job, self._submit(job)) for job in jobs)

    def _kill(self) -> None:
        """Stop the pool now: cancel what waits, end the workers (results in flight are
        surplus or lost anyway)."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=10)

    def close(self) -> None:
        self._kill()


def make_runner(family: StimulusFamily, config: SetConfig, workers: int) -> InProcess | PoolRunner:
    return InProcess(family, config) if workers == 1 else PoolRunner(family, config, workers)
