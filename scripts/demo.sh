#!/usr/bin/env bash
# The main job on built-in defaults: install, then run the study grid at CPU scale
# (studies/quick.yaml: sets generated, the tiny offline Qwen2-VL fine-tuned per condition
# and seed, evaluated after every epoch, report in runs/quick/report/report.html).
# Running it again does nothing; a killed run resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/cubeworld study run studies/quick.yaml "$@"
