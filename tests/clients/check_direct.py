"""Readers users use, on Inlet's direct file URLs (tests/direct.rs starts the server).

usage: check_direct.py BASE_URL FIXTURES_DIR

Polars (read_parquet, scan_parquet), pandas through fsspec's HTTP filesystem, and DuckDB
(when its httpfs extension is installed) must read what pyarrow reads from the file itself;
a column of the first rows through scan_parquet must fetch a small part of the file (bytes
counted by the server's `inlet_file_bytes_served_total`).
"""

import json
import os
import re
import sys
import urllib.request

import pandas as pd
import polars as pl
import pyarrow.parquet as pq

BASE, FIXTURES = sys.argv[1], sys.argv[2]


def get_json(path):
    with urllib.request.urlopen(BASE + path) as r:
        return json.load(r)


def file_url(source):
    files = get_json(f"/api/v1/sources/{source}/files")["files"]
    assert len(files) == 1, files
    return files[0]["url"]


def served(source):
    """Bytes the server has sent of `source`'s files so far."""
    with urllib.request.urlopen(BASE + "/metrics") as r:
        text = r.read().decode()
    pattern = r'^inlet_file_bytes_served_total\{source="' + re.escape(source) + r'"\} (\d+)'
    m = re.search(pattern, text, re.M)
    return int(m.group(1)) if m else 0


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""))
    if not ok:
        sys.exit(1)


types_path = os.path.join(FIXTURES, "parquet/types.parquet")
expected = pl.from_arrow(pq.read_table(types_path))

# Polars on the catalog's name: /data.parquet redirects to the signed file URL.
by_name = pl.read_parquet(f"{BASE}/api/v1/sources/fx.types/data.parquet")
check("polars read_parquet(/data.parquet) equals pyarrow", by_name.equals(expected))

# Polars on the file URL from /files.
by_url = pl.read_parquet(file_url("fx.types"))
check("polars read_parquet(file url) equals pyarrow", by_url.equals(expected))

# scan_parquet fetches the footer and one column chunk, not the file.
big_path = os.path.join(FIXTURES, "parquet/big.parquet")
big_size = os.path.getsize(big_path)
before = served("fx.big")
head = pl.scan_parquet(f"{BASE}/api/v1/sources/fx.big/data.parquet").select("x").head(10).collect()
fetched = served("fx.big") - before
want = pl.from_arrow(pq.read_table(big_path, columns=["x"]).slice(0, 10))
check("polars scan_parquet().select().head(10) values", head.equals(want))
check(
    "scan_parquet fetched a small part of the file",
    0 < fetched < big_size // 4,
    f"{fetched} of {big_size} bytes",
)

# pandas through fsspec's HTTPFileSystem (aiohttp, Range requests).
pd_types = pd.read_parquet(file_url("fx.types"))
pd_expected = pq.read_table(types_path).to_pandas()
check("pandas read_parquet(url) via fsspec equals pyarrow", pd_types.equals(pd_expected))
pd_csv = pd.read_csv(file_url("fx.plain"))
check(
    "pandas read_csv(url) equals the file",
    pd_csv.equals(pd.read_csv(os.path.join(FIXTURES, "csv/plain.csv"))),
)

# DuckDB reads HTTP with its httpfs extension; a machine without it installed (no network to
# fetch it) cannot run this part, and says so.
try:
    import duckdb

    con = duckdb.connect()
    con.execute("LOAD httpfs")
except Exception as e:  # noqa: BLE001 - any failure to load means no httpfs here
    print(f"skip duckdb: httpfs extension not available ({e.__class__.__name__})")
else:
    got = con.execute(
        f"SELECT count(*), sum(id) FROM read_parquet('{BASE}/api/v1/sources/fx.big/data.parquet')"
    ).fetchone()
    ids = pq.read_table(big_path, columns=["id"]).column("id").to_pylist()
    check("duckdb read_parquet(/data.parquet)", got == (len(ids), sum(ids)), str(got))

print("all direct-access checks passed")
