"""Where a training run left off: the one reading of OUT/state.json for every trainer.

A run folder belongs to one configuration. Resuming with different settings would mix two
runs in one folder, so any saved key that changed (other than those the config class
lists in RESUMABLE_CHANGES: where outputs go, evaluation sets, progress bars) is refused, naming the key.

Absolute paths (the training sets, a local model, a labels table) are compared relative to
the run folder, so a study folder moved or copied whole, sets and runs together, resumes
where it stopped; a training set that really is another folder is still refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

STATE_FILE = "state.json"


class ResumableConfig(Protocol):
    RESUMABLE_CHANGES: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]: ...


def saved_state(out: Path, config: ResumableConfig, error: type[Exception]) -> dict[str, Any] | None:
    """The state.json of the run in `out`, or None for a new run; `error` when it is another run."""
    path = Path(out) / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    saved, new = state["config"], config.to_dict()
    for key, old in saved.items():
        if key in config.RESUMABLE_CHANGES:
            continue
        if _portable(new.get(key), new["out"]) != _portable(old, saved.get("out", new["out"])):
            raise error(
                f"{out}: the run there was started with {key}={old!r}, now "
                f"{new.get(key)!r}; use another --out for a different run"
            )
    return state


def _portable(value: Any, out: str) -> Any:
    """`value` with every absolute path in it written relative to the run folder `out`."""
    if isinstance(value, str):
        return os.path.relpath(value, os.path.abspath(out)) if os.path.isabs(value) else value
    if isinstance(value, dict):
        return {k: _portable(v, out) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v, out) for v in value]
    return value
