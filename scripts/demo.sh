#!/usr/bin/env bash
# The main job on built-in defaults: install, then run it. Output goes to ./demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/cubeworld demo --out demo "$@"
