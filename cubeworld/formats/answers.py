"""The two answers every question of the toolkit has, as they appear in tables and prompts.

Every domain asks a Yes/No question whose "Yes" means that something falls; models are
scored on these exact tokens, people click these exact words, and every table writes them.
"""

from __future__ import annotations

YES = "Yes"
NO = "No"


def answer_for(falls: bool) -> str:
    """The correct answer: "Yes" means something falls."""
    return YES if falls else NO
