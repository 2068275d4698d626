"""The training pairs of a run: which stimuli, with which labels, in which proportions.

Every trainer (a VLM's fine-tuning, a CNN's) draws its pairs here, so the same recipe and
seed give every observer the very same pairs:

- The main set gives `round(max_items * train_fraction)` pairs, each mixed-in set
  `round(max_items * fraction)`. A set smaller than its share gives all it has (no
  resampling, no duplicates): the shortfall is recorded in the run's state, and a warning
  says so. The subset is drawn without replacement with the run's seed.
- Labels are the ground truth (`falls`), or for the main set a human-responses table. With
  several responses for one stimulus, `label_policy="majority"` trains on the majority
  response (a tie is broken by a coin seeded with the run's seed) and `"each"` trains one
  pair per response. Stimuli without a response are not trained on; ids in the table that
  are not in the set are an error.

`DataDraw` (where the pairs come from) and `LabelPolicy` are typed settings that the
trainers' configs inherit, so each is declared once.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cubeworld.errors import CubeworldError
from cubeworld.formats.sets import StimulusRow, StimulusSet, load_set
from cubeworld.hyperparameters import MAX_ITEMS
from cubeworld.typed import setting

MOST_SEED = 2**32 - 1  # NumPy's generators take seeds below 2**32
MOST_ITEMS = 10_000_000  # an upper bound on any draw (a typo cannot ask for 10**12 pairs)


class TrainingDataError(CubeworldError):
    """The training data cannot be drawn (unknown ids in a labels table, a set twice)."""


class LabelsError(TrainingDataError):
    """A human-labels table does not fit the training set (unknown ids, no labels)."""


@dataclass(frozen=True)
class Example:
    """One image-question pair (and the answer to train on, when training)."""

    stimulus_id: str
    image: Path
    prompt: str
    label: bool | None = None  # True = "Yes" (falls); None when only scoring


def example_of(root: Path, row: StimulusRow, label: bool | None = None) -> Example:
    return Example(row.stimulus_id, root / row.file_name, row.prompt, label)


@dataclass(frozen=True)
class MixSource:
    """A further training set mixed into a run, and its fraction of the run's pairs.

    With mix [(S2, 0.5)] a run draws 50 % of `max_items` from its main set and 50 % from S2
    (the study's joint 5,000 + 5,000 conditions)."""

    set: str = setting(help="The set folder.")
    fraction: float = setting(help="Its share of max_items.", above=0, below=1)

    @classmethod
    def parse(cls, text: str) -> MixSource:
        """`DIR:0.5` -> MixSource("DIR", 0.5) (the command line's `--mix`)."""
        path, sep, frac = text.rpartition(":")
        if not sep or not path:
            raise TrainingDataError(f"mix {text!r}: expected DIR:FRACTION, e.g. sets/pyramids:0.5")
        try:
            value = float(frac)
        except ValueError:
            raise TrainingDataError(f"mix {text!r}: fraction {frac!r} is not a number") from None
        if not 0 < value < 1:
            raise TrainingDataError(f"mix {text!r}: fraction must be between 0 and 1")
        return cls(path, value)


@dataclass(frozen=True, kw_only=True)
class LabelPolicy:
    """How several human responses to one stimulus become training labels."""

    label_policy: Literal["majority", "each"] = setting(
        "majority",
        help="Several human responses per item: majority (ties: a seeded coin) or each (one pair per response).",
    )


@dataclass(frozen=True, kw_only=True)
class DataDraw:
    """Where a run's training pairs come from: the main set (its ground truth, or a human
    responses table as labels), further sets mixed in with their fractions, how many pairs,
    and the seed of the draw. A study sets these from its recipe; they are never per-model
    settings."""

    train: str = setting(help="Training set folder.", cli="--train")
    mix: tuple[MixSource, ...] = setting((), help="DIR:FRACTION, a further set's share (repeatable).", cli=False)
    labels: str | None = setting(None, help="Human responses table whose answers replace --train's ground truth.")
    max_items: int = setting(MAX_ITEMS, help="Training pairs per run.", minimum=1, maximum=MOST_ITEMS)
    seed: int = setting(
        0, help="Seed of the draw, the order of the pairs and the initialisation.", minimum=0, maximum=MOST_SEED
    )

    @property
    def train_fraction(self) -> float:
        return 1.0 - sum(m.fraction for m in self.mix)

    def check_draw(self) -> None:
        """The fractions leave the main set a share (raised as ValueError: a config check)."""
        total = sum(m.fraction for m in self.mix)
        if total >= 1:
            raise ValueError(f"mix fractions add up to {total:g}; the train set needs a share > 0")


@dataclass
class TrainingData:
    """The drawn training pairs, and a summary of where they came from (for state.json)."""

    items: list[Example]
    summary: dict[str, Any] = field(default_factory=dict)


def human_labels(path: str | Path, stim_set: StimulusSet, policy: str, seed: int) -> dict[str, list[bool]]:
    """stimulus id -> labels to train on (one for "majority", one per response for "each")."""
    from cubeworld.formats.responses import read_responses

    table = read_responses(path)
    known = stim_set.by_id()
    unknown = sorted(set(table["stimulus_id"]) - set(known))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise LabelsError(
            f"{path}: {len(unknown)} stimulus id(s) not in the training set {stim_set.name!r} (e.g. {shown})"
        )
    rng = random.Random(f"labels-{seed}")
    labels: dict[str, list[bool]] = {}
    for sid, group in table.groupby("stimulus_id", sort=True):
        responses = [bool(r) for r in group["response"].tolist()]
        if policy == "each":
            labels[sid] = responses
        else:
            yes = sum(responses)
            no = len(responses) - yes
            labels[sid] = [yes > no if yes != no else rng.random() < 0.5]
    return labels


def _draw(pool: list[Example], n: int, seed: int, tag: str) -> list[Example]:
    rng = random.Random(f"{tag}-{seed}")
    if n >= len(pool):
        picked = list(pool)
        rng.shuffle(picked)
        return picked
    return rng.sample(pool, n)


def build_training_data(draw: DataDraw, label_policy: str = "majority") -> TrainingData:
    """Draw the run's training pairs (deterministic for a draw and seed)."""
    main = load_set(draw.train)
    if draw.labels:
        by_id = human_labels(draw.labels, main, label_policy, draw.seed)
        pool = [example_of(main.root, row, lab) for row in main.rows for lab in by_id.get(row.stimulus_id, [])]
        if not pool:
            raise LabelsError(f"{draw.labels}: no response for any stimulus of {main.name!r}")
    else:
        pool = [example_of(main.root, row, row.falls) for row in main.rows]
    sources = [(main, pool, draw.train_fraction)]
    for m in draw.mix:
        s = load_set(m.set)
        sources.append((s, [example_of(s.root, row, row.falls) for row in s.rows], m.fraction))
    names = [s.name for s, _, _ in sources]
    if len(set(names)) != len(names):
        raise TrainingDataError(f"the same set appears twice among the training sets: {names}")
    items: list[Example] = []
    summary: dict[str, Any] = {"max_items": draw.max_items, "sources": []}
    for stim_set, pool, fraction in sources:
        wanted = int(round(draw.max_items * fraction))
        drawn = _draw(pool, wanted, draw.seed, stim_set.name)
        if len(drawn) < wanted:
            warnings.warn(
                f"training set {stim_set.name!r} has {len(pool)} pairs, fewer than its share "
                f"of {wanted}; using all {len(pool)}",
                stacklevel=2,
            )
        summary["sources"].append(
            {
                "set": str(stim_set.root),
                "name": stim_set.name,
                "fraction": fraction,
                "wanted": wanted,
                "drawn": len(drawn),
                "available": len(pool),
                "yes": sum(1 for it in drawn if it.label),
                "labels": "human" if (stim_set is main and draw.labels) else "ground truth",
            }
        )
        items.extend(drawn)
    summary["total"] = len(items)
    return TrainingData(items=items, summary=summary)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order of the pairs in `epoch` (1-based): fixed by seed and epoch, so a resumed
    run sees the same batches as an uninterrupted one."""
    order = list(range(n))
    random.Random(f"order-{seed}-{epoch}").shuffle(order)
    return order
