"""Quotas of one size: exactly half Yes and half No, and, for a family with a quota
stratum (pyramids: the red block's row), exactly equal counts per stratum value, each
split as equally as integers allow between Yes and No.

Why this shape: the study says the red block "has an equal chance of being in every row";
generator 1.0.0 drew the row at random and kept whatever came, so at 15 blocks the bottom
row held the red block in 11 of 100 pyramids. Now candidate k of a size is drawn in value
`values[k % len(values)]`, and each value x label cell has a fixed quota
(`cell_target`). The cells sum to the value totals and to the label totals, so all three
are exact. A cell that physics fills rarely (at 15 blocks, removing a bottom block seldom
drops anything: the load above jams the blocks) only costs more candidates: a candidate
whose value is full is skipped without simulation, one whose label is not wanted any
more is judged only as far as its label (`StimulusFamily.judge_wanted`). A cell that
physics never fills would never end, so a size that has used `CANDIDATE_LIMIT`
candidates per stimulus stops with an error naming the cells left open.

Why not let a rare cell give way to the other answer: kept stimuli are written as they
come, and a value that gave way late could then need an answer the other values had
already used up -- a deadlock. Fixed cells cannot deadlock.

Every decision depends only on the candidates consumed before, in candidate order, so the
bytes do not depend on the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CANDIDATE_LIMIT = 100  # candidates per stimulus of a size before generation gives up on its open cells


@dataclass(frozen=True)
class SizeQuotas:
    per_label: int  # stimuli per answer (half of the size's count)
    values: tuple[Any, ...]  # stratum values in draw order; (None,) without a quota stratum
    value_total: dict[Any, int]
    cell_target: dict[tuple[Any, bool], int]  # (value, falls) -> quota

    def value_of(self, k: int) -> Any:
        """The stratum value candidate k is drawn in."""
        return self.values[k % len(self.values)]

    @property
    def limit(self) -> int:
        """Candidates after which a size whose cells are not all full stops with an error."""
        return CANDIDATE_LIMIT * 2 * self.per_label + 100

    def to_card(self) -> dict[str, dict[str, int]]:
        return {str(v): {"Yes": self.cell_target[(v, True)], "No": self.cell_target[(v, False)]} for v in self.values}


def size_quotas(per_size: int, values: tuple[Any, ...]) -> SizeQuotas:
    """Split `per_size` (even) over `values` as equally as integers allow (the first
    `per_size % n` values get one more), and each value's total over Yes and No, the odd
    ones alternately, so the Yes and No totals are exactly half each."""
    values = tuple(values) or (None,)
    n = len(values)
    totals = {v: per_size // n + (1 if i < per_size % n else 0) for i, v in enumerate(values)}
    cells: dict[tuple[Any, bool], int] = {}
    extra_to_yes = True
    for v in values:
        half, odd = divmod(totals[v], 2)
        yes = half + (odd if extra_to_yes else 0)
        cells[(v, True)], cells[(v, False)] = yes, totals[v] - yes
        if odd:
            extra_to_yes = not extra_to_yes
    assert sum(cells[(v, True)] for v in values) == per_size // 2 == sum(cells[(v, False)] for v in values)
    return SizeQuotas(per_label=per_size // 2, values=values, value_total=totals, cell_target=cells)
