#!/usr/bin/env bash
# NetCDF tidy table: inlet-netcdf vs xarray (open_dataset -> to_dataframe -> Arrow) on one file.
#
#   bash drivers/netcdf/benches/bench.sh [TIMES] [nc4|nc3]
#
# The file is time x 90 x 180 float32 (make_bench_data.py): the default TIMES=3100 gives
# 50.2M points. Each side runs in its own process, so each peak RSS is its own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
TIMES=${1:-3100}
FMT=${2:-nc4}
OUT=${NETCDF_BENCH_DIR:-/tmp/benchnetcdf}
PY=$(bash scripts/pyenv.sh)
FILE="$OUT/grid_${FMT}_${TIMES}.nc"
mkdir -p "$OUT"
[ -f "$FILE" ] || "$PY" drivers/netcdf/benches/make_bench_data.py "$FILE" "$TIMES" "$FMT" >&2
cargo bench -p inlet-netcdf --bench netcdf_read -- "$FILE" 3 | tee /tmp/netcdf_bench_inlet.json
"$PY" drivers/netcdf/benches/xarray_baseline.py "$FILE" 2 | tee /tmp/netcdf_bench_xarray.json
"$PY" - <<'PY'
import json
i, x = (json.load(open(f"/tmp/netcdf_bench_{n}.json")) for n in ("inlet", "xarray"))
print(f"rows {i['rows']:,} (xarray {x['rows']:,})")
print(f"inlet-netcdf {i['best_s']:.2f}s peak {i['peak_rss_mb']:.0f} MB | xarray to_dataframe "
      f"{x['best_s']:.2f}s peak {x['peak_rss_mb']:.0f} MB | speed-up {x['best_s'] / i['best_s']:.1f}x")
PY
