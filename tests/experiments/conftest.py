"""Fixtures of the study tests: a real single-node Slurm cluster for the session."""

from __future__ import annotations

import os

import pytest


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
