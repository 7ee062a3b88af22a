#!/usr/bin/env bash
# Installs the Python package (python/) with pip into a throwaway directory and runs its tests with
# the project's virtual environment .venv (scripts/setup_python.sh: numpy pinned in
# Notebooks/requirements.txt, pytest and setuptools in python/requirements-test.txt; no system
# packages), against the iosim binary given as $1 (default .build/debug/iosim). Offline once .venv
# is set up: the package is built with .venv's setuptools and gets no dependencies from pip.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-.build/debug/iosim}")
venv_bin=$(bash scripts/setup_python.sh)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
cp -R python "$tmp/src"
"$venv_bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-build-isolation \
  --no-deps --target "$tmp/site" "$tmp/src" >&2
# PATH: the README's shell example runs python3 (with NumPy) from PATH.
PATH="$venv_bin:$PATH" PYTHONPATH="$tmp/site" IOSIM="$binary" \
  "$venv_bin/python" -m pytest -q -W error -p no:cacheprovider python/tests
