"""Worker functions for test_pools (importable by spawned workers)."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def square_or_die(x: int, die_on: int, marker: str) -> int:
    """x * x; the worker given `die_on` SIGKILLs itself, once (when `marker` is absent) or
    every time (when `marker` is empty)."""
    if x == die_on and (not marker or not Path(marker).exists()):
        if marker:
            Path(marker).write_text("died once")
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def nap(seconds: float) -> float:
    """Sleep, then return the time slept: a call that is still running when its parent dies."""
    import time

    time.sleep(seconds)
    return seconds


def slow_encode(chunk):
    """An image-decoding stand-in for `prefetch`: slow enough to be killed mid-way."""
    import time

    time.sleep(30)
    return chunk
