"""A fit folder (`cubeworld fit physics --out DIR`, a study's `fits/NAME`): its file names
and a reader for what the report shows.

Why a format: the fitting stage writes the folder and the analysis reads it, and the
analysis sits below fitting (it must not import it). Both name the files through this
module, so the names are declared once; the reader checks what the report needs and
refuses a folder that lacks it in one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cubeworld.errors import CubeworldError

FIT_JSON = "fit.json"
OBSERVER_YAML = "observer.yaml"
HELDOUT_CSV = "heldout.csv"
PARTICIPANTS_CSV = "participants.csv"
PER_SIZE_CSV = "per_size.csv"
PER_SIZE_PNG = "per_size.png"
# The models the held-out table compares, in this order (`heldout.csv`'s `model`).
HELDOUT_MODELS = ("physics", "per-size", "chance")
PER_SIZE_COLUMNS = ("domain", "n_blocks", "items", "people", "fitted", "ideal")


class FitFormatError(CubeworldError):
    """A fit folder is missing a file or a field the report needs."""


@dataclass(frozen=True)
class FitResult:
    """What the report shows of one fit: the fitted parameters with their 95% intervals,
    the held-out log-likelihood per model (log_lik, trials, per_trial), the number of
    folds, the mean held-out kappa with people (and over how many participants), and
    accuracy per size of people, the fitted and the ideal observer."""

    name: str
    folder: Path
    sets: tuple[str, ...]
    fitted: dict[str, float]
    intervals: dict[str, tuple[float, float] | None]
    heldout: dict[str, dict[str, float]]
    folds: int
    kappa_mean: float | None
    kappa_participants: int
    participants: int
    items: int
    simulated: bool
    per_size: pd.DataFrame = field(repr=False, compare=False)


def is_fit_folder(folder: Path) -> bool:
    return (Path(folder) / FIT_JSON).is_file()


def read_fit(folder: str | Path, name: str | None = None) -> FitResult:
    """The fit in `folder` (named `name`, default the folder's name)."""
    folder = Path(folder)
    path = folder / FIT_JSON
    if not path.is_file():
        raise FitFormatError(f"{folder}: not a fit folder (no {FIT_JSON}; `cubeworld fit physics --out` writes one)")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise FitFormatError(f"{path}: not readable JSON ({e})") from None
    for key in ("fitted", "intervals_95", "heldout", "kappa_heldout", "config"):
        if key not in data:
            raise FitFormatError(f"{path}: no {key!r} (written by an older cubeworld? fit again)")
    missing = [m for m in HELDOUT_MODELS if m not in data["heldout"]]
    if missing:
        raise FitFormatError(f"{path}: heldout has no model {missing[0]!r}")
    sizes = folder / PER_SIZE_CSV
    try:
        per_size = pd.read_csv(sizes)
    except (OSError, ValueError) as e:
        raise FitFormatError(f"{sizes}: not readable ({' '.join(str(e).split())[:160]})") from None
    lacking = [c for c in PER_SIZE_COLUMNS if c not in per_size.columns]
    if lacking:
        raise FitFormatError(f"{sizes}: no column {lacking[0]!r}")
    intervals = {k: (None if v is None else (float(v[0]), float(v[1]))) for k, v in data["intervals_95"].items()}
    return FitResult(
        name=name or folder.name,
        folder=folder,
        sets=tuple(data.get("sets", ())),
        fitted={k: float(v) for k, v in data["fitted"].items() if v is not None},
        intervals=intervals,
        heldout={m: {k: float(v) for k, v in data["heldout"][m].items()} for m in HELDOUT_MODELS},
        folds=int(data["config"].get("folds", 0)),
        kappa_mean=data["kappa_heldout"].get("mean"),
        kappa_participants=int(data["kappa_heldout"].get("participants", 0)),
        participants=int(data.get("participants", 0)),
        items=int(data.get("items", 0)),
        simulated=bool(data.get("simulated_participants", False)),
        per_size=per_size,
    )
