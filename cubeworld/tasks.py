"""The study's two tasks: their domain names, exact prompts and block counts.

This module is the single source of truth for the prompts: stimulus rows, the Lerer100
import, the human web app and the models all take them from here, so that a model and a
person are always asked the very same question.
"""

from __future__ import annotations

from dataclasses import dataclass

TOWER = "tower"
PYRAMID = "pyramid"


TOWER_PROMPT = (
    "You are now viewing a tower of blocks. Will the tower fall? "
    "Answer Yes if you think this tower is unstable and will fall. "
    "Answer No if you think this tower is stable and will not fall."
)

PYRAMID_PROMPT = (
    "You are now viewing a pyramid of blocks. If the red block was not there, "
    "would any other blocks fall? "
    "Answer Yes if you think that other blocks would fall if the red block was not there. "
    "Answer No if you think that no other blocks would fall if the red block was not there."
)


@dataclass(frozen=True)
class Task:
    """One cognitive task of the study: what is asked, and which stimulus sizes exist."""

    domain: str
    prompt: str
    sizes: tuple[int, ...]  # allowed block counts
    question: str  # the short question alone, for headings and trial screens


TASKS: dict[str, Task] = {
    TOWER: Task(TOWER, TOWER_PROMPT, (2, 3, 4, 5, 6, 7), "Will the tower fall?"),
    PYRAMID: Task(
        PYRAMID,
        PYRAMID_PROMPT,
        (3, 6, 10, 15),
        "If the red block was not there, would any other blocks fall?",
    ),
}


def get_task(domain: str) -> Task:
    """The task of `domain`, or a ValueError naming the domains that exist."""
    try:
        return TASKS[domain]
    except KeyError:
        raise ValueError(f"unknown domain {domain!r}: expected one of {sorted(TASKS)}") from None
