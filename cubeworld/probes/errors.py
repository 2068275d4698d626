"""The probes stage's one error class."""

from __future__ import annotations

from cubeworld.errors import CubeworldError


class ProbeError(CubeworldError):
    """A probe that cannot run as asked: a bad setting, a cache that does not match the sets,
    too few items for the folds; the message names the setting, folder or target."""
