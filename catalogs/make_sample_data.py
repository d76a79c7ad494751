"""Writes the sample data of the example catalog (catalogs/data, catalogs/regions).

    python3 -m pip install pyarrow pandas numpy fastavro xarray zarr netCDF4 rasterio geopandas pyogrio shapely
    python3 catalogs/make_sample_data.py

Seeded, so re-running gives the same values.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(42)


def trips(n: int, start: str) -> pa.Table:
    pickup = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, 28 * 86400, n), unit="s")
    tips = rng.gamma(2.0, 1.5, n).round(2)
    tips[rng.random(n) < 0.2] = np.nan
    return pa.table(
        {
            "trip_id": pa.array(np.arange(n, dtype=np.int64)),
            "vendor": pa.array(rng.choice(["CMT", "VTS", "DDS"], n)).dictionary_encode(),
            "pickup_at": pa.array(pickup.sort_values(), pa.timestamp("us", tz="UTC")),
            "passengers": pa.array(rng.integers(1, 6, n), pa.int8()),
            "distance_km": pa.array(rng.exponential(3.0, n).round(3)),
            "fare": pa.array(rng.normal(15, 5, n).clip(3).round(2)),
            "tip": pa.array(tips, from_pandas=True),
        }
    )


def main() -> None:
    data = HERE / "data"
    (data / "monthly").mkdir(parents=True, exist_ok=True)
    pq.write_table(trips(20_000, "2024-01-01"), data / "trips.parquet", row_group_size=5_000, compression="zstd")
    for month in (1, 2, 3):
        t = trips(2_000, f"2024-{month:02d}-01")
        pq.write_table(t, data / "monthly" / f"trips_2024-{month:02d}.parquet", compression="snappy")
    stations = pd.DataFrame(
        {
            "station_id": range(1, 41),
            "name": [f'Station {i}, "{chr(65 + i % 26)}" side' for i in range(1, 41)],
            "lat": rng.uniform(40.5, 40.9, 40).round(5),
            "lon": rng.uniform(-74.2, -73.7, 40).round(5),
            "opened": pd.date_range("2010-01-01", periods=40, freq="90D").date,
            "capacity": [None if i % 7 == 0 else int(c) for i, c in enumerate(rng.integers(10, 60, 40))],
        }
    )
    with open(data / "stations.csv", "w", newline="") as f:
        f.write("# stations of the sample city; NA marks unknown capacity\n")
        stations.to_csv(f, index=False, na_rep="NA")
    for region in ("eu", "us"):
        days = pd.date_range("2024-01-01", periods=60, freq="D")
        sales = pd.DataFrame({"day": days.date, "region": region, "units": rng.integers(0, 500, 60)})
        sales.to_csv(HERE / "regions" / f"sales_{region}.csv", index=False)


def ride_events(path: Path) -> None:
    """Avro (fastavro, deflate): nested records, an enum, an array, a nullable double, timestamps."""
    import fastavro

    ev_rng = np.random.default_rng(7)
    schema = {
        "type": "record",
        "name": "RideEvent",
        "fields": [
            {"name": "event_id", "type": "long"},
            {"name": "trip_id", "type": "long"},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["pickup", "dropoff", "cancel"]}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "position", "type": {"type": "record", "name": "Position",
                                          "fields": [{"name": "lat", "type": "double"}, {"name": "lon", "type": "double"}]}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "fare", "type": ["null", "double"], "default": None},
        ],
    }
    start = pd.Timestamp("2024-01-01", tz="UTC")
    records = [
        {
            "event_id": i,
            "trip_id": i // 2,
            "kind": ["pickup", "dropoff", "cancel"][int(ev_rng.integers(0, 3))],
            "at": (start + pd.Timedelta(seconds=int(i * 37))).to_pydatetime(),
            "position": {"lat": round(float(ev_rng.uniform(40.5, 40.9)), 5), "lon": round(float(ev_rng.uniform(-74.2, -73.7)), 5)},
            "tags": [t for t in ("airport", "night", "shared") if ev_rng.random() < 0.3],
            "fare": None if i % 11 == 0 else round(float(ev_rng.normal(15, 5)), 2),
        }
        for i in range(2_000)
    ]
    with open(path, "wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), records, codec="deflate", sync_interval=16_000)


def air_grid(path: Path) -> None:
    """Zarr v2 (xarray, consolidated): a CF time axis, lat/lon coordinates, chunked along time."""
    import shutil

    import xarray as xr

    g_rng = np.random.default_rng(11)
    time = pd.date_range("2024-01-01", periods=12, freq="MS")
    lat = np.linspace(40.5, 40.9, 10)
    lon = np.linspace(-74.2, -73.7, 20)
    air = (10 + 8 * np.sin(np.arange(12) / 12 * 2 * np.pi)[:, None, None] + g_rng.normal(0, 1, (12, 10, 20))).astype("float32")
    air[0, 0, :3] = np.nan
    ds = xr.Dataset({"air": (("time", "lat", "lon"), air, {"units": "degC"})}, coords={"time": time, "lat": lat, "lon": lon})
    shutil.rmtree(path, ignore_errors=True)
    encoding = {"air": {"_FillValue": -9999.0, "chunks": (4, 10, 20)}}
    ds.to_zarr(path, zarr_format=2, consolidated=True, encoding=encoding)


def sea_surface(path: Path) -> None:
    """NetCDF 4 (xarray through netCDF4): sea surface temperature packed as int16 with
    scale_factor/add_offset and a _FillValue over land, CF time, chunked and deflated."""
    import xarray as xr

    s_rng = np.random.default_rng(12)
    time = pd.date_range("2023-01-01", periods=24, freq="MS")
    lat = np.linspace(30.0, 41.0, 12)
    lon = np.linspace(-80.0, -63.0, 18)
    season = 4 * np.cos((np.arange(24) - 7) / 12 * 2 * np.pi)[:, None, None]
    sst = 28 - 0.6 * (lat[None, :, None] - 30) + season + s_rng.normal(0, 0.3, (24, 12, 18))
    sst[:, -3:, :4] = np.nan  # land
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "long_name": "sea surface temperature"})},
        coords={"time": time, "lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east"})},
        attrs={"title": "Inlet sample: western North Atlantic SST"},
    )
    encoding = {
        "time": {"units": "days since 2023-01-01", "dtype": "int32"},
        "sst": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 20.0, "_FillValue": -32767,
                "zlib": True, "complevel": 4, "shuffle": True, "chunksizes": (6, 12, 18)},
    }
    ds.to_netcdf(path, engine="netcdf4", format="NETCDF4", encoding=encoding)


def elevation(path: Path) -> None:
    """A Cloud-Optimized GeoTIFF (rasterio's COG driver): int16 heights in metres on a UTM grid,
    64x64 tiles, deflate + predictor 2, overviews, nodata -32768 over a lake."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    e_rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:120, 0:160]
    hills = 300 + 120 * np.sin(xx / 23) * np.cos(yy / 17) + 2.5 * yy + e_rng.normal(0, 3, yy.shape)
    dem = hills.round().astype("int16")
    dem[(yy - 90) ** 2 + (xx - 30) ** 2 < 150] = -32768
    profile = dict(driver="COG", width=160, height=120, count=1, dtype="int16", nodata=-32768,
                   crs=CRS.from_epsg(32618), transform=from_origin(583000, 4507000, 30, 30),
                   blocksize=64, compress="deflate", predictor=2, overview_resampling="average")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dem, 1)


def geo_and_text(data: Path) -> None:
    """Districts as GeoJSON, GeoParquet and a zipped shapefile; a ride log as NDJSON; notes."""
    import json
    import shutil
    import tempfile
    import zipfile

    import geopandas as gpd
    from shapely.geometry import Point, box

    names = ["Harbour", "Old Town", "Riverside", "Hillcrest", "Market", "Parkview"]
    districts = gpd.GeoDataFrame({
        "district": names,
        "population": [12500, 8300, 15100, 6400, 9900, 7200],
        "area_km2": [3.2, 1.1, 4.8, 5.5, 0.9, 2.7],
        "founded": ["1650-05-01", "1402-01-01", "1888-09-12", "1921-03-30", "1530-06-15",
                    "1960-11-02"],
    }, geometry=[box(4.85 + 0.02 * (i % 3), 52.35 + 0.02 * (i // 3),
                     4.87 + 0.02 * (i % 3), 52.37 + 0.02 * (i // 3)) for i in range(6)],
        crs="EPSG:4326")
    districts.to_file(data / "districts.geojson", driver="GeoJSON", engine="pyogrio")
    districts.to_parquet(data / "districts.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        districts.to_file(Path(tmp) / "districts.shp", driver="ESRI Shapefile", engine="pyogrio")
        with zipfile.ZipFile(data / "districts_shp.zip", "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).iterdir()):
                z.write(f, f.name)
    with open(data / "ride_log.jsonl", "w") as f:
        for i in range(200):
            p = Point(4.85 + (i % 17) * 0.004, 52.35 + (i % 13) * 0.004)
            f.write(json.dumps({"ride": i, "district": names[i % 6], "minutes": 5 + (i * 7) % 40,
                                "fare": round(3.5 + ((i * 37) % 100) / 10, 2),
                                "pickup": {"lon": round(p.x, 4), "lat": round(p.y, 4)},
                                "tags": ["night"] if i % 5 == 0 else []}) + "\n")
    notes = data / "notes"
    shutil.rmtree(notes, ignore_errors=True)
    notes.mkdir()
    (notes / "2024-01.txt").write_text("Harbour ferry ran late all week\nNew stand at Market\n")
    (notes / "2024-02.txt").write_text("Riverside bridge closed for works\n"
                                       "Parkview rides up 12%\nHillcrest: no incidents\n")


if __name__ == "__main__":
    main()
    ride_events(HERE / "data" / "ride_events.avro")
    air_grid(HERE / "data" / "air_grid.zarr")
    sea_surface(HERE / "data" / "sea_surface.nc")
    elevation(HERE / "data" / "elevation.tif")
    geo_and_text(HERE / "data")
