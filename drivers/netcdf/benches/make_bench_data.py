#!/usr/bin/env python3
"""The NetCDF benchmark's file: xarray writes time x 90 x 180 float32 `air` (CF time, lat/lon
coordinates) as NetCDF 4 (chunks of 10 steps, zlib level 1 + shuffle) or NetCDF 3 (64-bit
offset, `time` the record dimension).

    python make_bench_data.py OUT.nc TIMES nc4|nc3

TIMES=3100 gives 3100 x 90 x 180 = 50.2M points. Seeded; written in slabs of 100 steps so
memory stays small.
"""
import sys

import numpy as np
import pandas as pd
import xarray as xr


def main():
    out, nt, fmt = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(7)
    lat = np.linspace(-89.0, 89.0, 90)
    lon = np.linspace(0.0, 358.0, 180)
    time = pd.date_range("2000-01-01", periods=nt, freq="6h")
    air = np.empty((nt, 90, 180), dtype="float32")
    for t0 in range(0, nt, 100):
        k = min(100, nt - t0)
        air[t0:t0 + k] = rng.normal(280, 10, (k, 90, 180)).astype("float32")
    ds = xr.Dataset({"air": (("time", "lat", "lon"), air, {"units": "K"})},
                    coords={"time": time, "lat": lat, "lon": lon})
    if fmt == "nc4":
        enc = {"air": {"zlib": True, "complevel": 1, "shuffle": True, "chunksizes": (10, 90, 180)},
               "time": {"units": "hours since 2000-01-01", "dtype": "int64"}}
        ds.to_netcdf(out, engine="netcdf4", format="NETCDF4", encoding=enc)
    else:
        enc = {"time": {"units": "hours since 2000-01-01", "dtype": "int32"}}
        ds.to_netcdf(out, engine="scipy", format="NETCDF3_64BIT", encoding=enc, unlimited_dims=["time"])


if __name__ == "__main__":
    main()
