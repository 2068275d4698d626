"""Running independent calls in worker processes without ever hanging on a dead worker.

`multiprocessing.Pool` loses a task whose worker dies abruptly (a crash in native code,
the out-of-memory killer) and then waits for it forever. `ProcessPoolExecutor` notices:
every call in flight raises `BrokenProcessPool`. `run_calls` collects what finished,
runs the lost calls once more in a fresh pool (the calls are deterministic, so a retried
result equals the lost one), and if a worker dies again stops with an error that names
the calls left. Workers are spawned (no inherited GL contexts or torch threads), and every
worker watches its parent (`exit_with_parent`): when the command that started it dies, even
by SIGKILL, the worker ends too instead of holding memory and the command's output pipe.

Used by the physics observer and `cubeworld audit --physics`; set generation has its own
streaming pool (`cubeworld.stimuli.pipeline.pool`, ordered consumption of candidates) built on the
same rule.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cubeworld.errors import CubeworldError


class WorkerDied(CubeworldError):
    """A worker process died twice while running the same calls."""


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it is gone.

    Called first in every pool worker of the toolkit (`run_calls`, the image-decoding
    workers of `cubeworld.models.inputs.prefetch`). A thread waits on the parent's
    sentinel (a pipe the parent holds open until it dies, however it dies) and ends the
    process at once; nothing is left to clean up, since workers write no files."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        from multiprocessing.connection import wait

        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker(initializer: Callable[[], None] | None) -> None:
    exit_with_parent()
    if initializer is not None:
        initializer()


def run_calls(
    fn: Callable[..., Any],
    calls: Sequence[tuple],
    *,
    workers: int,
    initializer: Callable[[], None] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
    name_of: Callable[[int], str] = str,
    what: str = "work",
    error: type[CubeworldError] = WorkerDied,
) -> list[Any]:
    """`[fn(*call) for call in calls]`, in `workers` spawned processes (in this one when
    `workers` is 1). `on_result(index, result)` is called as results arrive (progress bars,
    resumable writes). A worker death is survived once; a second one raises `error`
    naming up to five of the calls left (`name_of(index)`)."""
    results: dict[int, Any] = {}

    def done(i: int, value: Any) -> None:
        results[i] = value
        if on_result is not None:
            on_result(i, value)

    if workers <= 1 or len(calls) <= 1:
        for i, call in enumerate(calls):
            done(i, fn(*call))
        return [results[i] for i in range(len(calls))]
    todo = list(range(len(calls)))
    for attempt in (1, 2):
        try:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(todo)),
                initializer=_start_worker,
                initargs=(initializer,),
                mp_context=mp.get_context("spawn"),
            ) as pool:
                futures = {i: pool.submit(fn, *calls[i]) for i in todo}
                for i, f in futures.items():
                    done(i, f.result())
            break
        except BrokenProcessPool:
            todo = [i for i in todo if i not in results]
            if attempt == 2:
                shown = ", ".join(name_of(i) for i in todo[:5])
                raise error(
                    f"{what}: a worker process died twice; {len(todo)} item(s) not done "
                    f"(e.g. {shown}); run again to resume, or use one worker"
                ) from None
    return [results[i] for i in range(len(calls))]
