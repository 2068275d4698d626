"""Crossed folds and bootstrap weights over participants and items.

Why crossed: a fit must predict new people on new items, as the study's human data are a
sample of both. Fold f holds out the items of item-fold f AND the participants of
participant-fold f; the model is fitted on the other items answered by the other people,
so no held-out answer shares a participant or an item with the fit (Centaur-style). Answers
of held-out people to training items, and of training people to held-out items, are used
by neither side of that fold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    index: int
    train_people: np.ndarray  # bool masks
    train_items: np.ndarray
    test_people: np.ndarray
    test_items: np.ndarray


def crossed_folds(n_people: int, n_items: int, folds: int, seed: int) -> Iterator[Fold]:
    """`folds` crossed folds; each participant and each item is held out exactly once."""
    rng = np.random.default_rng([seed, 1])
    people = rng.permutation(n_people) % folds
    items = rng.permutation(n_items) % folds
    for f in range(folds):
        tp, ti = people == f, items == f
        if tp.any() and ti.any() and (~tp).any() and (~ti).any():
            yield Fold(f, ~tp, ~ti, tp, ti)


def counts(yes: np.ndarray, seen: np.ndarray, people: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item, Yes answers and answers of the `people` (a mask or weights), 0 outside `items`."""
    w = people.astype(float)[:, None]
    k = (w * yes * seen).sum(axis=0) * items
    n = (w * seen).sum(axis=0) * items
    return k, n


def bootstrap_weights(n_people: int, n_items: int, draws: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Multiplicities of participants and items in each resample (both resampled: the crossed
    bootstrap, items being a sample as participants are)."""
    rng = np.random.default_rng([seed, 2])
    for _ in range(draws):
        yield (
            np.bincount(rng.integers(0, n_people, n_people), minlength=n_people),
            np.bincount(rng.integers(0, n_items, n_items), minlength=n_items),
        )
