"""Fixtures every test folder shares.

The browser is one session-wide Chromium under one Playwright driver: Playwright's sync
API runs an event loop in the calling thread, so a second `sync_playwright()` started
while the first is still open (two folders each with its own session fixture) fails with
"using Playwright Sync API inside the asyncio loop". The Slurm cluster is one per session
too: the study tests and the stimuli tests (sets generated in shards) share it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, headless, shared by every browser test."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/install.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A real single-node Slurm cluster with accounting, for the whole session.

    Skipped only outside CI when the Debian packages are missing; in CI (CI=true) a
    missing package or a daemon that does not come up fails with the reason.
    """
    from cubeworld.experiments.testing.slurm_cluster import (
        DEBIAN_PACKAGES,
        LocalSlurmCluster,
        SlurmClusterError,
        missing_binaries,
    )

    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    missing = missing_binaries()
    if missing:
        msg = (
            f"Slurm test cluster: missing {', '.join(missing)} "
            f"(apt-get install -y --no-install-recommends {DEBIAN_PACKAGES})"
        )
        if in_ci:
            pytest.fail(msg)
        pytest.skip(msg)
    cluster = LocalSlurmCluster()
    try:
        cluster.start()
    except SlurmClusterError as e:
        pytest.fail(f"Slurm test cluster did not come up: {e}")
    yield cluster
    cluster.stop()


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (`-n`, `--dist loadgroup`): every test on the Slurm cluster runs in one
    worker, so the session's cluster starts once."""
    for item in items:
        if "slurm_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("slurm"))
