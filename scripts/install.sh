#!/usr/bin/env bash
# Install everything cubeworld needs on a fresh Debian machine, idempotently:
# Debian packages (software EGL for MuJoCo, Chromium for the web-app tests, Slurm +
# MariaDB for the cluster tests), a virtual environment in .venv with the CPU torch
# that lies on this machine's disk, the package itself, and the web app's npm bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # MuJoCo renders headless through EGL with Mesa's software driver.
  libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0
  # Web-app tests drive Debian's Chromium with Playwright.
  chromium
  # Study tests run a real single-node Slurm cluster with accounting.
  slurm-wlm slurmdbd munge mariadb-server
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[install] Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[install] virtual environment .venv"
  "$PY" -m venv .venv
fi
# The CPU build of torch first: the package's open range (torch>=2.4) then keeps it.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "[install] torch==2.13.0 (CPU)"
  if ! .venv/bin/pip install -q torch==2.13.0 > .venv/pip-torch.log 2>&1; then
    grep -v "is ignored: it is neither" .venv/pip-torch.log; exit 1
  fi
fi
stamp=".venv/.cubeworld-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[install] cubeworld and its dependencies"
  if ! .venv/bin/pip install -q -e ".[dev]" > .venv/pip-install.log 2>&1; then
    grep -v "is ignored: it is neither" .venv/pip-install.log; exit 1
  fi
  touch "$stamp"
fi
.venv/bin/python -c "import cubeworld, mujoco, transformers, peft" 

WEB=cubeworld/human/web
if [ -f "$WEB/package-lock.json" ]; then
  if [ ! -d "$WEB/node_modules" ] || [ "$WEB/package-lock.json" -nt "$WEB/node_modules" ]; then
    echo "[install] web app JavaScript (npm ci)"
    (cd "$WEB" && npm ci --no-audit --no-fund --silent)
  fi
  (cd "$WEB" && npm run --silent build)
fi
echo "[install] done"
