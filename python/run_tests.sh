#!/usr/bin/env bash
# Installs the Python package (python/) into a throwaway virtual environment that sees the system's
# packages (numpy from Notebooks/requirements.txt, pytest pinned in python/requirements-test.txt),
# then runs its tests against the iosim binary given as $1 (default .build/debug/iosim).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-.build/debug/iosim}")
venv=$(mktemp -d); trap 'rm -rf "$venv"' EXIT
python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps ./python
IOSIM="$binary" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
