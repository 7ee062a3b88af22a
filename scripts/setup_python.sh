#!/usr/bin/env bash
# Installs the notebooks' pinned Python packages (Notebooks/requirements.txt) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import matplotlib, nbformat, nbclient, ipykernel, numpy" >/dev/null 2>&1; then
  echo "setup: installing Notebooks/requirements.txt" >&2
  python3 -m pip install --quiet --disable-pip-version-check -r Notebooks/requirements.txt
fi
