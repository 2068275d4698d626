"""How the stage's commands run, not what they make: the worker processes, declared once.

Never on a card: the bytes of a set or an audit do not depend on the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.plain import bounds
from cubeworld.typed import setting

MAX_WORKERS = 512


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """The worker processes of `generate`, `audit --physics` and the demo."""

    workers: int | None = setting(None, help="Worker processes (default: all cores).", minimum=1, maximum=MAX_WORKERS)


def check_workers(workers: Any) -> None:
    """A StimuliError unless `workers` is a whole number within `WorkerOptions`' bounds."""
    lo, hi = bounds(WorkerOptions, "workers")
    if isinstance(workers, bool) or not isinstance(workers, int) or not lo <= workers <= hi:
        raise StimuliError(f"workers must be an integer from {lo} to {hi}, got {workers!r}")
