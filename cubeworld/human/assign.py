"""Who sees which items in which order: the two designs of the study, as pure functions.

`same` (evaluation data): every participant answers every item, in an order shuffled
with a seed derived from the study seed and the participant, so it is reproducible and
stored. `spread` (fine-tuning data): the server hands out the next K items of the pool;
`take_block` picks them, the store decides what the pool is.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from cubeworld.formats.answers import NO, YES


@dataclass(frozen=True)
class Trial:
    """One screen of a participant's sequence: an image trial or an attention check."""

    position: int  # 0-based index in the participant's sequence (exported as trial_index)
    kind: str  # "stimulus" or "attention"
    item_id: str  # stimulus id, or "attention-<k>"
    expected: str  # the correct answer (stimulus: ground truth; attention: the asked button)


def order_seed(study_seed: int, participant: str) -> int:
    """A participant's shuffle seed: stable across restarts and Python versions."""
    digest = hashlib.sha256(f"{study_seed}:{participant}".encode()).hexdigest()
    return int(digest[:15], 16)


def take_block(pool: Sequence[str], k: int) -> list[str]:
    """The next `k` items of the pool (the pool keeps the study's seeded order)."""
    return list(pool[:k])


def build_sequence(
    items: Sequence[tuple[str, str]],
    seed: int,
    attention_checks: bool = False,
    every: int = 25,
) -> list[Trial]:
    """Shuffle `(stimulus_id, answer)` pairs with `seed`; add a check after every `every`."""
    rng = random.Random(seed)
    shuffled = list(items)
    rng.shuffle(shuffled)
    trials: list[Trial] = []
    n_checks = 0
    for i, (sid, answer) in enumerate(shuffled, start=1):
        trials.append(Trial(len(trials), "stimulus", sid, answer))
        if attention_checks and i % every == 0:
            n_checks += 1
            trials.append(Trial(len(trials), "attention", f"attention-{n_checks}", rng.choice([YES, NO])))
    if attention_checks and n_checks == 0 and shuffled:
        # Short sequences still get one check, in the middle.
        mid = len(trials) // 2
        trials.insert(mid, Trial(mid, "attention", "attention-1", rng.choice([YES, NO])))
        trials = [Trial(i, t.kind, t.item_id, t.expected) for i, t in enumerate(trials)]
    return trials
