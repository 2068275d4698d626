"""Where a training run left off: the one reading of OUT/state.json for every trainer.

A run folder belongs to one configuration. Resuming with different settings would mix two
runs in one folder, so any saved key that changed (other than those the config class
lists in RESUMABLE_CHANGES: where outputs go, evaluation sets, progress bars) is refused, naming the key.
"""

from __future__ import annotations

import json
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
    new = config.to_dict()
    for key, old in state["config"].items():
        if key in config.RESUMABLE_CHANGES:
            continue
        if new.get(key) != old:
            raise error(f"{out}: the run there was started with {key}={old!r}, now "
                        f"{new.get(key)!r}; use another --out for a different run")
    return state
