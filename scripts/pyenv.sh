#!/usr/bin/env bash
# Create (or reuse) the Python venv used by Inlet's tests.
#
#   PY=$(bash scripts/pyenv.sh)      # stdout: the venv's python path, nothing else
#
# The venv lives at ${INLET_PYENV:-target/pyenv} (relative to the repo root).
# tests/requirements.txt is pip-installed only when its content changed since
# the last successful install (sha256 stamp kept inside the venv).
# Needs python3 (>= 3.9) and either python3-venv (ensurepip) or a system pip.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)

venv=${INLET_PYENV:-target/pyenv}
case "$venv" in
  /*) ;;
  *) venv="$repo_root/$venv" ;;
esac
req="$repo_root/tests/requirements.txt"
stamp="$venv/.inlet-requirements.sha256"
py="$venv/bin/python"

log() { echo "pyenv.sh: $*" >&2; }

if ! "$py" -m pip --version >/dev/null 2>&1; then
  log "creating venv at $venv"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  if ! python3 -m venv "$venv" >&2; then
    # Debian without python3-venv has no ensurepip: make a bare venv and
    # bootstrap pip into it with the system pip instead.
    log "python3 -m venv failed (no ensurepip?); trying --without-pip + system pip"
    rm -rf "$venv"
    python3 -m venv --without-pip "$venv" >&2
    if ! python3 -m pip --python "$py" install --quiet pip >&2; then
      log "error: cannot install pip into $venv; install python3-venv (apt-get install python3-venv) or python3-pip"
      rm -rf "$venv"
      exit 1
    fi
  fi
fi

want=$(sha256sum "$req" | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  log "installing $req"
  "$py" -m pip install --quiet --upgrade pip >&2 || log "warning: pip self-upgrade failed (continuing)"
  "$py" -m pip install --quiet -r "$req" >&2
  echo "$want" > "$stamp"
else
  log "requirements up to date"
fi

echo "$py"
