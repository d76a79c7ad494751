#!/usr/bin/env python3
"""Inlet as the candidate of the shared anchor harness (../shared/bench/anchors.py).

Run it exactly like anchors.py (same arguments, same output: tables on stdout and a results JSON),
plus the Inlet options below; it plugs Inlet into the harness's candidate hook:

    $VENV/bin/python bench/inlet_candidate.py --data /tmp/benchdata --dataset trips \
        --inlet-bin target/release/inlet --repeat 3 --out-json /tmp/trips.json

What it adds to the harness's `candidate` step (anchors.anchor_candidate is wrapped, not copied):

* it starts `inlet serve` itself (bench/catalogs/bench.yaml, `--allow-env BENCH_DATA`,
  `--allow-path <data dir>`, plus `--flight` when `inlet serve --help` lists it), then hands the
  running server to the harness hook (`--candidate-port`/`--candidate-pid`), which measures
  `GET /data` as an Arrow IPC stream and runs wrk on the metadata routes (describe, list, schema)
  exactly as it does for the anchors;
* then, on the same server, rows the hook has no template for:
    HTTP format=parquet      GET /data?format=parquet, whole body, then pq.read_table
    HTTP format=csv          GET /data?format=csv, decoded by pyarrow.csv as the bytes arrive
    HTTP plan+tickets x1/xN  POST /plan {max_endpoints}, then GET each ticket (N threads)
    Flight 1 endpoint        GetFlightInfo, then DoGet of the endpoint
    Flight xN parallel       GetFlightInfo with N endpoints, DoGet of each in N threads
  The Flight rows say "not available in this build" when the binary has no --flight; no number
  is ever made up for them.

Every figure is measured like the harness measures the anchors: `--warmup` untimed runs, the
server's RSS after warm-up, its peak (VmHWM reset just before the timed runs), `--repeat` timed
runs, median and min.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import io
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED_BENCH = os.environ.get("INLET_SHARED_BENCH") or os.path.join(os.path.dirname(REPO), "shared", "bench")
sys.path.insert(0, SHARED_BENCH)
import anchors  # noqa: E402  (the shared harness)

NOT_AVAILABLE = "not available in this build"
_original_anchor_candidate = anchors.anchor_candidate
OPTS: argparse.Namespace  # Inlet options, set in main()


# --------------------------------------------------------------------------------------------
# the binary
# --------------------------------------------------------------------------------------------
def serve_help(binary: str) -> str:
    p = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=30)
    return p.stdout + p.stderr


def flight_supported(binary: str) -> bool:
    return re.search(r"(^|\s)--flight\b", serve_help(binary)) is not None


# --------------------------------------------------------------------------------------------
# fetch clients (each returns rows, wire bytes, arrow bytes, ttfb, total)
# --------------------------------------------------------------------------------------------
def _conn(url: str, timeout: float):
    anchors.loopback_only(url)
    u = urllib.parse.urlsplit(url)
    return u, http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def http_fetch_parquet(url: str, timeout: float):
    """GET ?format=parquet: the whole body, then pq.read_table (Parquet decodes only from the footer).
    ttfb is the first body byte."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    u, c = _conn(url, timeout)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read(300)!r}")
        first = r.read1(1 << 16)
        ttfb = time.perf_counter() - t0
        body = first + r.read()
        t = pq.read_table(pa.BufferReader(body))
        total = time.perf_counter() - t0
        return t.num_rows, len(body), t.nbytes, ttfb, total
    finally:
        c.close()


def http_fetch_csv(url: str, timeout: float):
    """GET ?format=csv, decoded by pyarrow.csv.open_csv as the bytes arrive; ttfb = first batch."""
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    u, c = _conn(url, timeout)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read(300)!r}")
        cr = anchors.CountingReader(r)
        rdr = pacsv.open_csv(io.BufferedReader(cr, buffer_size=1 << 20),
                             read_options=pacsv.ReadOptions(block_size=8 << 20))
        rows = nbytes = 0
        ttfb = None
        for b in rdr:
            if ttfb is None:
                ttfb = time.perf_counter() - t0
            rows += b.num_rows
            nbytes += b.nbytes
        total = time.perf_counter() - t0
        return rows, cr.n, nbytes, ttfb if ttfb is not None else total, total
    finally:
        c.close()


def _http_arrow_stream(url: str, timeout: float, t0: float, first: list, lock: threading.Lock):
    """One Arrow IPC stream; records the first batch time (shared between threads)."""
    import pyarrow as pa

    u, c = _conn(url, timeout)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""), headers={"Accept": anchors.ARROW_STREAM})
        r = c.getresponse()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {r.read(300)!r}")
        cr = anchors.CountingReader(r)
        rows = nbytes = 0
        for b in pa.ipc.open_stream(io.BufferedReader(cr, buffer_size=1 << 20)):
            if not first:
                with lock:
                    if not first:
                        first.append(time.perf_counter() - t0)
            rows += b.num_rows
            nbytes += b.nbytes
        return rows, cr.n, nbytes
    finally:
        c.close()


def http_fetch_plan(base: str, source: str, n: int, timeout: float):
    """POST /plan {max_endpoints: n}, then every ticket's stream, n threads; returns also the
    number of endpoints the plan had."""
    t0 = time.perf_counter()
    url = f"{base}/api/v1/sources/{source}/plan"
    u, c = _conn(url, timeout)
    try:
        body = json.dumps({"max_endpoints": n}).encode()
        c.request("POST", u.path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"plan: HTTP {r.status}: {data[:300]!r}")
        plan = json.loads(data)
    finally:
        c.close()
    urls = [f"{base}/api/v1/tickets/{ep['ticket']}" for ep in plan["endpoints"]]
    first: list = []
    lock = threading.Lock()
    with cf.ThreadPoolExecutor(max(1, n)) as ex:
        parts = list(ex.map(lambda x: _http_arrow_stream(x, timeout, t0, first, lock), urls))
    total = time.perf_counter() - t0
    rows = sum(p[0] for p in parts)
    wire = sum(p[1] for p in parts)
    nb = sum(p[2] for p in parts)
    return rows, wire, nb, first[0] if first else total, total, len(urls)


def flight_info(client, catalog: str, source: str, n: int | None):
    """GetFlightInfo. n=None: the path descriptor [catalog, source] (the server's default plan).
    n given: a CMD descriptor holding the plan JSON body {source, max_endpoints: n}."""
    import pyarrow.flight as fl

    if n is None:
        desc = fl.FlightDescriptor.for_path(catalog, source)
    else:
        desc = fl.FlightDescriptor.for_command(json.dumps(
            {"source": f"{catalog}.{source}", "max_endpoints": n}).encode())
    return client.get_flight_info(desc)


def flight_fetch(location: str, catalog: str, source: str, n: int, use_cmd: bool):
    """GetFlightInfo (CMD with max_endpoints n, or the path descriptor), then DoGet of each
    endpoint's ticket on n threads, each with its own connection. Endpoints that name another
    location are still fetched from `location` (loopback only). Returns rows, arrow bytes, ttfb
    (first decoded batch, connect included), total, number of endpoints."""
    import pyarrow.flight as fl

    anchors.loopback_only(location.replace("grpc+tcp://", "http://").replace("grpc://", "http://"))
    t0 = time.perf_counter()
    client = fl.connect(location)
    try:
        info = flight_info(client, catalog, source, n if use_cmd else None)
        tickets = [ep.ticket for ep in info.endpoints]
        first: list = []
        lock = threading.Lock()
        groups = [tickets[i::n] for i in range(n)] if n > 1 else [tickets]

        def run(group):
            c = client if n == 1 else fl.connect(location)
            rows = nbytes = 0
            try:
                for tk in group:
                    reader = c.do_get(tk)
                    while True:
                        try:
                            chunk = reader.read_chunk()
                        except StopIteration:
                            break
                        b = chunk.data
                        if b is None:
                            continue
                        if not first:
                            with lock:
                                if not first:
                                    first.append(time.perf_counter() - t0)
                        rows += b.num_rows
                        nbytes += b.nbytes
            finally:
                if c is not client:
                    c.close()
            return rows, nbytes

        if n == 1:
            parts = [run(tickets)]
        else:
            with cf.ThreadPoolExecutor(n) as ex:
                parts = list(ex.map(run, [g for g in groups if g]))
        total = time.perf_counter() - t0
        return (sum(p[0] for p in parts), sum(p[1] for p in parts), first[0] if first else total, total,
                len(tickets))
    finally:
        client.close()


# --------------------------------------------------------------------------------------------
# measuring (the harness's pattern: warm-up, RSS, reset peak, timed runs)
# --------------------------------------------------------------------------------------------
def measure(mode: str, fn, args, pid: int | None, note: str = "") -> anchors.FetchResult:
    r = anchors.FetchResult("candidate", mode, args.dataset, note=note)
    try:
        for _ in range(args.warmup):
            fn()
        if pid:
            r.server_rss_idle = anchors.rss_of(pid)["VmRSS"]
            r.peak_is_since_start = not anchors.reset_hwm(pid)
        out = None
        for _ in range(args.repeat):
            out = fn()
            r.wall_s.append(out["total"])
            r.ttfb_s.append(out["ttfb"])
        r.rows = out["rows"]
        r.wire_bytes = out.get("wire")
        r.arrow_bytes_received = out.get("arrow")
        if out.get("note"):
            r.note = (r.note + "; " if r.note else "") + out["note"]
        if pid:
            r.server_rss_peak = anchors.rss_of(pid)["VmHWM"]
    except Exception as e:  # noqa: BLE001
        r.error = f"{type(e).__name__}: {e}"[:800]
    anchors.log(f"    fetch candidate {mode}: {r.error or statistics.median(r.wall_s)}")
    return r


def unavailable(mode: str, args, why: str) -> anchors.FetchResult:
    r = anchors.FetchResult("candidate", mode, args.dataset, error=why, note=why)
    r.unavailable = True  # noqa: B010  (ends up in the JSON row: the report prints n/a, never a number)
    anchors.log(f"    fetch candidate {mode}: {why}")
    return r


def inlet_extra_rows(args, base: str, source: str, pid: int, flight_loc: str | None, fetch: list,
                     info: dict) -> None:
    data = f"{base}/api/v1/sources/{source}/data"
    to = args.fetch_timeout
    if OPTS.formats_on != "all" and args.dataset not in OPTS.formats_on.split(","):
        OPTS.inlet_formats = []  # the encoders are the same for every source: measured where asked
    if "parquet" in OPTS.inlet_formats:
        def f_parquet():
            rows, wire, nb, ttfb, total = http_fetch_parquet(data + "?format=parquet", to)
            return dict(rows=rows, wire=wire, arrow=nb, ttfb=ttfb, total=total)
        fetch.append(measure("HTTP format=parquet", f_parquet, args, pid,
                             "whole body then pq.read_table; ttfb = first body byte"))
    if "csv" in OPTS.inlet_formats:
        def f_csv():
            rows, wire, nb, ttfb, total = http_fetch_csv(data + "?format=csv", to)
            return dict(rows=rows, wire=wire, arrow=nb, ttfb=ttfb, total=total)
        fetch.append(measure("HTTP format=csv", f_csv, args, pid, "pyarrow.csv as bytes arrive"))

    for n in sorted(set([1, OPTS.parallel])):
        def f_plan(n=n):
            rows, wire, nb, ttfb, total, eps = http_fetch_plan(base, source, n, to)
            return dict(rows=rows, wire=wire, arrow=nb, ttfb=ttfb, total=total, note=f"{eps} endpoint(s)")
        fetch.append(measure(f"HTTP plan+tickets x{n}", f_plan, args, pid,
                             "POST /plan {max_endpoints}, GET each ticket, one thread per endpoint"))

    for n in sorted(set([1, OPTS.parallel])):
        mode = "Flight DoGet 1 endpoint" if n == 1 else f"Flight DoGet x{n} parallel"
        if not flight_loc:
            fetch.append(unavailable(mode, args, f"{NOT_AVAILABLE} (inlet serve --help lists no --flight)"))
            continue
        # the contract: a CMD descriptor with the plan body picks the endpoint count; if this build
        # refuses it, fall back to the path descriptor's default plan and say so in the row
        use_cmd = info.setdefault("flight_cmd_ok", None)
        if use_cmd is None:
            try:
                import pyarrow.flight as fl
                c = fl.connect(flight_loc)
                try:
                    flight_info(c, OPTS.catalog, source.split(".", 1)[1], n)
                finally:
                    c.close()
                info["flight_cmd_ok"] = use_cmd = True
            except Exception as e:  # noqa: BLE001
                info["flight_cmd_ok"] = use_cmd = False
                info["flight_cmd_error"] = f"{type(e).__name__}: {e}"[:400]

        def f_flight(n=n, use_cmd=use_cmd):
            rows, nb, ttfb, total, eps = flight_fetch(flight_loc, OPTS.catalog, source.split(".", 1)[1], n, use_cmd)
            how = "CMD plan" if use_cmd else "path descriptor (CMD refused)"
            return dict(rows=rows, arrow=nb, ttfb=ttfb, total=total, note=f"{how}, {eps} endpoint(s)")
        fetch.append(measure(mode, f_flight, args, pid, "GetFlightInfo then DoGet; ttfb incl. connect"))


# --------------------------------------------------------------------------------------------
# the hook
# --------------------------------------------------------------------------------------------
def inlet_candidate(args, fetch: list, meta: list) -> dict:
    """Replaces anchors.anchor_candidate: starts Inlet, lets the original hook measure the server
    it finds running, then adds the rows above on the same server."""
    binary = os.path.abspath(OPTS.inlet_bin)
    info: dict = {"enabled": True, "name": "inlet", "binary": binary}
    if not os.access(binary, os.X_OK):
        info["error"] = f"no executable at {binary} (bench/run builds it)"
        anchors.log(f"  candidate FAILED: {info['error']}")
        return info
    has_flight = flight_supported(binary)
    info["flight_supported"] = has_flight
    port = anchors.free_port()
    fport = anchors.free_port() if has_flight else None
    ctx_source = args.candidate_source or anchors.DATASETS[args.dataset][1]
    source = f"{OPTS.catalog}.{ctx_source}"
    key_file = os.path.join(args.run_dir, "ticket.key")
    argv = [binary, "serve", "--catalog", OPTS.inlet_catalog, "--http", f"127.0.0.1:{port}",
            "--allow-env", "BENCH_DATA", "--allow-path", args.data]
    if has_flight:
        argv += ["--flight", f"127.0.0.1:{fport}"]
    env = {"BENCH_DATA": args.data, "INLET_LOG": "warn", "INLET_TICKET_KEY_FILE": key_file,
           "INLET_RELOAD_INTERVAL_SECS": "0"}
    info["cmd"] = argv
    srv = anchors.Server("inlet", argv, env=env, cwd=args.run_dir, log_dir=args.run_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        t_ready = anchors.wait_ready(lambda: anchors.http_ok(base + "/api/v1/catalogs"), srv,
                                     timeout=args.candidate_ready_timeout)
        if has_flight:
            anchors.wait_ready(lambda: anchors.tcp_ok("127.0.0.1", fport), srv, timeout=30)
        info["ready_s"] = t_ready
        anchors.log(f"  inlet ready in {t_ready:.2f}s (pid {srv.pid}, flight {'on ' + str(fport) if has_flight else 'not in this build'})")
        # discovery happens on first use: do it once outside every timing
        anchors.http_ok(f"{base}/api/v1/sources/{source}")

        # 1) the shared hook, on the running server
        args.candidate_cmd = None
        args.candidate_port = port
        args.candidate_pid = srv.pid
        args.candidate_catalog = OPTS.catalog
        args.candidate_url_template = "http://{host}:{port}/api/v1/sources/{catalog}.{source}/data"
        args.candidate_ready_url_template = "http://{host}:{port}/api/v1/catalogs"
        args.candidate_flight_template = None  # Flight rows are measured below (1 and N endpoints)
        args.candidate_meta_url_template = [] if not OPTS.inlet_meta else [
            "http://{host}:{port}/api/v1/sources/{catalog}.{source}",          # describe
            "http://{host}:{port}/api/v1/catalogs/{catalog}",                  # list
            "http://{host}:{port}/api/v1/sources/{catalog}.{source}/schema",   # schema
        ]
        hook = _original_anchor_candidate(args, fetch, meta)
        info["hook"] = hook
        if hook.get("error"):
            info["error"] = hook["error"]
        # 2) what the hook has no template for
        inlet_extra_rows(args, base, source, srv.pid, f"grpc://127.0.0.1:{fport}" if has_flight else None,
                         fetch, info)
        info["rss_end"] = anchors.rss_of(srv.pid)
    except Exception as e:  # noqa: BLE001
        info["error"] = f"{type(e).__name__}: {e}"[:1200]
        anchors.log(f"  inlet FAILED: {info['error']}")
    finally:
        srv.stop()
        with open(os.path.join(args.run_dir, "inlet.log"), "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
        if tail.strip():
            info["log_tail"] = tail
    for r in fetch:  # the hook labels its Arrow row "HTTP Arrow IPC"; keep it, mark it as Inlet's
        if r.anchor == "candidate":
            r.note = ("inlet; " + r.note) if not r.note.startswith("inlet") else r.note
    return info


def main(argv=None) -> int:
    global OPTS
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("_"):  # the harness's child processes
        return anchors.main(argv)
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--inlet-bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR") or
                                                         os.path.join(REPO, "target"), "release", "inlet"))
    ap.add_argument("--inlet-catalog", default=os.path.join(HERE, "catalogs", "bench.yaml"))
    ap.add_argument("--inlet-formats", default="parquet,csv", help="extra formats of /data to fetch")
    ap.add_argument("--formats-on", default="trips",
                    help="datasets (comma list, or 'all') that get the --inlet-formats rows; at 10M rows "
                         "each format row costs minutes and measures the same encoder on every source")
    ap.add_argument("--inlet-meta", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--parallel", type=int, default=4, help="N for the xN plan and Flight rows")
    ap.add_argument("--no-inlet", action="store_true", help="anchors only")
    ap.add_argument("--ready-timeout", type=float, default=600.0,
                    help="how long any server may take to start (the harness waits 60 s; ROAPI loads its "
                         "in-memory tables, 1.3 GB of CSV among them at 10M rows, before it answers)")
    OPTS, rest = ap.parse_known_args(argv)
    _wait_ready = anchors.wait_ready

    def wait_ready(check, server, timeout=60.0):
        return _wait_ready(check, server, max(timeout, OPTS.ready_timeout))

    anchors.wait_ready = wait_ready
    OPTS.catalog = "bench"
    OPTS.inlet_formats = [f for f in OPTS.inlet_formats.split(",") if f]
    if "-h" in rest or "--help" in rest:
        print(__doc__)
        print("Inlet options: --inlet-bin PATH --inlet-catalog FILE --inlet-formats parquet,csv "
              "--formats-on DATASETS --[no-]inlet-meta --parallel N --no-inlet --ready-timeout S\n\nanchors.py options follow.\n")
    if not OPTS.no_inlet:
        anchors.anchor_candidate = inlet_candidate
        # the harness calls the hook only when a candidate template is given
        if "--candidate-url-template" not in rest:
            rest += ["--candidate-url-template", "http://{host}:{port}/api/v1/sources/{catalog}.{source}/data"]
    return anchors.main(rest)


if __name__ == "__main__":
    sys.exit(main())
