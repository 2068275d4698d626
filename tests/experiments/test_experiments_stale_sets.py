"""A study never reuses a set folder made by another generator version or other arguments.

Real MuJoCo sets, kept tiny: a generated preset, a subset preset drawn from it, and a set
from generator arguments. Preparing twice reuses them; an older `generator_version` on a
card, or changed arguments in the config, is a clear error naming the set and the entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cubeworld.experiments.config import load_config
from cubeworld.experiments.prepare import StudyInputError, needed_sets, prepare_sets
from cubeworld.stimuli.pipeline.identity import GENERATOR_VERSION

PRESETS = {
    "mini": {"domain": "tower", "sizes": [2], "per_size": 2, "seed": 5},
    "mini-sub": {"subset_of": "mini", "per_cell": 1, "seed": 1},
}

STUDY = """\
name: stale
runs_dir: runs
models:
  tiny: {{source: tiny}}
sets:
  mini: {{preset: mini}}
  mini-sub: {{preset: mini-sub}}
  gen: {{domain: tower, sizes: [2], per_size: {per_size}, seed: 7, resolution: 32}}
conditions:
  zero-shot: {{zero_shot: true}}
evaluation: [mini, mini-sub, gen]
seeds: [0]
"""


@pytest.fixture
def study(tmp_path, monkeypatch):
    from cubeworld.stimuli.pipeline import presets

    monkeypatch.setattr(presets, "_load", lambda: json.loads(json.dumps(PRESETS)))

    def write(per_size: int = 2) -> Path:
        cfg = tmp_path / "study.yaml"
        cfg.write_text(STUDY.format(per_size=per_size))
        return cfg

    return write


def _sets(cfg_path: Path):
    cfg = load_config(cfg_path)
    return prepare_sets(cfg, needed_sets(cfg), progress=False)


def _set_card_entry(folder: Path, key: str, value) -> None:
    card = json.loads((folder / "dataset.json").read_text())
    card[key] = value
    (folder / "dataset.json").write_text(json.dumps(card))


def test_current_sets_are_reused(study):
    cfg = study()
    first = _sets(cfg)
    stamps = {k: (v / "metadata.jsonl").stat().st_mtime_ns for k, v in first.items()}
    again = _sets(cfg)
    assert again == first
    assert {k: (v / "metadata.jsonl").stat().st_mtime_ns for k, v in again.items()} == stamps


@pytest.mark.parametrize("name", ["mini", "mini-sub", "gen"])
def test_a_set_of_another_generator_version_is_refused(study, name):
    cfg = study()
    folders = _sets(cfg)
    _set_card_entry(folders[name], "generator_version", "0.9.0")
    now = GENERATOR_VERSION.replace(".", r"\.")
    with pytest.raises(
        StudyInputError, match=rf"sets\.{name}: .*generator_version '0\.9\.0' \(now '{now}'\).*delete that folder"
    ):
        _sets(cfg)


def test_changed_generator_arguments_are_refused(study):
    _sets(study(per_size=2))
    with pytest.raises(StudyInputError, match=r"sets\.gen: .*differs from the set .* in arguments;"):
        _sets(study(per_size=4))
