#!/usr/bin/env bash
# Installs the notebooks' pinned Python packages (Notebooks/requirements.txt) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m pip --version >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing python3-pip" >&2
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
fi
if ! python3 -c "import matplotlib, nbformat, nbclient, ipykernel, numpy" >/dev/null 2>&1; then
  echo "setup: installing Notebooks/requirements.txt" >&2
  # A system Python that refuses pip (PEP 668) gets a user install instead.
  python3 -m pip install --quiet --disable-pip-version-check -r Notebooks/requirements.txt 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages -r Notebooks/requirements.txt
fi
