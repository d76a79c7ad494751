#!/usr/bin/env bash
# Zarr tidy table: inlet-zarr vs xarray (open_zarr -> to_dataframe -> Arrow) on the same store.
#
#   bash drivers/zarr/benches/bench.sh [ROWS] [v2|v3]
#
# The store is the shared harness's grid (shared/bench/make_data.py): time x 90 x 180 with
# time = ROWS // 1000, so the default ROWS=3100000 gives 3100 x 90 x 180 = 50.2M points.
# (--rows 50000000 would mean 810M points, ~20 GB as Arrow: xarray cannot hold that on 24 GB.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
ROWS=${1:-3100000}
FMT=${2:-v3}
OUT=${ZARR_BENCH_DIR:-/tmp/benchzarr}
SHARED=${SHARED_DIR:-../shared}
PY=$(bash scripts/pyenv.sh)
if [ "$(cat "$OUT/.rows" 2>/dev/null)" != "$ROWS" ]; then
  "$PY" "$SHARED/bench/make_data.py" --rows "$ROWS" --skip csv,avro,multi --out "$OUT" >&2
  echo "$ROWS" > "$OUT/.rows"
fi
STORE="$OUT/grid_$FMT.zarr"
cargo bench -p inlet-zarr --bench zarr_read -- "$STORE" 3 | tee /tmp/zarr_bench_inlet.json
"$PY" drivers/zarr/benches/xarray_baseline.py "$STORE" 2 to_dataframe | tee /tmp/zarr_bench_xarray.json
"$PY" drivers/zarr/benches/xarray_baseline.py "$STORE" 2 chunks | tee /tmp/zarr_bench_floor.json
"$PY" - <<'PY'
import json
i, x, f = (json.load(open(f"/tmp/zarr_bench_{n}.json")) for n in ("inlet", "xarray", "floor"))
print(f"rows {i['rows']:,} (xarray {x['rows']:,})")
print(f"inlet-zarr {i['best_s']:.2f}s peak {i['peak_rss_mb']:.0f} MB | xarray to_dataframe {x['best_s']:.2f}s "
      f"peak {x['peak_rss_mb']:.0f} MB | chunked numpy floor {f['best_s']:.2f}s peak {f['peak_rss_mb']:.0f} MB")
print(f"speed-up vs to_dataframe: {x['best_s'] / i['best_s']:.1f}x; vs the numpy floor: {f['best_s'] / i['best_s']:.1f}x")
PY
