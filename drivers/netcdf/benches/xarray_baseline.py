#!/usr/bin/env python3
"""xarray's side of the NetCDF benchmark: open_dataset -> to_dataframe -> reset_index ->
pa.Table.from_pandas, the table the driver is compared with.

    python xarray_baseline.py FILE.nc [repeats]

Prints one JSON line: best/median seconds, rows, peak RSS (MB) of this process.
"""
import json
import resource
import sys
import time

import pyarrow as pa
import xarray as xr


def to_arrow(path):
    with xr.open_dataset(path) as ds:
        dims = list(ds[list(ds.data_vars)[0]].dims)
        df = ds.to_dataframe(dim_order=dims).reset_index()
        return pa.Table.from_pandas(df, preserve_index=False).num_rows


def main():
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    times, rows = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        rows = to_arrow(path)
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"reader": "xarray to_dataframe", "file": path, "rows": rows, "best_s": times[0],
                      "median_s": times[len(times) // 2],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
