#!/usr/bin/env bash
# Create (or reuse) the venv of the OPeNDAP driver's test server (drivers/opendap/tests/dap_server.py).
#
#   PY=$(bash scripts/pydap-venv.sh)   # stdout: the venv's python path, nothing else
#
# Separate from target/pyenv: pydap 3.4.1 (whose server the tests run, one bug patched in
# dap_server.py) needs numpy < 2, while the main venv has numpy 2; pydap 3.5's server
# mis-serves multi-dimensional hyperslabs. The venv lives at ${INLET_PYDAP_VENV:-target/pydap-venv}.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${INLET_PYDAP_VENV:-target/pydap-venv}
case "$venv" in
  /*) ;;
  *) venv="$(pwd)/$venv" ;;
esac
py="$venv/bin/python"
# setuptools: pydap 3.4 imports pkg_resources, which venvs of Python >= 3.12 lack.
reqs=("pydap[server]==3.4.1" "numpy<2" "netCDF4<1.7.3" "setuptools<80")
want=$(printf '%s\n' "${reqs[@]}" | sha256sum | cut -d' ' -f1)
stamp="$venv/.inlet-requirements.sha256"

if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || ! "$py" -c "import pydap.handlers.netcdf" >/dev/null 2>&1; then
  echo "pydap-venv.sh: installing ${reqs[*]} into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv" >&2
  "$py" -m pip install --quiet "${reqs[@]}" >&2
  echo "$want" > "$stamp"
fi
echo "$py"
