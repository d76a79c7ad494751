"""pyarrow.flight against a real `inlet serve`: list, plan, fetch every endpoint in parallel
and compare with pyarrow reading the file; redeem an HTTP-planned ticket over Flight.

Usage: check_flight.py grpc://HOST:PORT http://HOST:PORT FIXTURES_DIR
"""
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.flight as flight
import pyarrow.parquet as pq

location, base, fixtures = sys.argv[1], sys.argv[2], sys.argv[3]
client = flight.connect(location)

names = [tuple(f.descriptor.path) for f in client.list_flights()]
assert (b"fl", b"big") in names, names

info = client.get_flight_info(flight.FlightDescriptor.for_path("fl", "big"))
want = pq.read_table(f"{fixtures}/parquet/big.parquet")
assert info.total_records == want.num_rows, info.total_records
assert info.schema.equals(want.schema, check_metadata=False), (info.schema, want.schema)
assert len(info.endpoints) >= 4, len(info.endpoints)


def same(a, b):
    """Tables equal value for value, NaN equal to NaN (Table.equals says NaN != NaN)."""
    if a.num_rows != b.num_rows or not a.schema.equals(b.schema, check_metadata=False):
        return False
    for x, y in zip(a.columns, b.columns):
        x, y = x.combine_chunks(), y.combine_chunks()
        if pa.types.is_floating(x.type):
            if not pc.is_nan(x).equals(pc.is_nan(y)):
                return False
            x, y = pc.if_else(pc.is_nan(x), 0, x), pc.if_else(pc.is_nan(y), 0, y)
        if not x.equals(y):
            return False
    return True


def fetch(endpoint):
    # Each endpoint on its own connection to one of its locations, as a parallel client would.
    c = flight.connect(endpoint.locations[0])
    return c.do_get(endpoint.ticket).read_all()


with ThreadPoolExecutor(max_workers=4) as pool:
    parts = list(pool.map(fetch, info.endpoints))

got = pa.concat_tables(parts)
assert same(got, want), "parallel Flight fetch differs from pq.read_table"

# A plan made over HTTP is redeemed over Flight.
req = urllib.request.Request(f"{base}/api/v1/sources/fl.types/plan", data=b'{"max_endpoints": 1}', method="POST")
plan = json.load(urllib.request.urlopen(req))
ticket = flight.Ticket(plan["endpoints"][0]["ticket"].encode())
types = client.do_get(ticket).read_all()
assert same(types, pq.read_table(f"{fixtures}/parquet/types.parquet")), "types differ"

# A JSON command with a projection and a limit.
cmd = json.dumps({"source": "fl.big", "columns": ["id", "s"], "limit": 10})
small = client.get_flight_info(flight.FlightDescriptor.for_command(cmd))
table = client.do_get(small.endpoints[0].ticket).read_all()
assert table.column_names == ["id", "s"] and table.num_rows == 10, table

# Errors say which.
try:
    client.do_get(flight.Ticket(b"garbage")).read_all()
    raise AssertionError("a garbage ticket was accepted")
except (flight.FlightError, pa.ArrowInvalid) as e:
    assert "ticket" in str(e), e
print("pyarrow.flight: ok")
