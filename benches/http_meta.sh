#!/usr/bin/env bash
# Metadata throughput of a release `inlet serve`: wrk on GET /api/v1/sources/bench.trips at
# c=1 and c=64 (10 s each, threads min(2, c), --latency). Prints wrk's report (req/s, p50, p99).
#
#   cargo build --release --bin inlet
#   bash benches/http_meta.sh [PARQUET_FILE]     # default /tmp/benchdata/trips.parquet
#
# Needs wrk (apt-get install -y wrk). Client and server share the machine's cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

data=${1:-/tmp/benchdata/trips.parquet}
bin=target/release/inlet
[ -x "$bin" ] || { echo "build first: cargo build --release --bin inlet" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -f "$data" ] || { echo "no $data: see ../shared/bench/make_data.py" >&2; exit 1; }

. benches/serve.sh
mkdir "$tmp/catalogs"
printf 'sources:\n  trips:\n    driver: parquet\n    args:\n      urlpath: %s\n' "$data" > "$tmp/catalogs/bench.yaml"
INLET_LOG=warn INLET_TICKET_KEY_FILE="$tmp/ticket.key" \
  start_inlet --catalog "$tmp/catalogs" --allow-path "$(dirname "$data")"
url="$base/api/v1/sources/bench.trips"
curl -fsS -o /dev/null "$url"   # the first request discovers the file; measure the steady state

echo "load average: $(cut -d' ' -f1 /proc/loadavg); $(nproc) CPUs; GET $url ($(curl -fsS "$url" | wc -c) bytes)"
for c in 1 64; do
  t=$(( c < 2 ? c : 2 ))
  echo "== wrk -t$t -c$c -d10s --latency $url"
  wrk -t"$t" -c"$c" -d10s --latency "$url"
done
echo "server peak RSS: $(grep VmHWM /proc/"$server"/status | awk '{print $2/1024 " MB"}')"
