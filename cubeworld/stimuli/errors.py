"""The one error type of the stimuli stage for bad input (the CLI prints its message)."""

from __future__ import annotations

from cubeworld.errors import CubeworldError


class StimuliError(CubeworldError):
    """Bad input to a stimuli command: a size outside the domain, n <= 0, a folder holding
    another set, an unwritable path, a card that does not parse. The message names it."""
