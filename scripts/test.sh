#!/usr/bin/env bash
# The test suite: install, check the code (ruff, import contracts), then run pytest (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# Code checks first (seconds): lint and formatting.
.venv/bin/ruff check cubeworld tests benchmarks
.venv/bin/ruff format --check --quiet cubeworld tests benchmarks
# Import contracts (pyproject.toml [tool.importlinter]): stages and stimuli floors import only downwards.
PYTHONPATH="$PWD" .venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
