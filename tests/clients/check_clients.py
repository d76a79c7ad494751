"""Real Python clients against a running `inlet serve` (driven by tests/clients.rs).

    python tests/clients/check_clients.py BASE_URL FIXTURES_DIR

The server must serve `fx.types` (FIXTURES_DIR/parquet/types.parquet) and `example.trips`
(catalogs/data/trips.parquet). Each client call is one line, as a user would write it; the
result is compared with pyarrow reading the same file locally. One line per check; exit 1 with
the reasons on any mismatch.
"""

import concurrent.futures
import json
import math
import os
import sys
import tempfile
import urllib.request

import duckdb
import pandas
import polars
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pyarrow.parquet as pq

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILURES = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILURES.append(name)


def guarded(name, fn, *args):
    """Runs one group of checks; an exception is a failed check, and the others still run."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - any client error is a finding
        check(name, False, f"{type(e).__name__}: {e}")
        return None


def same_column(a, b):
    """Equal values; NaN equals NaN (compared bit for bit), chunking and dictionaries ignored."""
    if a.equals(b):
        return True
    if a.type != b.type:
        return False
    if isinstance(a, pa.ChunkedArray):
        a, b = a.combine_chunks(), b.combine_chunks()
    if a.equals(b):
        return True
    if pa.types.is_dictionary(a.type):
        return same_column(a.dictionary_decode(), b.dictionary_decode())
    if pa.types.is_floating(a.type):  # NaN != NaN for equals(): compare the bits
        bits = {16: pa.uint16(), 32: pa.uint32(), 64: pa.uint64()}[a.type.bit_width]
        return a.view(bits).equals(b.view(bits))
    return False


def differing_columns(got, want):
    """Names of the columns (and schema problems) where `got` differs from `want`."""
    if got.schema != want.schema:
        return [f"schema: got {got.schema} want {want.schema}"]
    if got.num_rows != want.num_rows:
        return [f"rows: got {got.num_rows} want {want.num_rows}"]
    return [n for n in want.column_names if not same_column(got[n], want[n])]


def plain(col):
    """A column's values in a type-neutral form (dictionaries decoded, strings as large_string)."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_string(col.type) or pa.types.is_string_view(col.type):
        col = col.cast(pa.large_string())
    return col


def check_pyarrow(base, source, path):
    url = f"{base}/api/v1/sources/{source}/data"
    got = pyarrow.ipc.open_stream(urllib.request.urlopen(url)).read_all()
    want = pq.read_table(path)
    diff = differing_columns(got, want)
    check(f"pyarrow open_stream(urlopen) {source} ({want.num_rows} rows)", not diff,
          f"differs from pq.read_table in {diff}" if diff else "")
    frame = guarded(f"to_pandas {source}", got.to_pandas)
    if frame is not None:
        check(f"to_pandas {source}", frame.equals(want.to_pandas()), "" if frame.equals(want.to_pandas())
              else "differs from pq.read_table(...).to_pandas()")
    return want


def check_polars(url, trips):
    try:
        df = polars.read_ipc_stream(url)
        how = "url"
    except Exception:  # noqa: BLE001 - a polars that takes no URLs: read the bytes
        df = polars.read_ipc_stream(urllib.request.urlopen(url).read())
        how = "bytes"
    got = df.to_arrow()
    diff = [n for n in trips.column_names
            if n not in got.column_names or not plain(got[n]).equals(plain(trips[n]))]
    ok = got.num_rows == trips.num_rows and not diff
    check(f"polars read_ipc_stream({how}) example.trips", ok,
          "" if ok else f"rows {got.num_rows}/{trips.num_rows}, differing columns {diff}")


def check_pandas(url, trips):
    pdf = pandas.read_csv(url + "?format=csv")
    want_fare = pc.sum(trips["fare"]).as_py()
    want_ids = pc.sum(trips["trip_id"]).as_py()
    ok = (len(pdf) == trips.num_rows and int(pdf["trip_id"].sum()) == want_ids
          and math.isclose(float(pdf["fare"].sum()), want_fare, rel_tol=1e-12))
    check("pandas read_csv(format=csv) example.trips", ok,
          f"rows {len(pdf)}/{trips.num_rows}, sum(trip_id) {pdf['trip_id'].sum()}/{want_ids}, "
          f"sum(fare) {float(pdf['fare'].sum())!r}/{want_fare!r}")


def check_duckdb(url, trips):
    want = (trips.num_rows, pc.sum(trips["fare"]).as_py())

    def report(name, row):
        ok = row[0] == want[0] and math.isclose(row[1], want[1], rel_tol=1e-12)
        check(name, ok, f"count, sum(fare) = {row}, pyarrow {want}")

    tbl = pyarrow.ipc.open_stream(urllib.request.urlopen(url)).read_all()  # noqa: F841 - read by duckdb
    report("duckdb over the Arrow stream", duckdb.sql("select count(*), sum(fare) from tbl").fetchall()[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trips.parquet")
        with open(path, "wb") as f:
            f.write(urllib.request.urlopen(url + "?format=parquet").read())
        report("duckdb read_parquet(format=parquet)",
               duckdb.sql(f"select count(*), sum(fare) from read_parquet('{path}')").fetchall()[0])
        diff = differing_columns(pq.read_table(path), trips)
        check("format=parquet reads back as the source", not diff, f"differs in {diff}" if diff else "")


def check_plan(base, trips):
    req = urllib.request.Request(f"{base}/api/v1/sources/example.trips/plan",
                                 data=json.dumps({"max_endpoints": 3}).encode(),
                                 headers={"Content-Type": "application/json"})
    plan = json.load(urllib.request.urlopen(req))
    urls = [e["locations"][0] for e in plan["endpoints"]]
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        parts = list(pool.map(lambda u: pyarrow.ipc.open_stream(urllib.request.urlopen(u)).read_all(), urls))
    got = pa.concat_tables(parts).sort_by("trip_id")
    diff = differing_columns(got, trips.sort_by("trip_id"))
    check(f"plan max_endpoints=3: {len(urls)} endpoints fetched in parallel", 1 <= len(urls) <= 3 and not diff,
          f"differs in {diff}" if diff else f"rows per endpoint {[p.num_rows for p in parts]}")
    check("plan total_records", plan["total_records"] == trips.num_rows,
          f"{plan['total_records']}, pyarrow {trips.num_rows}")


def check_zstd(url, trips):
    req = urllib.request.Request(url, headers={"Accept": 'application/vnd.apache.arrow.stream; codecs="zstd"'})
    resp = urllib.request.urlopen(req)
    ctype = resp.headers.get("Content-Type", "")
    diff = differing_columns(pyarrow.ipc.open_stream(resp).read_all(), trips)
    check("Accept codecs=zstd", 'codecs="zstd"' in ctype and not diff,
          f"Content-Type {ctype!r}" + (f", differs in {diff}" if diff else ""))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_clients.py BASE_URL FIXTURES_DIR")
    base, fixtures = sys.argv[1].rstrip("/"), sys.argv[2]
    guarded("pyarrow fx.types", check_pyarrow, base, "fx.types", os.path.join(fixtures, "parquet", "types.parquet"))
    trips_file = os.path.join(REPO, "catalogs", "data", "trips.parquet")
    trips = guarded("pyarrow example.trips", check_pyarrow, base, "example.trips", trips_file)
    if trips is None:
        trips = pq.read_table(trips_file)
    url = f"{base}/api/v1/sources/example.trips/data"
    guarded("polars", check_polars, url, trips)
    guarded("pandas", check_pandas, url, trips)
    guarded("duckdb", check_duckdb, url, trips)
    guarded("plan", check_plan, base, trips)
    guarded("zstd", check_zstd, url, trips)
    if FAILURES:
        sys.exit(f"{len(FAILURES)} client check(s) failed: {', '.join(FAILURES)}")
    print("all client checks passed")


if __name__ == "__main__":
    main()
