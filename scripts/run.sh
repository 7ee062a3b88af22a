#!/usr/bin/env bash
# Sets up, builds (release) and runs iosim; with no arguments, the main job `iosim --N 4096 --M 100KB`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product iosim >&2
if [ $# -eq 0 ]; then set -- --N 4096 --M 100KB; fi
# `iosim report` runs python3 (the notebooks) from PATH: the project's .venv.
if [ "$1" = report ]; then venv_bin=$(bash scripts/setup_python.sh); export PATH="$venv_bin:$PATH"; fi
exec .build/release/iosim "$@"
