#!/usr/bin/env python3
"""geopandas against a real `inlet serve`: the example catalog's geo sources, streamed as Arrow,
become GeoDataFrames (GeoArrow `geoarrow.wkb` extension and `geo` schema metadata) equal to what
geopandas reads from the same files; the NDJSON and text sources equal what Python reads.

    check_geo.py BASE_URL CATALOG_DATA_DIR

Prints one line per check and exits non-zero if any failed.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import geopandas as gpd
import pyarrow as pa
import pyarrow.json as pj
from geopandas.io.arrow import _arrow_to_geopandas

failed = []


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'}: {name}{' - ' + detail if detail and not ok else ''}")
    if not ok:
        failed.append(name)


def fetch(base, source):
    url = f"{base}/api/v1/sources/{source}/data"
    return pa.ipc.open_stream(urllib.request.urlopen(url)).read_all()


def same_crs(a, b) -> bool:
    """Same CRS up to axis order (OGC:CRS84 is EPSG:4326 lon/lat), or the same EPSG code (an
    ESRI .prj's GCS_WGS_1984 is EPSG:4326)."""
    if a is None or b is None:
        return a is b
    return a.equals(b, ignore_axis_order=True) or (a.to_epsg() is not None
                                                   and a.to_epsg() == b.to_epsg())


def same_frame(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> str:
    if list(got.columns) != list(want.columns):
        return f"columns {list(got.columns)} != {list(want.columns)}"
    if not same_crs(got.crs, want.crs):
        return f"crs {got.crs} != {want.crs}"
    if not got.geometry.set_crs(None, allow_override=True).geom_equals(
            want.geometry.set_crs(None, allow_override=True)).all():
        return "geometries differ"
    for c in got.columns:
        if c == got.geometry.name:
            continue
        if [str(v) for v in got[c]] != [str(v) for v in want[c]]:
            return f"column {c} differs: {list(got[c])} != {list(want[c])}"
    return ""


def dates_as_text(frame):
    for c in frame.columns:
        if hasattr(frame[c], "dt") and c != frame.geometry.name:
            frame[c] = frame[c].dt.strftime("%Y-%m-%d")
    return frame


def main():
    base, data = sys.argv[1], Path(sys.argv[2])
    files = {
        "example.districts": lambda: gpd.read_file(data / "districts.geojson"),
        "example.districts_json": lambda: gpd.read_file(data / "districts.geojson"),
        "example.districts_geoparquet": lambda: gpd.read_parquet(data / "districts.parquet"),
        "example.districts_shapefile": lambda: gpd.read_file(data / "districts_shp.zip"),
    }
    for source, read in files.items():
        table = fetch(base, source)
        got, want = dates_as_text(gpd.GeoDataFrame.from_arrow(table)), dates_as_text(read())
        diff = same_frame(got, want)
        check(f"GeoDataFrame.from_arrow {source}", not diff, diff)
        via_geo = _arrow_to_geopandas(table)
        check(f"`geo` metadata {source}", same_crs(via_geo.crs, want.crs), f"{via_geo.crs}")
    rides = fetch(base, "example.ride_log")
    check("ride_log equals pyarrow.json.read_json",
          rides.equals(pj.read_json(data / "ride_log.jsonl")))
    notes = fetch(base, "example.notes").to_pydict()
    lines = [line.rstrip("\n") for f in sorted((data / "notes").glob("*.txt"))
             for line in open(f, encoding="utf-8")]
    check("notes equal Python's lines", notes["line"] == lines, json.dumps(notes["line"]))
    if failed:
        sys.exit(f"{len(failed)} check(s) failed")


if __name__ == "__main__":
    main()
