#!/usr/bin/env bash
# The test command. Sets up the Python venv (fixtures are written by pyarrow/pandas; the S3
# tests run a real moto server), writes the fixtures into target/fixtures, then runs every
# Rust test of the workspace. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The browser tests (tests/ui.rs) drive Debian's headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium and chromium-driver for the browser tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || echo "test.sh: apt-get update failed (continuing)" >&2
    apt-get install -y -qq chromium chromium-driver >&2 \
      || echo "test.sh: could not install chromium; the browser tests (tests/ui.rs) will fail" >&2
  else
    echo "test.sh: chromium/chromedriver missing and not root: the browser tests (tests/ui.rs) will fail; install chromium chromium-driver" >&2
  fi
fi

# Azurite, the Azure Storage emulator (tests/azure.rs), from npm into target/azurite.
if [ ! -x target/azurite/node_modules/.bin/azurite-blob ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "test.sh: installing azurite into target/azurite" >&2
    npm install --no-audit --no-fund --silent --prefix target/azurite azurite@3 >&2 \
      || echo "test.sh: could not install azurite; tests/azure.rs will fail" >&2
  else
    echo "test.sh: npm is missing: tests/azure.rs will fail (install Node.js and npm)" >&2
  fi
fi

PY=$(bash scripts/pyenv.sh)
export INLET_PYTHON="$PY"
# The OPeNDAP driver's tests run a real pydap server from its own venv (numpy < 2).
export INLET_PYDAP_PYTHON="$(bash scripts/pydap-venv.sh)"
export INLET_FIXTURES="$PWD/target/fixtures"
"$PY" tests/fixtures/make_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_avro_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_zarr_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_netcdf_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_geotiff_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_geo_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_json_fixtures.py "$INLET_FIXTURES" >&2

exec cargo nextest run --workspace --no-fail-fast "$@"
