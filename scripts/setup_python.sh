#!/usr/bin/env bash
# Installs the pinned Python packages into the project's virtual environment .venv/ (never into the
# system Python): Notebooks/requirements.txt (the notebooks and their headless runner) and
# python/requirements-test.txt (the Python package's tests). Creates .venv when it is missing or
# broken; skips pip when .venv's stamp records the same requirements, so a second run is quick and
# offline. Prints .venv's bin directory (absolute) on stdout, everything else on stderr:
#     PATH="$(bash scripts/setup_python.sh):$PATH"
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
venv=$PWD/.venv
reqs=(Notebooks/requirements.txt python/requirements-test.txt)
stamp=$venv/.requirements.sha256

apt_install() {
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing $*" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# A usable .venv: its python starts, is a virtual environment that does not see the system's
# packages, and has pip.
venv_ok() {
  "$venv/bin/python" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' >/dev/null 2>&1 &&
    grep -qx 'include-system-site-packages = false' "$venv/pyvenv.cfg" 2>/dev/null &&
    "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
  rm -rf "$venv"
  command -v python3 >/dev/null 2>&1 || apt_install python3
  echo "setup: creating the virtual environment .venv" >&2
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 has no ensurepip (so no venv) without python3-venv.
    rm -rf "$venv"
    apt_install python3-venv
    python3 -m venv "$venv" >&2
  fi
  venv_ok || { echo "setup: .venv was created but does not work" >&2; exit 1; }
fi

want=$(sha256sum "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing ${reqs[*]} into .venv" >&2
  rm -f "$stamp"
  args=(); for r in "${reqs[@]}"; do args+=(-r "$r"); done
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" >&2
  echo "$want" >"$stamp"
fi
echo "$venv/bin"
