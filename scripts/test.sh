#!/usr/bin/env bash
# The test suite: install, then run pytest (arguments are passed on to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
