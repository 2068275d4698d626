#!/usr/bin/env bash
# The test suite: install, check the code (ruff, mypy, import contracts), then run pytest (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Code checks first (seconds): lint and formatting.
.venv/bin/ruff check cubeworld tests benchmarks
.venv/bin/ruff format --check --quiet cubeworld tests benchmarks
# Types (pyproject.toml [tool.mypy]): the whole package, strict flags on formats, typed configs and registries.
.venv/bin/mypy
# Import contracts (pyproject.toml [tool.importlinter]): stages and stimuli floors import only downwards.
PYTHONPATH="$PWD" .venv/bin/lint-imports --no-cache
# Two workers (pytest-xdist): the suite's wall time halves on two cores; tests on the Slurm
# cluster share one worker (tests/conftest.py), so the cluster starts once.
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
