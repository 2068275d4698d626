"""The training pairs of a run: which stimuli, with which labels, in which proportions.

- The main set gives `round(max_items * train_fraction)` pairs, each mixed-in set
  `round(max_items * fraction)`. A set smaller than its share gives all it has (no
  resampling, no duplicates): the shortfall is recorded in the run's state, and a warning
  says so. The subset is drawn without replacement with the run's seed.
- Labels are the ground truth (`falls`), or for the main set a human-responses table. With
  several responses for one stimulus, `label_policy="majority"` trains on the majority
  response (a tie is broken by a coin seeded with the run's seed) and `"each"` trains one
  pair per response. Stimuli without a response are not trained on; ids in the table that
  are not in the set are an error.
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cubeworld.formats.responses import read_responses
from cubeworld.formats.sets import StimulusSet, load_set
from cubeworld.models.config import FinetuneConfig
from cubeworld.models.errors import LabelsError, ModelsError
from cubeworld.models.inputs import Example, example_of


@dataclass
class TrainingData:
    """The drawn training pairs, and a summary of where they came from (for state.json)."""

    items: list[Example]
    summary: dict = field(default_factory=dict)


def human_labels(path: str | Path, stim_set: StimulusSet, policy: str, seed: int) -> dict[str, list[bool]]:
    """stimulus id -> labels to train on (one for "majority", one per response for "each")."""
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


def build_training_data(config: FinetuneConfig) -> TrainingData:
    """Draw the run's training pairs (deterministic for a config and seed)."""
    main = load_set(config.train)
    if config.labels:
        by_id = human_labels(config.labels, main, config.label_policy, config.seed)
        pool = [example_of(main.root, row, lab) for row in main.rows for lab in by_id.get(row.stimulus_id, [])]
        if not pool:
            raise LabelsError(f"{config.labels}: no response for any stimulus of {main.name!r}")
    else:
        pool = [example_of(main.root, row, row.falls) for row in main.rows]
    sources = [(main, pool, config.train_fraction)]
    for m in config.mix:
        s = load_set(m.set)
        sources.append((s, [example_of(s.root, row, row.falls) for row in s.rows], m.fraction))
    names = [s.name for s, _, _ in sources]
    if len(set(names)) != len(names):
        raise ModelsError(f"the same set appears twice among the training sets: {names}")
    items: list[Example] = []
    summary = {"max_items": config.max_items, "sources": []}
    for stim_set, pool, fraction in sources:
        wanted = int(round(config.max_items * fraction))
        drawn = _draw(pool, wanted, config.seed, stim_set.name)
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
                "labels": "human" if (stim_set is main and config.labels) else "ground truth",
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
