"""Resumable streams against a real `inlet serve` (started by tests/resume.rs with
INLET_BATCH_SIZE=64): for Parquet, CSV, Avro and Zarr sources, a read cut after a random batch
and resumed with `from_batch` equals a full read, over HTTP `/data`, HTTP tickets and Flight;
every batch carries its index (`inlet.batch`); `from_batch` past the end is an empty stream with
the schema; a file replaced between the two requests is a 409; bad values are 422 problems
naming the field. The README's helper (extracted from README.md) reads through a loopback proxy
that cuts the connection.

Usage: check_resume.py http://HOST:PORT grpc://HOST:PORT README.md CHANGING.parquet SEED
"""
import json
import random
import re
import shutil
import socket
import sys
import threading
import urllib.error
import urllib.request

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq

base, location, readme, changing, seed = sys.argv[1:6]
rng = random.Random(int(seed))
print(f"seed {seed}")
SOURCES = ["rs.parquet", "rs.csv", "rs.avro", "rs.zarr"]


def data_url(source, query=""):
    return f"{base}/api/v1/sources/{source}/data{query}"


def open_stream(url, headers=None):
    resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}))
    return resp, pa.ipc.open_stream(resp)


def read_all(url, headers=None):
    """The batches of a stream with their `inlet.batch` indices, the schema and the version."""
    resp, reader = open_stream(url, headers)
    with resp:
        pairs = list(reader.iter_batches_with_custom_metadata())
        version = resp.headers.get("x-inlet-data-version")
    batches = [b for b, _ in pairs]
    indices = [int(m[b"inlet.batch"]) for _, m in pairs]
    return batches, indices, reader.schema, version


def problem(url, status, field=None, headers=None, kind="/problems/invalid-request"):
    try:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})).read()
    except urllib.error.HTTPError as e:
        assert e.code == status, (url, e.code, e.read())
        assert e.headers["content-type"] == "application/problem+json", e.headers
        p = json.load(e)
        assert p["type"] == kind, p
        assert p["detail"], p
        if field:
            assert [x["name"] for x in p["errors"]] == [field], p
        return p
    raise AssertionError(f"{url} was accepted")


def table(batches, schema):
    return pa.Table.from_batches(batches, schema)


# 1. HTTP /data: cut after k batches (the client drops the connection), resume with
#    from_batch=k and the data version; the result equals the full read.
for source in SOURCES:
    full, indices, schema, version = read_all(data_url(source))
    n = len(full)
    assert n >= 4, (source, n)
    assert indices == list(range(n)), (source, indices)
    assert re.fullmatch(r"[0-9a-f]{32}", version or ""), version
    again, _, _, v2 = read_all(data_url(source))
    assert v2 == version and [b.num_rows for b in again] == [b.num_rows for b in full], source
    for k in sorted({1, n - 1, rng.randrange(1, n)}):
        resp, reader = open_stream(data_url(source))
        head = [reader.read_next_batch() for _ in range(k)]
        resp.close()  # the connection is gone mid-stream
        rest, idx, _, _ = read_all(data_url(source, f"?from_batch={k}&data_version={version}"))
        assert idx == list(range(k, n)), (source, k, idx[:3])
        assert table(head + rest, schema).equals(table(full, schema)), (source, k)
        # The same with If-Match instead of data_version.
        rest2, _, _, _ = read_all(data_url(source, f"?from_batch={k}"), {"If-Match": f'"{version}"'})
        assert table(rest2, schema).equals(table(rest, schema)), (source, k)
    # Past the end: an empty stream that still has the schema.
    for past in (n, n + 5, 10**12):
        empty, _, s, _ = read_all(data_url(source, f"?from_batch={past}"))
        assert empty == [] and s.equals(schema), (source, past)
    # Other formats resume too (no index inside, the same rows).
    csv_rest = urllib.request.urlopen(data_url(source, f"?from_batch={n - 1}&format=ndjson")).read()
    assert len(csv_rest.splitlines()) == full[-1].num_rows, source
    print(f"http {source}: {n} batches ok")

# Projection and partitions: batches are those of that request.
full, _, schema, _ = read_all(data_url("rs.parquet", "?columns=id&partition=3&partition=5"))
rest, idx, _, _ = read_all(data_url("rs.parquet", "?columns=id&partition=3&partition=5&from_batch=9"))
assert idx[0] == 9 and table(full[9:], schema).equals(table(rest, schema))

# 2. Tickets over HTTP and Flight: a plan with one endpoint, cut and resumed.
client = flight.connect(location)
for source in SOURCES:
    body = json.dumps({"max_endpoints": 1}).encode()
    req = urllib.request.Request(f"{base}/api/v1/sources/{source}/plan", data=body, method="POST")
    ticket = json.load(urllib.request.urlopen(req))["endpoints"][0]["ticket"]
    full, _, schema, _ = read_all(f"{base}/api/v1/tickets/{ticket}")
    n = len(full)
    k = rng.randrange(1, n)
    rest, idx, _, _ = read_all(f"{base}/api/v1/tickets/{ticket}?from_batch={k}")
    assert idx == list(range(k, n)), (source, idx[:3])
    assert table(full[:k] + rest, schema).equals(table(full, schema)), source
    # Flight: read k chunks, drop the reader, DoGet the ticket with `?from_batch=k`.
    reader = client.do_get(flight.Ticket(ticket.encode()))
    head = []
    for _ in range(k):
        chunk = reader.read_chunk()
        assert int(chunk.app_metadata.to_pybytes()) == len(head), chunk.app_metadata
        head.append(chunk.data)
    reader.cancel()
    reader = client.do_get(flight.Ticket(f"{ticket}?from_batch={k}".encode()))
    got = []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        assert int(chunk.app_metadata.to_pybytes()) == k + len(got), chunk.app_metadata
        got.append(chunk.data)
    assert table(head + got, schema).equals(table(full, schema)), source
    past = client.do_get(flight.Ticket(f"{ticket}?from_batch={n + 3}".encode())).read_all()
    assert past.num_rows == 0 and past.schema.equals(schema), source
    print(f"tickets {source}: ok")

# 3. Bad input: 422 problems naming the field.
for bad in ("-1", "abc", "1.5", ""):
    problem(data_url("rs.parquet", f"?from_batch={bad}"), 422, "from_batch")
problem(data_url("rs.parquet", "?from_batch=2&data_version=nothex"), 422, "data_version")
problem(data_url("rs.parquet", "?from_batch=2"), 422, "If-Match", {"If-Match": '"zz"'})
problem(f"{base}/api/v1/tickets/{ticket}?from_batch=-4", 422, "from_batch")
for suffix in ("?from_batch=x", "?from_batch=-1", "?page=2"):
    try:
        client.do_get(flight.Ticket(f"{ticket}{suffix}".encode())).read_all()
        raise AssertionError(f"ticket{suffix} was accepted")
    except pa.ArrowInvalid as e:  # what pyarrow.flight raises for INVALID_ARGUMENT
        assert "from_batch" in str(e) and "invalid-request" in str(e), e

# 4. A file replaced between the first request and the resumed one: 409, over /data (the
#    data version) and over a ticket (planned before the change).
first, _, _, version = read_all(data_url("rs.changing"))
body = json.dumps({"max_endpoints": 1}).encode()
req = urllib.request.Request(f"{base}/api/v1/sources/rs.changing/plan", data=body, method="POST")
ticket = json.load(urllib.request.urlopen(req))["endpoints"][0]["ticket"]
replacement = pq.read_table(changing).slice(0, 700)
pq.write_table(replacement, changing + ".new")
shutil.move(changing + ".new", changing)
url = data_url("rs.changing", f"?from_batch=2&data_version={version}")
p = problem(url, 409, kind="/problems/data-changed")
assert "changed" in p["detail"] and "from_batch" in p["detail"], p
p = problem(f"{base}/api/v1/tickets/{ticket}?from_batch=2", 409, kind="/problems/data-changed")
# A fresh read (no version) reads the new file, with a new version.
now, _, _, v2 = read_all(data_url("rs.changing"))
assert v2 != version and sum(b.num_rows for b in now) == 700, v2
print("data changed: 409 ok")


# 5. The README's helper, through a proxy that cuts the first connection after a random
#    number of bytes: the table equals a full read.
class CuttingProxy:
    """Forwards loopback TCP to the server; the first connection is closed after `cut` bytes
    from the server."""

    def __init__(self, target, cut):
        self.target, self.cut, self.connections = target, cut, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            self.connections += 1
            budget = self.cut if self.connections == 1 else None
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self.pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self.pipe, args=(upstream, client, budget), daemon=True).start()

    @staticmethod
    def pipe(src, dst, budget):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if budget is not None:
                    data = data[:budget]
                    budget -= len(data)
                dst.sendall(data)
                if budget == 0:
                    break
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


text = open(readme, encoding="utf-8").read()
marker = "<!-- resume-helper -->"
code = re.search(re.escape(marker) + r"\s*```python\n(.*?)```", text, re.S).group(1)
assert len(code.strip().splitlines()) <= 25, "the README helper should stay short"
helper = {}
exec(code, helper)
host, port = base.removeprefix("http://").split(":")
for source in SOURCES:
    full, _, schema, _ = read_all(data_url(source))
    size = len(urllib.request.urlopen(data_url(source)).read())
    proxy = CuttingProxy((host, int(port)), rng.randrange(300, size - 50))
    got = helper["read_resumable"](f"http://127.0.0.1:{proxy.port}/api/v1/sources/{source}/data")
    assert proxy.connections >= 2, (source, "the proxy never cut", proxy.connections)
    assert got.equals(table(full, schema)), source
    print(f"README helper {source}: resumed after a cut at {proxy.cut} of {size} bytes: ok")
print("resume: ok")
