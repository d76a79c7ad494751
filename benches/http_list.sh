#!/usr/bin/env bash
# Listing and paging a 100,000-entry catalog over HTTP (#14: p99 under 5 ms): a release
# `inlet serve` with one generated catalog of 100,000 entries, then wrk on
# GET /api/v1/catalogs/big?page_size=100&page_token=... with a random cursor per request
# (1,000 cursors spread over the catalog, the first page among them), 10 s at c=1 and c=8.
# Prints the catalog's load time (from the server's start to its first answer) and wrk's report.
#
#   cargo build --release --bin inlet
#   bash benches/http_list.sh
#
# Needs wrk (apt-get install -y wrk) and python3. Client and server share the machine's cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=target/release/inlet
[ -x "$bin" ] || { echo "build first: cargo build --release --bin inlet" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

. benches/serve.sh
mkdir "$tmp/catalogs"
python3 - "$tmp" <<'PY'
import base64, random, sys
tmp = sys.argv[1]
n = 100_000
with open(f"{tmp}/catalogs/big.yaml", "w") as f:
    f.write("sources:\n")
    for i in range(n):
        f.write(f"  trips_{i:06}:\n    description: Trips of shard {i}\n    driver: parquet\n"
                f"    args:\n      urlpath: \"s3://bucket/shard={i}/data.parquet\"\n"
                f"      storage_options: {{anon: true}}\n")
random.seed(7)
paths = ["/api/v1/catalogs/big?page_size=100"]
for k in sorted(random.sample(range(n), 999)):
    token = base64.urlsafe_b64encode(f"big.trips_{k:06}".encode()).decode().rstrip("=")
    paths.append(f"/api/v1/catalogs/big?page_size=100&page_token={token}")
with open(f"{tmp}/paths.lua", "w") as f:
    f.write("paths = {\n" + ",\n".join(f'"{p}"' for p in paths) + "\n}\n")
    f.write("math.randomseed(7)\nrequest = function() return wrk.format(nil, paths[math.random(#paths)]) end\n")
PY
start=$(date +%s.%N)
INLET_LOG=warn start_inlet --no-flight --catalog "$tmp/catalogs" --state-dir "$tmp/state"
first=$(curl -fsS -o /dev/null -w '%{time_total}' "$base/api/v1/catalogs/big?page_size=100")
echo "load average: $(cut -d' ' -f1 /proc/loadavg); $(nproc) CPUs"
echo "server up and first page answered $(echo "$(date +%s.%N) - $start" | bc) s after start (first page: ${first} s, builds the name order)"
for c in 1 8; do
  t=$(( c < 2 ? c : 2 ))
  echo "== wrk -t$t -c$c -d10s --latency (random page of 100 of 100,000 entries)"
  wrk -t"$t" -c"$c" -d10s --latency -s "$tmp/paths.lua" "$base"
done
echo "server peak RSS: $(grep VmHWM /proc/"$server"/status | awk '{print $2/1024 " MB"}')"
