"""A condition's recipe made concrete for one run: the training-data draw and its human table.

A condition names its parts by set (`TrainPart`: a set of the study, how many, whose
labels); a run needs folders and numbers (`cubeworld.trainer.data.DataDraw`: the main set,
the sets mixed in with their fractions, the labels table, how many pairs, the seed). This
module is the one place that turns one into the other. It reads a set folder only for a
single part without `n` (the whole set), so it runs when the run does, not when the study
is planned (the set may not exist yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cubeworld.experiments.schema import TrainPart
from cubeworld.trainer.data import DataDraw, MixSource

HUMAN_TABLE = "human_responses.csv"  # a set folder's own human responses (Lerer100 has one)


def humans_of(part: TrainPart, folder: Path) -> Path | None:
    """The human-responses table a part trains on: the set's own, a named one, or None."""
    return folder / HUMAN_TABLE if part.labels.from_set else part.labels.humans


def _share(part: TrainPart) -> int:
    if part.n is None:
        raise ValueError(f"training part {part.set!r} of a mixed recipe needs n")
    return int(part.n)


def data_draw(recipe: Sequence[TrainPart], folders: Mapping[str, Path], seed: int) -> DataDraw:
    """The draw of one run: `max_items` is the parts' `n` summed (or, for one part without
    `n`, its whole set), each further part mixed in with its share of it."""
    from cubeworld.formats.sets import load_set

    main, *rest = recipe
    if rest:
        total = sum(_share(p) for p in recipe)  # the study checks that each part has n
    elif main.n is not None:
        total = int(main.n)
    else:
        total = len(load_set(folders[main.set], check_images=False))
    humans = humans_of(main, folders[main.set])
    return DataDraw(
        train=str(folders[main.set]),
        mix=tuple(MixSource(str(folders[p.set]), _share(p) / total) for p in rest),
        labels=None if humans is None else str(humans),
        max_items=total,
        seed=int(seed),
    )


def missing_labels(recipe: Sequence[TrainPart], folders: Mapping[str, Path]) -> str | None:
    """The first human-responses table a recipe trains on that does not exist (or None).
    A set's own table (`labels: humans`) of a set the study has not made yet is not
    missing: making the set brings it (the study checks that it does)."""
    for part in recipe:
        table = humans_of(part, folders[part.set])
        if table is None or table.is_file():
            continue
        if part.labels.from_set and not (folders[part.set] / "metadata.jsonl").is_file():
            continue
        return str(table)
    return None
