#!/usr/bin/env bash
# Regenerates the report: sweeps, notebooks executed headless, Reports/REPORT.md with its plots.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
venv_bin=$(bash scripts/setup_python.sh)   # .venv: `iosim report` runs python3 (the notebooks) from PATH
export PATH="$venv_bin:$PATH"
swift build -c release --product iosim >/dev/null
.build/release/iosim report --out Reports "$@"
