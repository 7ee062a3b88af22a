#!/usr/bin/env bash
# Sets up and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build --parallel --num-workers 2 2>&1 | grep -v -E '^(◇|↳)' || exit "${PIPESTATUS[0]}"
