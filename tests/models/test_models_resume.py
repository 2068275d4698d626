"""Which saved run a configuration may resume: the same run, also after its study moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cubeworld.models import FinetuneConfig, MixSource, ModelsError
from cubeworld.trainer.layout import STATE_FILE, saved_state

RUN = "runs/tiny/towers/seed-0"


def _config(root: Path, **change) -> FinetuneConfig:
    """A run of a study folder as the experiments stage lays it out (absolute paths)."""
    values = dict(
        model=str(root / "models/tiny"),
        train=str(root / "sets/towers"),
        mix=[MixSource(str(root / "sets/pyramids"), 0.5)],
        out=str(root / RUN),
        eval_sets=[str(root / "sets/pyramids")],
        progress=False,
    )
    return FinetuneConfig(**{**values, **change})


def test_a_moved_study_resumes_and_another_training_set_is_refused(tmp_path):
    first = _config(tmp_path / "a")
    Path(first.out).mkdir(parents=True)
    (Path(first.out) / STATE_FILE).write_text(
        json.dumps({"config": first.to_plain(), "last_epoch": 1}), encoding="utf-8"
    )
    assert saved_state(first.out, first, ModelsError)["last_epoch"] == 1

    shutil.move(tmp_path / "a", tmp_path / "elsewhere")
    moved = tmp_path / "elsewhere"
    assert saved_state(moved / RUN, _config(moved), ModelsError)["last_epoch"] == 1

    other = _config(moved, train=str(moved / "sets/pyramids"))
    with pytest.raises(ModelsError, match="started with train=.*/a/sets/towers', now .*/sets/pyramids"):
        saved_state(moved / RUN, other, ModelsError)
    mixed = _config(moved, mix=[MixSource(str(moved / "sets/towers"), 0.5)])
    with pytest.raises(ModelsError, match="started with mix="):
        saved_state(moved / RUN, mixed, ModelsError)
    hub = _config(moved, model="Qwen/Qwen2-VL-2B-Instruct")
    with pytest.raises(ModelsError, match="started with model="):
        saved_state(moved / RUN, hub, ModelsError)


def test_no_state_is_a_new_run(tmp_path):
    assert saved_state(tmp_path, _config(tmp_path), ModelsError) is None
