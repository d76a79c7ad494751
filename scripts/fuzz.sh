#!/usr/bin/env bash
# Longer fuzzing runs: `scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]`.
#   scripts/fuzz.sh 600                  # 10 minutes for each of the five targets, one at a time
#   scripts/fuzz.sh 300 catalog plan     # only the targets whose test names contain these words
# Targets: catalog, templates, query, plan, tickets. The seed of each run is printed; replay a
# failure with INLET_FUZZ_SEED=<seed> (and the same SECONDS).
# Needs no Python: the HTTP targets serve the repository's example data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(catalog templates query plan tickets)
fi

export INLET_FUZZ_SECS="$secs"
# Optimised, but with the checks a debug build has (overflow, debug assertions), in a target
# directory of its own so the ordinary release build is not rebuilt.
export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz"
cargo test --release --test fuzz --no-run
status=0
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  # One target at a time, each with the whole machine; output shown as it comes.
  cargo test --release --test fuzz -- --test-threads 1 --nocapture "fuzz_$t" || status=1
done
exit $status
