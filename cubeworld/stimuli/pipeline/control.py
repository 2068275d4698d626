"""Cue-controlled sets (`--control-cues`): every simple cue the family names tells nothing
about the answer within a size.

Generator 2.0.0's sets were half Yes and half No per size, but within a size simple
readings of the picture decided most labels (towers: the top block's offset, 0.86-0.91
of the items; pyramids: "a block resting on the red block has its centre off its other
support", 0.94). An accuracy on such a set measures those readings more than physical or
causal reasoning. So a cue-controlled set adds quotas over the family's cues:

- the family declares, per size, the cues to balance and their bins (`StimulusFamily.
  control_cues`: `CueBins`, from its settings, so they are on the card and in the set's
  identity); a candidate's **cue key** is its bin of every such cue, read from its
  recorded scene before any simulation;
- every size x stratum value x cue key gets a fixed quota, split half Yes and half No
  (`quotas.size_quotas`), so within every bin the cue says nothing about the answer;
- a candidate whose key is outside the bins is rejected ("cue_out_of_range"), one whose
  key has no open label is surplus, both without simulation; otherwise it is judged for
  the labels its key still takes (`judge_wanted`).

Every label is still the physics' (judged, robust) label: the quotas only choose which
candidates are kept. What the quotas cost (candidates drawn per kept stimulus) and what
the audit measures on the result (`control_targets`) are on the card.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from cubeworld.stimuli.errors import StimuliError
from cubeworld.stimuli.family import CueBins, ShortcutCue, StimulusFamily


def cue_bins(family: StimulusFamily, size: int, settings: Any) -> tuple[CueBins, ...]:
    """The family's controlled cues at `size`, each checked to name one of its shortcut cues
    (none: the size is controlled by its stratum alone, if at all)."""
    bins = tuple(family.control_cues(size, settings))
    names = {cue.name for cue in family.shortcut_cues()}
    unknown = [b.cue for b in bins if b.cue not in names]
    if unknown:
        raise StimuliError(
            f"the {family.domain} family controls unknown cue(s) {unknown}; its cues are {sorted(names)}"
        )
    return bins


def check_controllable(family: StimulusFamily, sizes: tuple[int, ...], settings: Any) -> None:
    """A one-line error when `--control-cues` would change nothing for these sizes."""
    if family.controlled_sampling or any(cue_bins(family, s, settings) for s in sizes):
        return
    if any(family.stratum_quota(s, settings, True) != family.stratum_quota(s, settings) for s in sizes):
        return
    raise StimuliError(
        f"the {family.domain} family controls no cue at size(s) {list(sizes)}, so --control-cues cannot balance "
        "anything; generate the set without --control-cues"
    )


def keys_and_shares(
    bins: tuple[CueBins, ...], value: Any = None, falls: bool = True
) -> tuple[tuple[tuple[int, ...], ...], tuple[float, ...]]:
    """Every cue key (one bin per cue) and its share of the stimuli of stratum value
    `value` (and answer `falls`, where a cue's shares differ by answer): the product of
    the bins' shares (each cue's shares normalised)."""
    keys = tuple(itertools.product(*(range(b.bins) for b in bins)))
    norm = [b.shares_at(value, falls) for b in bins]
    shares = tuple(math.prod(norm[c][k] for c, k in enumerate(key)) for key in keys)
    return keys, shares


class CueKeys:
    """Reads a candidate's cue key from its recorded scene (in the worker, before simulation)."""

    def __init__(self, family: StimulusFamily, settings: Any):
        self._family, self._settings = family, settings
        self._cues: dict[str, ShortcutCue] = {cue.name: cue for cue in family.shortcut_cues()}
        self._bins: dict[int, tuple[CueBins, ...]] = {}

    def key(self, size: int, record: Mapping[str, Any]) -> tuple[int, ...] | None:
        """The bins of `record` (a row's `scene`), or None when a cue is outside its bins."""
        if size not in self._bins:
            self._bins[size] = cue_bins(self._family, size, self._settings)
        if not self._bins[size]:
            return ()
        row = {"scene": record, "n_blocks": size}
        key = []
        for b in self._bins[size]:
            index = b.bin_of(float(self._cues[b.cue].value(row)))
            if index is None:
                return None
            key.append(index)
        return tuple(key)


def describe(family: StimulusFamily, sizes: tuple[int, ...], settings: Any) -> dict[str, Any]:
    """The card's account of the control: the cues and their bins per size."""
    return {
        str(size): [
            {
                "cue": b.cue,
                "edges": list(b.edges),
                **({"shares": list(b.shares)} if b.shares else {}),
                **({"value_shares": {str(v): list(s) for v, s in b.value_shares.items()}} if b.value_shares else {}),
                **(
                    {"no_value_shares": {str(v): list(s) for v, s in b.no_value_shares.items()}}
                    if b.no_value_shares
                    else {}
                ),
            }
            for b in cue_bins(family, size, settings)
        ]
        for size in sizes
    }
