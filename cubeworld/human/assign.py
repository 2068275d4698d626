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

from cubeworld.formats.responses import RESPONSE_CODES

STIMULUS = "stimulus"
ATTENTION = "attention"


@dataclass(frozen=True)
class Trial:
    """One screen of a participant's sequence: an image trial or an attention check.

    The names are those of the responses table and the web API (`trial_index`,
    `stimulus_id`, `response`), so a trial and its answer read the same everywhere.
    """

    trial_index: int  # 0-based index in the participant's sequence
    kind: str  # STIMULUS or ATTENTION
    stimulus_id: str  # the item's stimulus id, or "attention-<k>"
    correct_response: int  # the response that is right (1 = Yes, 0 = No): the truth, or the asked button


def order_seed(study_seed: int, participant: str) -> int:
    """A participant's shuffle seed: stable across restarts and Python versions."""
    digest = hashlib.sha256(f"{study_seed}:{participant}".encode()).hexdigest()
    return int(digest[:15], 16)


def take_block(pool: Sequence[str], k: int) -> list[str]:
    """The next `k` items of the pool (the pool keeps the study's seeded order)."""
    return list(pool[:k])


def build_sequence(
    items: Sequence[tuple[str, int]],
    seed: int,
    attention_checks: bool = False,
    every: int = 25,
) -> list[Trial]:
    """Shuffle `(stimulus_id, correct_response)` pairs with `seed`; add a check after every `every`."""
    rng = random.Random(seed)
    shuffled = list(items)
    rng.shuffle(shuffled)
    codes = list(RESPONSE_CODES.values())
    trials: list[Trial] = []
    n_checks = 0
    for i, (sid, correct) in enumerate(shuffled, start=1):
        trials.append(Trial(len(trials), STIMULUS, sid, correct))
        if attention_checks and i % every == 0:
            n_checks += 1
            trials.append(Trial(len(trials), ATTENTION, f"attention-{n_checks}", rng.choice(codes)))
    if attention_checks and n_checks == 0 and shuffled:
        # Short sequences still get one check, in the middle.
        mid = len(trials) // 2
        trials.insert(mid, Trial(mid, ATTENTION, "attention-1", rng.choice(codes)))
        trials = [Trial(i, t.kind, t.stimulus_id, t.correct_response) for i, t in enumerate(trials)]
    return trials
