"""Fixtures of the data-set tests: the copy of Lerer100 shipped inside the package."""

from __future__ import annotations

import pytest

from cubeworld.datasets.catalog import get_dataset


@pytest.fixture
def shipped(monkeypatch):
    """The shipped Lerer100 folder, with $CUBEWORLD_LERER100 unset (as on a fresh clone)."""
    ds = get_dataset("lerer100")
    monkeypatch.delenv(ds.env, raising=False)
    return ds.shipped
