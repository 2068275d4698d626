"""The items of a fit and people's answers to them, as arrays.

Why arrays: every fit, fold and bootstrap resample is a likelihood over (participant x
item) cells, so answers are held once as `yes` and `seen` matrices (0/1), and a subset of
participants or items is an index, never a new table.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cubeworld.fitting.config import FitError


@dataclass(frozen=True)
class FitItems:
    """Items with a recorded scene (`ids`, their `domain`, size and truth) and the people's
    answers: `yes[p, i]` = 1 if participant p answered Yes to item i, `seen[p, i]` = 1 if
    they answered it at all."""

    ids: tuple[str, ...]
    domains: tuple[str, ...]
    sizes: np.ndarray
    truth: np.ndarray  # bool: the correct answer is Yes
    scenes: tuple[Mapping[str, Any], ...]
    participants: tuple[str, ...]
    yes: np.ndarray
    seen: np.ndarray

    @property
    def size_keys(self) -> list[str]:
        """Per item: its domain and size, the per-size model's cell (`tower-3`)."""
        return [f"{d}-{int(n)}" for d, n in zip(self.domains, self.sizes)]


def load_items(sets: Sequence[Path]) -> list[Any]:
    """The rows of `sets` that have a recorded scene; a set of photos (Lerer100) is skipped
    with a one-line warning, and none left is a FitError."""
    from cubeworld.formats.sets import load_set
    from cubeworld.observers.physics import PHYSICS

    rows, skipped = [], []
    for path in sets:
        s = load_set(path, check_images=False)
        reason = PHYSICS.skip_reason(s)
        if reason:
            skipped.append(f"{Path(path).name}: skipped, it cannot be fitted ({reason})")
            continue
        rows.extend(s.rows)
    if not rows:
        raise FitError(f"nothing to fit: {'; '.join(skipped)}; photo sets such as Lerer100 have no scenes to simulate")
    for line in skipped:
        warnings.warn(line, stacklevel=2)
    return rows


def match_answers(rows: Sequence[Any], responses: pd.DataFrame, source: str = "responses") -> FitItems:
    """People's answers to `rows`, as arrays; answers to items not in the sets are ignored
    (counted in a warning), items nobody answered are left out."""
    by_id = {r.stimulus_id: r for r in rows}
    known = responses["stimulus_id"].isin(by_id)
    if not known.any():
        raise FitError(f"{source}: none of its stimulus ids is in the sets fitted")
    if (~known).any():
        warnings.warn(f"{source}: {int((~known).sum())} answers to items not in the sets are ignored", stacklevel=2)
    df = responses[known]
    answered = [r for r in rows if r.stimulus_id in set(df["stimulus_id"])]
    people = tuple(sorted(df["participant"].unique()))
    pi = {p: k for k, p in enumerate(people)}
    ii = {r.stimulus_id: k for k, r in enumerate(answered)}
    yes = np.zeros((len(people), len(answered)))
    seen = np.zeros_like(yes)
    rows_p = df["participant"].map(pi).to_numpy()
    rows_i = df["stimulus_id"].map(ii).to_numpy()
    seen[rows_p, rows_i] = 1
    yes[rows_p, rows_i] = df["response"].to_numpy(dtype=float)
    return FitItems(
        ids=tuple(r.stimulus_id for r in answered),
        domains=tuple(r.domain for r in answered),
        sizes=np.array([r.n_blocks for r in answered]),
        truth=np.array([bool(r.falls) for r in answered]),
        scenes=tuple(r.extra["scene"] for r in answered),
        participants=people,
        yes=yes,
        seen=seen,
    )
