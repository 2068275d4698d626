"""Encoders for the prefetch tests: importable by spawned workers, and light (a spawned
worker imports this module to unpickle them; the test module would bring pandas)."""

from __future__ import annotations

import os
from pathlib import Path


class Item:
    def __init__(self, stimulus_id: str):
        self.stimulus_id = stimulus_id

    def __eq__(self, other):
        return isinstance(other, Item) and other.stimulus_id == self.stimulus_id


def _name(item) -> str:
    """An item's stimulus id, also of a (set, row) pair."""
    return item[1].stimulus_id if isinstance(item, tuple) else item.stimulus_id


class DieOnce:
    """Encodes a chunk; the worker that meets `victim` kills itself (once, if `marker`)."""

    def __init__(self, marker: str | None, victim: str):
        self.marker, self.victim = marker, victim

    def __call__(self, chunk):
        if any(_name(it) == self.victim for it in chunk):
            if self.marker is None or not Path(self.marker).exists():
                if self.marker:
                    Path(self.marker).touch()
                os.kill(os.getpid(), 9)
        return [_name(it).upper() for it in chunk]
