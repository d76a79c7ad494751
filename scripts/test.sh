#!/usr/bin/env bash
# The test command. Sets up the Python venv (fixtures are written by pyarrow/pandas; the S3
# tests run a real moto server), writes the fixtures into target/fixtures, then runs every
# Rust test of the workspace. Extra arguments go to `cargo nextest run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=$(bash scripts/pyenv.sh)
export INLET_PYTHON="$PY"
export INLET_FIXTURES="$PWD/target/fixtures"
"$PY" tests/fixtures/make_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_avro_fixtures.py "$INLET_FIXTURES" >&2
"$PY" tests/fixtures/make_zarr_fixtures.py "$INLET_FIXTURES" >&2

exec cargo nextest run --workspace --no-fail-fast "$@"
