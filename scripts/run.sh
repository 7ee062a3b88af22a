#!/usr/bin/env bash
# Sets up, builds (release) and runs iosim; with no arguments, the main job `iosim --N 4096 --M 100KB`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build -c release --product iosim >&2
if [ $# -eq 0 ]; then set -- --N 4096 --M 100KB; fi
exec .build/release/iosim "$@"
