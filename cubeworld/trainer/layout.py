"""The run folder: where a training run keeps what. The one module that spells the layout.

    RUN/state.json                      the run's config, the training data's summary, the
                                        last finished epoch (`last_epoch`), when written
    RUN/log.jsonl                       one record per optimiser step and per epoch
    RUN/checkpoints/epoch-K/            the observer after epoch K (weights or adapter),
                                        and training_state.pt to resume from
    RUN/predictions/epoch-K/<set>.csv   the predictions on each evaluation set after epoch
                                        K (epoch 0 = before training)

Every trainer (`cubeworld.trainer.EpochTrainer` and its plug-ins), the study's run store,
its runner and every observer kind that scores a checkpoint read the layout from here. A
study's run folder is a run folder with the study's markers beside it
(`cubeworld.experiments.store`).

Resuming: a run folder belongs to one configuration. `saved_state` refuses a config that
differs in any saved key other than those the config class lists in `RESUMABLE_CHANGES`
(where outputs go, evaluation sets, progress bars). Absolute paths are compared relative
to the run folder, so a study folder moved or copied whole resumes where it stopped; a
training set that really is another folder is still refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from cubeworld.formats.atomic import append_jsonl, atomic_write_json, read_jsonl, write_jsonl

STATE_FILE = "state.json"
LOG_FILE = "log.jsonl"
TRAINING_STATE = "training_state.pt"
CHECKPOINTS = "checkpoints"
PREDICTIONS = "predictions"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder, and the few operations that must be done one way."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    def checkpoint(self, epoch: int) -> Path:
        return self.root / CHECKPOINTS / f"epoch-{epoch}"

    def training_state(self, epoch: int) -> Path:
        return self.checkpoint(epoch) / TRAINING_STATE

    def predictions(self, epoch: int, set_name: str) -> Path:
        return self.root / PREDICTIONS / f"epoch-{epoch}" / f"{set_name}.csv"

    def prediction_tables(self) -> list[Path]:
        """Every prediction table of every epoch, sorted."""
        return sorted((self.root / PREDICTIONS).glob("epoch-*/*.csv"))

    # -- state ----------------------------------------------------------------------------
    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def last_epoch(self) -> int | None:
        """The last finished epoch (None: no state written yet)."""
        state = self.read_state()
        value = state.get("last_epoch") if state else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def write_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.state_file, state)

    # -- log --------------------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.log_file, record)

    def tidy(self, last_epoch: int) -> None:
        """Create the folder and remove what a kill left: log records of an unfinished epoch
        and half-written checkpoints."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.log_file.exists():
            write_jsonl(self.log_file, [r for r in read_jsonl(self.log_file) if int(r.get("epoch", 0)) <= last_epoch])
        for stale in (self.root / CHECKPOINTS).glob(".epoch-*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)

    # -- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self, epoch: int, write: Callable[[Path], None]) -> Path:
        """`write(folder)` into a temporary folder, then move it into place: a kill never
        leaves a half-written checkpoint under its final name."""
        dest = self.checkpoint(epoch)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return dest


class ResumableConfig(Protocol):
    """What `saved_state` needs of a config."""

    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]]

    def to_plain(self) -> dict[str, Any]: ...


def saved_state(out: str | Path, config: ResumableConfig, error: type[Exception]) -> dict[str, Any] | None:
    """The state.json of the run in `out`, or None for a new run; `error` when it is another run."""
    path = Path(out) / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    saved, new = state["config"], config.to_plain()
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
