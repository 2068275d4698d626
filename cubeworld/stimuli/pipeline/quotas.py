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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cubeworld.stimuli.core.settings import SetConfig
from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import StimulusFamily, StratumQuota
from cubeworld.stimuli.pipeline.arguments import SetArguments

CANDIDATE_LIMIT = 100  # candidates per stimulus of a size before generation gives up on its open cells


@dataclass(frozen=True)
class SizeQuotas:
    per_label: int  # stimuli per answer (half of the size's count)
    values: tuple[Any, ...]  # stratum values in draw order; (None,) without a quota stratum
    value_total: dict[Any, int]
    cell_target: dict[tuple[Any, Any, bool], int]  # (value, cue key, falls) -> quota
    keys: tuple[Any, ...] = ((),)  # cue keys (a bin per controlled cue); ((),) without cue control

    def value_of(self, k: int) -> Any:
        """The stratum value candidate k is drawn in."""
        return self.values[k % len(self.values)]

    @property
    def limit(self) -> int:
        """Candidates after which a size whose cells are not all full stops with an error."""
        return CANDIDATE_LIMIT * 2 * self.per_label + 100

    def to_card(self) -> dict[str, dict[str, int]]:
        """Per stratum value: its Yes and No quotas (summed over cue keys)."""
        return {
            str(v): {
                answer: sum(self.cell_target[(v, key, lbl)] for key in self.keys)
                for answer, lbl in (("Yes", True), ("No", False))
            }
            for v in self.values
        }

    def cue_card(self) -> dict[str, dict[str, int]]:
        """Per cue key: its Yes and No quotas (summed over stratum values)."""
        return {
            key_name(key): {
                answer: sum(self.cell_target[(v, key, lbl)] for v in self.values)
                for answer, lbl in (("Yes", True), ("No", False))
            }
            for key in self.keys
        }


def key_name(key: Any) -> str:
    """A cue key on a card: the bins joined, e.g. "1,0" (one bin per controlled cue)."""
    return ",".join(str(b) for b in key)


def split(total: int, shares: tuple[float, ...]) -> list[int]:
    """`total` split in proportion to `shares`, as integers summing to `total` (largest
    remainders; ties go to the earlier share)."""
    weight = sum(shares)
    exact = [total * w / weight for w in shares]
    out = [int(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def size_quotas(
    per_size: int,
    values: tuple[Any, ...],
    weights: tuple[float, ...] | None = None,
    keys: tuple[Any, ...] = ((),),
    key_shares: tuple[float, ...] | Mapping[Any, tuple[float, ...]] | None = None,
    no_key_shares: Mapping[Any, tuple[float, ...]] | None = None,
) -> SizeQuotas:
    """Split `per_size` (even) over `values` in proportion to `weights` (default equal: the
    first `per_size % n` values get one more), each value's total over the cue `keys` in
    proportion to `key_shares` (default equal; a mapping: per value, where a share may be 0),
    and each cell over Yes and No, the odd ones alternately (key by key), so the Yes and No
    totals are exactly half each and every cue key is as balanced as integers allow.

    With `no_key_shares` (per value) the keys' shares differ by answer: each value's total
    is split into Yes and No first (the odd ones alternately, value by value), then its Yes
    over the keys by `key_shares` and its No by `no_key_shares`."""
    values = tuple(values) or (None,)
    keys = tuple(keys) or ((),)
    totals = dict(zip(values, split(per_size, tuple(weights) if weights else (1.0,) * len(values))))
    cells: dict[tuple[Any, Any, bool], int] = {}

    def shares_of(v: Any) -> tuple[float, ...]:
        if isinstance(key_shares, Mapping):
            return tuple(key_shares[v])
        return tuple(key_shares) if key_shares else (1.0,) * len(keys)

    extra_to_yes = True
    if no_key_shares is not None:
        for v in values:
            half, odd = divmod(totals[v], 2)
            yes_total = half + (odd if extra_to_yes else 0)
            if odd:
                extra_to_yes = not extra_to_yes
            for key, n in zip(keys, split(yes_total, shares_of(v))):
                cells[(v, key, True)] = n
            for key, n in zip(keys, split(totals[v] - yes_total, tuple(no_key_shares[v]))):
                cells[(v, key, False)] = n
    per_key = {v: dict(zip(keys, split(totals[v], shares_of(v)))) for v in values}
    for key in keys if no_key_shares is None else ():
        for v in values:
            half, odd = divmod(per_key[v][key], 2)
            yes = half + (odd if extra_to_yes else 0)
            cells[(v, key, True)], cells[(v, key, False)] = yes, per_key[v][key] - yes
            if odd:
                extra_to_yes = not extra_to_yes
    yes = sum(n for (_, _, lbl), n in cells.items() if lbl)
    assert yes == per_size // 2 == per_size - yes, (per_size, cells)
    return SizeQuotas(per_label=per_size // 2, values=values, value_total=totals, cell_target=cells, keys=keys)


def set_quotas(family: StimulusFamily, args: SetArguments, config: SetConfig) -> dict[int, SizeQuotas]:
    """Each size's quotas: per label, per value of the family's quota stratum and, for a
    cue-controlled set, per cue key (`pipeline.control`)."""
    quotas = {}
    if args.control_cues:
        from cubeworld.stimuli.pipeline.control import check_controllable

        check_controllable(family, args.sizes, config.family)
    for size in args.sizes:
        stratum = family.stratum_quota(size, config.family, args.control_cues)
        if stratum is not None and not stratum.values:
            raise StimuliError(f"the {family.domain} family names no {stratum.column} values for size {size}")
        keys: tuple[Any, ...] = ((),)
        shares: tuple[float, ...] | dict[Any, tuple[float, ...]] | None = None
        no_shares: dict[Any, tuple[float, ...]] | None = None
        if args.control_cues:
            from cubeworld.stimuli.pipeline.control import cue_bins, keys_and_shares

            bins = cue_bins(family, size, config.family)
            if bins:
                keys, shares = keys_and_shares(bins)
                values = stratum.values if stratum else (None,)
                if any(b.value_shares or b.no_value_shares for b in bins):  # shares that differ by stratum value
                    for b in bins:
                        if any(m and set(m) != set(values) for m in (b.value_shares, b.no_value_shares)):
                            raise StimuliError(
                                f"the {family.domain} family's cue {b.cue!r} gives bin shares at size {size} for "
                                f"{column_name(stratum)} {sorted(b.value_shares or b.no_value_shares or {}, key=str)}, "
                                f"but its values are "
                                f"{list(values)}: give shares for exactly these"
                            )
                    shares = {v: keys_and_shares(bins, v)[1] for v in values}
                if any(b.no_value_shares for b in bins):  # shares that differ by answer
                    no_shares = {v: keys_and_shares(bins, v, falls=False)[1] for v in values}
        quotas[size] = size_quotas(
            args.per_size[size],
            stratum.values if stratum else (),
            stratum.weights if stratum else None,
            keys,
            shares,
            no_shares,
        )
    return quotas


def column_name(stratum: StratumQuota | None) -> str:
    """How an error names a quota stratum's values."""
    return f"{stratum.column} values" if stratum else "stratum values (it has none)"


def stratum_column(family: StimulusFamily, args: SetArguments, config: SetConfig) -> str | None:
    """The row column the set's stratum quotas are over (None: none)."""
    stratum = family.stratum_quota(args.sizes[0], config.family, args.control_cues)
    return stratum.column if stratum else None


def counted_strata(family: StimulusFamily, args: SetArguments, config: SetConfig) -> tuple[str, ...]:
    """The columns the card counts per size x value x label: the family's strata and the
    column of the set's stratum quotas."""
    column = stratum_column(family, args, config)
    return family.strata + ((column,) if column and column not in family.strata else ())
