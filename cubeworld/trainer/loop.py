"""One resumable epoch loop with per-epoch evaluation: the base every trainer plugs into.

Why one loop: resuming a killed run to exactly the numbers an uninterrupted run gives
takes care (the RNG streams, the optimiser's and scheduler's state, what a kill leaves
half-written, which predictions an epoch must have), and it is the same care for every
observer that learns. The base class owns it; a plug-in (the VLM's supervised
fine-tuning, the CNN, and any later method such as GRPO) fills hooks:

    prepare()                 check inputs and draw the data; nothing is written yet
    build(resume_from)        the model, from the checkpoint to resume from or fresh, and
                              the optimiser / scheduler
    train_epoch(epoch)        one epoch, however the plug-in likes (its own inner loop, a
                              library's trainer for one epoch); `log_step` records steps
    save(folder, epoch)       the model's files into a checkpoint folder
    training_state()          what resuming needs beyond the model (optimiser, scheduler)
    restore(state)            the inverse of training_state
    evaluate(epoch, tables)   score each evaluation set into its table
    state_record()            the plug-in's keys of state.json

The base owns the rest: refusing another run's folder, creating nothing until the inputs
are checked, seeding, the epoch-0 evaluation, the checkpoints (written aside, moved into
place), the RNG state saved with them, `log.jsonl`, `state.json` and the per-epoch
predictions. A killed run, called again with the same config, restarts from the last
finished epoch and ends with what an uninterrupted run gives; a finished run called again
does nothing (it loads no model and writes nothing).
"""

from __future__ import annotations

import random
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cubeworld.errors import CubeworldError
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.trainer.layout import TRAINING_STATE, RunFolder, saved_state
from cubeworld.typed import setting, to_plain

TIMESTAMP_KEY = "updated"  # the one time stamp a run records (state.json); all else is deterministic


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What every trainer's config holds beside its own settings: where the run writes, what
    it scores after each epoch, and the labels of its predictions' columns. A trainer's
    config (FinetuneConfig, CnnConfig) inherits it with the data draw (`DataDraw`) and
    adds `epochs` and its own settings."""

    out: str = setting(help="Run folder (resumes if it holds the same run).")
    eval_sets: tuple[str, ...] = setting((), help="Evaluate after each epoch (repeatable).", cli="--eval-set")
    condition: str = setting("", help="The condition column of the predictions written.")
    adapter_label: str | None = setting(None, help="The adapter column (default: the run folder's name).", cli=False)
    model_label: str | None = setting(None, help="The model column (default: the model's name).", cli=False)
    progress: bool = setting(True, help="Progress bars.")

    # Fields that may change when a run is resumed (they do not change what is trained).
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = ("out", "progress", "eval_sets", "eval_batch_size")

    def to_plain(self) -> dict[str, Any]:
        return to_plain(self)


def seed_everything(seed: int) -> None:
    """Seed torch's, Python's and NumPy's global generators: two runs of one config then
    save identical RNG states in their checkpoints."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def canonical(value: Any) -> Any:
    """`value` with every string in it interned. Pickle writes a string it has met before as
    a back-reference to the same object: a state resumed from a file holds fresh string
    objects where an uninterrupted run holds shared ones, and the two files would differ in
    bytes while equal in content. Interned, they are written alike."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {canonical(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, tuple):
        return tuple(canonical(v) for v in value)
    return value


class EpochTrainer(ABC):
    """Base of every trainer; `config` has at least `out`, `epochs`, `seed`, `eval_sets`,
    `progress`, `adapter_label`, `to_plain()` and `RESUMABLE_CHANGES`."""

    error: ClassVar[type[CubeworldError]] = CubeworldError
    # Whether the untrained observer is saved as checkpoint epoch-0 (a CNN's random init is
    # an observer worth scoring later; a VLM's epoch 0 is its base model).
    checkpoint_before_training: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config
        self.folder = RunFolder(Path(config.out))
        self.step = 0
        self.eval_sets: list[StimulusSet] = []

    # -- hooks --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check the inputs and draw the training data (raise `error`); write nothing."""
        return None

    @abstractmethod
    def build(self, resume_from: Path | None) -> None:
        """Make the model (from `resume_from` when resuming) and its optimiser."""

    @abstractmethod
    def train_epoch(self, epoch: int) -> float:
        """Train one epoch; return its mean loss. Call `log_step` after each optimiser step."""

    @abstractmethod
    def save(self, folder: Path, epoch: int) -> None:
        """Write the model's files (weights or adapter, what it needs to load) to `folder`."""

    def training_state(self) -> dict[str, Any]:
        """What resuming needs beyond the model and the global RNGs (optimiser, scheduler)."""
        return {}

    def rng_extras(self) -> dict[str, Any]:
        """Generators of the plug-in's own, saved with the global RNG states."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Restore what `training_state` and `rng_extras` saved."""
        return None

    @abstractmethod
    def evaluate(self, epoch: int, tables: Sequence[tuple[StimulusSet, Path]]) -> None:
        """Score each set into its table (rows already there are kept)."""

    def state_record(self) -> dict[str, Any]:
        """The plug-in's own keys of state.json (method, data summary, architecture, ...)."""
        return {}

    # -- what the plug-ins call ------------------------------------------------------------
    def log_step(self, epoch: int, loss: float, lr: float, **extra: float) -> None:
        """Record one optimiser step; `extra` adds a plug-in's own figures (GRPO: the mean
        reward of the step's completions)."""
        self.step += 1
        self.folder.log({"record": "step", "epoch": epoch, "step": self.step, "loss": loss, "lr": lr, **extra})

    @property
    def adapter_label(self) -> str:
        """The `adapter` column of the run's predictions: the run folder's name by default."""
        label = getattr(self.config, "adapter_label", None)
        return label if label is not None else self.folder.root.name

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> Path:
        """Run, resume, or (finished) do nothing; return the run folder."""
        import torch

        cfg = self.config
        state = saved_state(self.folder.root, cfg, self.error)
        if state and state.get("last_epoch", 0) >= cfg.epochs:
            return self.folder.root
        self.eval_sets = [load_set(d) for d in cfg.eval_sets]  # bad evaluation sets fail now
        self.prepare()
        last = int(state["last_epoch"]) if state else 0
        resume_from = self.folder.checkpoint(last) if last > 0 else None
        if resume_from is not None and not (resume_from / TRAINING_STATE).is_file():
            raise self.error(
                f"{self.folder.root}: state.json says epoch {last} is finished, but "
                f"{resume_from} has no {TRAINING_STATE} to resume from"
            )
        seed_everything(int(cfg.seed))
        self.build(resume_from)
        self.folder.tidy(last)  # only now: bad input leaves nothing behind
        if resume_from is None:
            if self.checkpoint_before_training:
                self.folder.save_checkpoint(0, lambda d: self.save(d, 0))
            self._evaluate(0)
            self._write_state(0)
        else:
            saved = torch.load(resume_from / TRAINING_STATE, map_location="cpu", weights_only=False)
            set_rng_state(saved["rng"])
            self.restore(saved)
            self.step = int(saved["step"])
            # The kill may have come between the checkpoint and its predictions.
            self._evaluate(last)
        for epoch in range(last + 1, cfg.epochs + 1):
            loss = self.train_epoch(epoch)
            self.folder.log({"record": "epoch", "epoch": epoch, "step": self.step, "loss": loss})
            self.folder.save_checkpoint(epoch, lambda d, epoch=epoch: self._save_with_state(d, epoch))
            self._evaluate(epoch)
            self._write_state(epoch)
        return self.folder.root

    def _save_with_state(self, folder: Path, epoch: int) -> None:
        import torch

        self.save(folder, epoch)
        rng = {**rng_state(), **self.rng_extras()}
        state = {**self.training_state(), "rng": rng, "step": self.step, "epoch": epoch}
        torch.save(canonical(state), folder / TRAINING_STATE)

    def _evaluate(self, epoch: int) -> None:
        if self.eval_sets:
            self.evaluate(epoch, [(s, self.folder.predictions(epoch, s.name)) for s in self.eval_sets])

    def _write_state(self, epoch: int) -> None:
        self.folder.write_state(
            {
                "config": self.config.to_plain(),
                "last_epoch": epoch,
                "finished": epoch >= self.config.epochs,
                **self.state_record(),
                TIMESTAMP_KEY: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
