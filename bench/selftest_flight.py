#!/usr/bin/env python3
"""Self-test of the suite's Flight client (bench/inlet_candidate.py) against a stand-in server that
follows Inlet's Flight contract, so the client code is checked before Inlet's Flight front end
exists. It is a test of the client only: its numbers are never results.

    $VENV/bin/python bench/selftest_flight.py [--data DIR]     # a make_data.py directory

The stand-in (pyarrow.flight, in this process, loopback):
  GetFlightInfo(path [catalog, source])         -> the default plan: one endpoint per row group (<= 16)
  GetFlightInfo(CMD {"source": "catalog.source", "max_endpoints": N}) -> row groups in <= N groups
  DoGet(ticket)                                 -> the row groups named in the ticket
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def make_server(path: str, port: int):
    import pyarrow as pa
    import pyarrow.flight as fl
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    nrg = pf.metadata.num_row_groups

    class Mock(fl.FlightServerBase):
        def _plan(self, desc, max_endpoints):
            k = max(1, min(max_endpoints, nrg))
            groups = [list(range(nrg))[i * nrg // k:(i + 1) * nrg // k] for i in range(k)]
            eps = [fl.FlightEndpoint(json.dumps(g).encode(), [fl.Location(f"grpc://127.0.0.1:{port}")])
                   for g in groups]
            return fl.FlightInfo(pf.schema_arrow, desc, eps, pf.metadata.num_rows, -1)

        def get_flight_info(self, context, descriptor):
            if descriptor.descriptor_type == fl.DescriptorType.CMD:
                body = json.loads(descriptor.command)
                if body.get("source") != "bench.trips":
                    raise fl.FlightServerError("unknown source")
                return self._plan(descriptor, int(body.get("max_endpoints", 16)))
            if [p.decode() for p in descriptor.path] != ["bench", "trips"]:
                raise fl.FlightServerError("unknown path")
            return self._plan(descriptor, 16)

        def do_get(self, context, ticket):
            rgs = json.loads(ticket.ticket)
            f = pq.ParquetFile(path)
            return fl.RecordBatchStream(pa.RecordBatchReader.from_batches(
                f.schema_arrow, f.iter_batches(row_groups=rgs, batch_size=65536)))

    return Mock(f"grpc://127.0.0.1:{port}"), pf.metadata.num_rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    import inlet_candidate as ic  # puts ../shared/bench on sys.path
    import anchors

    data = args.data
    if data is None:
        data = tempfile.mkdtemp(prefix="flight_selftest_")
        import make_data
        make_data.main(["--rows", "50000", "--out", data, "--skip", "csv,avro,zarr,multi"])
    port = anchors.free_port()
    srv, nrows = make_server(os.path.join(data, "trips.parquet"), port)
    loc = f"grpc://127.0.0.1:{port}"
    ok = True
    try:
        for n in (1, 4):
            for use_cmd in (True, False):
                rows, nb, ttfb, total, eps = ic.flight_fetch(loc, "bench", "trips", n, use_cmd)
                good = rows == nrows and (eps == min(n, 8) if use_cmd else eps >= 1)
                ok &= good
                print(f"{'ok ' if good else 'BAD'} n={n} {'CMD ' if use_cmd else 'path'}: {eps} endpoints, "
                      f"{rows} rows (expected {nrows}), ttfb {ttfb * 1e3:.1f} ms, total {total * 1e3:.1f} ms")
    finally:
        srv.shutdown()
    print("flight client self-test:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
