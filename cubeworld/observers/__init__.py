"""Observers: everything that answers items and writes a prediction table, one registry.

    OBSERVERS.get("vlm")       a Hugging Face VLM (P(Yes) from the Yes/No logits), the default
    OBSERVERS.get("physics")   noisy-Newton re-simulation of the recorded scene (no training)
    OBSERVERS.get("cnn")       a small ResNet-style CNN trained from scratch on the images

A study selects a kind with `kind:` under `models:`; `cubeworld evaluate --model physics`
and `cubeworld finetune --model cnn` reach the same entries. To add a kind: write one
module with a subclass of `ObserverKind` (`base.py` says what the base does and which
hooks a kind fills) and add one line to `OBSERVERS` below. Entries are "module:attribute"
strings, so listing kinds and validating a study imports no torch or MuJoCo.
"""

from __future__ import annotations

from pathlib import Path

from cubeworld.lazy import lazy_exports
from cubeworld.registry import Registry

DEFAULT_KIND = "vlm"

OBSERVERS: Registry = Registry(
    "observer kind",
    {
        "vlm": "cubeworld.observers.vlm:VLM",
        "physics": "cubeworld.observers.physics:PHYSICS",
        "cnn": "cubeworld.observers.cnn:CNN",
    },
)

from cubeworld.observers.base import KIND_FILE  # noqa: E402 - light


def get_observer(kind: str):
    """The `ObserverKind` registered as `kind` (an UnknownEntryError lists the kinds)."""
    return OBSERVERS.get(kind)


def cli_observer(model: str):
    """The kind a command line's `--model` names: `--model physics` / `--model cnn` name a
    kind; a folder holding `cubeworld_observer.json` (a CNN checkpoint) names the kind
    written there; anything else is a VLM's id or folder."""
    if model in OBSERVERS and model != DEFAULT_KIND:
        return OBSERVERS.get(model)
    marker = Path(model) / KIND_FILE
    if marker.is_file():
        import json

        return OBSERVERS.get(json.loads(marker.read_text(encoding="utf-8"))["kind"])
    return OBSERVERS.get(DEFAULT_KIND)


_EXPORTS = {
    "ObserverKind": "cubeworld.observers.base",
    "ObserverError": "cubeworld.observers.base",
    "ObserverSettingError": "cubeworld.observers.base",
    "Settings": "cubeworld.observers.base",
    "TrainingJob": "cubeworld.observers.base",
    "EvaluationJob": "cubeworld.observers.base",
}

__all__ = sorted([*_EXPORTS, "OBSERVERS", "DEFAULT_KIND", "KIND_FILE", "get_observer", "cli_observer"])

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
