#!/usr/bin/env bash
# Sets up and runs the whole test suite, then executes the report notebooks headless on a small
# sweep (a broken notebook fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The project's virtual environment (.venv, pinned packages) first on PATH: the Swift tests' NumPy
# check, python/run_tests.sh, and `iosim report`'s python3 and notebooks all use it.
venv_bin=$(bash scripts/setup_python.sh)
export PATH="$venv_bin:$PATH"
# Lint first: the tree must stay as `swift format` (the toolchain's) leaves it (.swift-format).
swift format lint --strict --configuration .swift-format -r Sources Tests Package.swift
# The Python package and the scripts stay as ruff (pinned in python/requirements-test.txt) wants them.
ruff check --quiet python scripts
swift build --build-tests
# Drop the "◇ … started." lines, including the continuation lines of a parameterised case whose
# arguments hold newlines (they would otherwise show as stray fragments); keep results and issues.
swift test --skip-build --parallel --num-workers 2 2>&1 \
  | awk '/^◇/ { skip = ($0 !~ / started\.$/); next } skip { if ($0 ~ / started\.$/) skip = 0; next } { print }' \
  || exit "${PIPESTATUS[0]}"
bash python/run_tests.sh .build/debug/iosim   # the Python package (python/) and the README's CI examples
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
.build/debug/iosim report --out "$out" --small
for f in ski_slope traffic_vs_n ratio_vs_m sram_vs_warps time_estimate gpu_traffic tflops backward_ski_slope backward_vs_forward backward_time_estimate decode_vs_nk decode_splits decode_lean_vs_splitkv kv_utilization_vs_block kv_pow2_vs_length serving_decode_vs_nk; do
  [ -s "$out/figures/$f.png" ] && [ -s "$out/figures/$f.csv" ] || { echo "notebooks: $f missing" >&2; exit 1; }
done
grep -q "^## " "$out/REPORT.md"
echo "notebooks: report regenerated in $out"
