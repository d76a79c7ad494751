#!/usr/bin/env python3
"""xarray's side of the Zarr benchmark: the same store as a long Arrow table, two ways.

    python xarray_baseline.py STORE.zarr [repeats] [mode]

mode `to_dataframe` (the comparison the driver is held to): open_zarr -> to_dataframe ->
reset_index -> pa.Table.from_pandas. mode `chunks`: the anchor harness's hand-written
streaming reader (numpy repeat/tile per time chunk, shared/bench/anchors.py), a floor.
Prints one JSON line: best/median seconds, rows, peak RSS (MB) of this process.
"""
import json
import resource
import sys
import time

import numpy as np
import pyarrow as pa
import xarray as xr


def to_dataframe(path):
    ds = xr.open_zarr(path, consolidated=None)
    dims = list(ds[list(ds.data_vars)[0]].dims)
    df = ds.to_dataframe(dim_order=dims).reset_index()
    return pa.Table.from_pandas(df, preserve_index=False).num_rows


def chunks(path):
    ds = xr.open_zarr(path, consolidated=None)
    names = list(ds.data_vars)
    nt, nlat, nlon = ds.sizes["time"], ds.sizes["lat"], ds.sizes["lon"]
    step = ds[names[0]].encoding.get("chunks", (nt,))[0] or nt
    lat, lon, tvals = ds["lat"].values, ds["lon"].values, ds["time"].values
    rows = 0
    for t0 in range(0, nt, step):
        sl = ds.isel(time=slice(t0, t0 + step))
        k = sl.sizes["time"]
        cols = [np.repeat(tvals[t0:t0 + k], nlat * nlon), np.tile(np.repeat(lat, nlon), k),
                np.tile(lon, k * nlat)]
        cols += [np.asarray(sl[n].values, dtype=np.float32).reshape(-1) for n in names]
        rows += pa.RecordBatch.from_arrays([pa.array(c) for c in cols], names=["time", "lat", "lon"] + names).num_rows
    return rows


def main():
    path = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    mode = sys.argv[3] if len(sys.argv) > 3 else "to_dataframe"
    fn = {"to_dataframe": to_dataframe, "chunks": chunks}[mode]
    times, rows = [], 0
    for _ in range(repeats):
        t = time.perf_counter()
        rows = fn(path)
        times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"reader": f"xarray {mode}", "store": path, "rows": rows, "best_s": times[0],
                      "median_s": times[len(times) // 2],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
