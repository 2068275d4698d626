"""The observer's answers on the probed items: what it uses, beside what is decodable.

A probe says a quantity is decodable from a point; the model's own answers on the same
items say whether it uses it. The answers come from a prediction table (the model's
scoring, `cubeworld.models.evaluate`, or any observer's table): exactly one observer's rows
(model, adapter, condition, seed, epoch), covering every probed item, matched by (set,
stimulus_id). A table whose `falls` disagrees with the set is refused: the two would not
be about the same items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cubeworld.formats.predictions import GROUP_COLUMNS, read_predictions
from cubeworld.probes.errors import ProbeError


@dataclass(frozen=True)
class Behaviour:
    """One observer's answers aligned with the cache's items (NaN where not given)."""

    observer: dict[str, str]
    answers: np.ndarray  # 1.0 = "Yes"
    p_yes: np.ndarray


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def observers_in(table: pd.DataFrame) -> list[dict[str, str]]:
    """The distinct observers (GROUP_COLUMNS) of a prediction table, in order of appearance."""
    keys = table[list(GROUP_COLUMNS)].map(_text)
    return [dict(zip(GROUP_COLUMNS, row)) for row in keys.drop_duplicates().itertuples(index=False)]


def select_observer(
    table: pd.DataFrame | str | Path,
    items: Sequence[tuple[str, str]],
    *,
    model: str | None = None,
    adapter: str | None = None,
    source: str = "predictions",
) -> pd.DataFrame:
    """The rows of the one observer of `table` that covers `items` ((set, stimulus_id)).

    `model` / `adapter`, when given, choose among several observers. An ambiguous or
    incomplete table is an error naming the observers found or the first missing item."""
    if not isinstance(table, pd.DataFrame):
        source = str(table)
        table = read_predictions(table)
    wanted = set(items)
    keys = list(zip(table["set"].astype(str), table["stimulus_id"].astype(str)))
    rows = table[[k in wanted for k in keys]]
    if rows.empty:
        first = next(iter(items))
        raise ProbeError(f"{source}: no row for the probed items (e.g. set {first[0]!r}, stimulus {first[1]!r})")
    observers = observers_in(rows)
    if len(observers) > 1 and model is not None:
        chosen = [o for o in observers if o["model"] == model and (adapter is None or o["adapter"] == adapter)]
        observers = chosen or observers
    if len(observers) != 1:
        shown = "; ".join(", ".join(f"{k}={v!r}" for k, v in o.items()) for o in observers[:4])
        raise ProbeError(
            f"{source}: holds {len(observers)} observers for the probed items ({shown}); give a table of one"
        )
    observer = observers[0]
    mask = np.ones(len(rows), dtype=bool)
    for col in GROUP_COLUMNS:
        mask &= rows[col].map(_text).to_numpy() == observer[col]
    rows = rows[mask]
    have = set(zip(rows["set"].astype(str), rows["stimulus_id"].astype(str)))
    missing = [item for item in items if item not in have]
    if missing:
        raise ProbeError(
            f"{source}: the observer ({observer['model']!r}, adapter {observer['adapter']!r}) has no answer for "
            f"{len(missing)} of the {len(wanted)} probed items, e.g. set {missing[0][0]!r}, stimulus {missing[0][1]!r}"
        )
    return rows


def align(rows: pd.DataFrame, items: Sequence[tuple[str, str]], truth: Sequence[bool | None]) -> Behaviour:
    """One observer's rows (from `select_observer`) in the cache's item order; `truth[i]`
    is the set's label of item i (None: not probed). A row whose `falls` is not the set's
    is refused, naming the stimulus."""
    by_item = {(str(s), str(i)): r for s, i, r in zip(rows["set"], rows["stimulus_id"], rows.itertuples(index=False))}
    answers = np.full(len(items), np.nan)
    p_yes = np.full(len(items), np.nan)
    for n, (item, falls) in enumerate(zip(items, truth)):
        if falls is None:
            continue
        row = by_item[item]
        if bool(row.falls) != bool(falls):
            raise ProbeError(
                f"predictions: stimulus {item[1]!r} of set {item[0]!r} has falls={bool(row.falls)} there "
                f"but {bool(falls)} in the set"
            )
        answers[n] = 1.0 if row.answer == "Yes" else 0.0
        p_yes[n] = float(row.p_yes)
    first = rows.iloc[0]
    observer = {col: _text(first[col]) for col in GROUP_COLUMNS}
    observer["kind"] = _text(first.get("kind", "")) or "vlm"
    return Behaviour(observer, answers, p_yes)
