"""Full fetch over HTTP from a release `inlet serve` vs pyarrow reading the same file locally.

    cargo build --release --bin inlet
    $(bash scripts/pyenv.sh) benches/http_fetch.py [--big /tmp/benchdata/trips.parquet]
                                                   [--small /tmp/benchdata1m/trips.parquet]
                                                   [--repeat 3] [--clients 8]

Data: ../shared/bench/make_data.py (10M and 1M rows of trips.parquet). In one run:
  * pyarrow: `pq.read_table(file)` in a fresh process (multithreaded: the floor), median of N;
  * inlet: `pyarrow.ipc.open_stream(<http.client response>).read_all()` of /data, median of N;
    MB/s is the Parquet file's size over the wall time, for both; the ratio is inlet / pyarrow;
  * the server's peak RSS (VmHWM) with 1 client, and with --clients concurrent clients (threads
    that stream and drop batches, so the client process stays small), at 1M and 10M rows. Each
    measurement gets a fresh server, so each VmHWM is its own.
Client and server share the machine: on few cores the client's decoding competes with the server.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.ipc

ROOT = Path(__file__).resolve().parent.parent
PYARROW_READ = r"""
import json, sys, time
import pyarrow.parquet as pq
t = time.perf_counter()
table = pq.read_table(sys.argv[1])
secs = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"rows": table.num_rows, "seconds": secs, "peak_rss_mb": int(hwm) / 1024}))
"""


def vm_hwm_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """A release `inlet serve` over a temp catalog `bench` (trips -> big, trips_small -> small)."""

    def __init__(self, big, small):
        self.tmp = tempfile.TemporaryDirectory()
        cat = Path(self.tmp.name) / "catalogs"
        cat.mkdir()
        (cat / "bench.yaml").write_text(
            "sources:\n"
            f"  trips:\n    driver: parquet\n    args: {{urlpath: '{big}'}}\n"
            f"  trips_small:\n    driver: parquet\n    args: {{urlpath: '{small}'}}\n")
        env = dict(os.environ, INLET_TICKET_KEY_FILE=str(Path(self.tmp.name) / "ticket.key"),
                   INLET_LOG="warn")
        env.pop("INLET_CATALOGS", None)
        cmd = [str(ROOT / "target/release/inlet"), "serve", "--http", "127.0.0.1:0", "--catalog", str(cat)]
        for d in {str(Path(big).parent), str(Path(small).parent)}:
            cmd += ["--allow-path", d]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("inlet listening on "):
            self.proc.kill()
            sys.exit(f"inlet serve did not start: {line!r}")
        self.base = line.split()[-1]
        self.hostport = urlsplit(self.base).netloc

    def get(self, path):
        conn = http.client.HTTPConnection(self.hostport, timeout=600)
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.exit(f"GET {path}: {resp.status} {resp.read()[:500]!r}")
        return resp

    def streamed_bytes(self):
        text = self.get("/metrics").read().decode()
        return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("inlet_bytes_streamed_total"))

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.tmp.cleanup()


def fetch_all(server, source):
    """The client as a user writes it: the whole table from the response."""
    return pyarrow.ipc.open_stream(server.get(f"/api/v1/sources/{source}/data")).read_all().num_rows


def fetch_drop(server, source):
    """A client that streams and drops batches (for concurrency: the client process stays small)."""
    rows = 0
    for batch in pyarrow.ipc.open_stream(server.get(f"/api/v1/sources/{source}/data")):
        rows += batch.num_rows
    return rows


def single(big, small, source, repeat):
    srv = Server(big, small)
    try:
        times, rows = [], set()
        for _ in range(repeat):
            t = time.perf_counter()
            rows.add(fetch_all(srv, source))
            times.append(time.perf_counter() - t)
        return statistics.median(times), vm_hwm_mb(srv.proc.pid), rows, srv.streamed_bytes() / repeat
    finally:
        srv.close()


def concurrent(big, small, source, clients):
    srv = Server(big, small)
    try:
        t = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            rows = set(pool.map(lambda _: fetch_drop(srv, source), range(clients)))
        secs = time.perf_counter() - t
        return secs, vm_hwm_mb(srv.proc.pid), rows
    finally:
        srv.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", default="/tmp/benchdata/trips.parquet")
    ap.add_argument("--small", default="/tmp/benchdata1m/trips.parquet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    if not (ROOT / "target/release/inlet").exists():
        sys.exit("build first: cargo build --release --bin inlet")
    big_mb = os.path.getsize(args.big) / 1e6
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; {args.big} {big_mb:.0f} MB; "
          f"median of {args.repeat}")

    runs = [json.loads(subprocess.run([sys.executable, "-c", PYARROW_READ, args.big], check=True,
                                      capture_output=True, text=True).stdout) for _ in range(args.repeat)]
    pa_secs = statistics.median(r["seconds"] for r in runs)
    pa_rows = {r["rows"] for r in runs}
    pa_rss = max(r["peak_rss_mb"] for r in runs)
    in_secs, in_rss, in_rows, wire = single(args.big, args.small, "bench.trips", args.repeat)
    assert in_rows == pa_rows, (in_rows, pa_rows)

    print(f"\n{'reader':44} {'rows':>11} {'median s':>9} {'MB/s':>7} {'peak RSS MB':>12}")
    print(f"{'pyarrow pq.read_table (local file)':44} {runs[0]['rows']:>11,} {pa_secs:9.2f} "
          f"{big_mb / pa_secs:7.0f} {pa_rss:12.0f}  (reader process)")
    print(f"{'inlet HTTP, open_stream(...).read_all()':44} {min(in_rows):>11,} {in_secs:9.2f} "
          f"{big_mb / in_secs:7.0f} {in_rss:12.0f}  (server process)")
    print(f"Inlet MB/s / pyarrow MB/s = {pa_secs / in_secs:.2f}   "
          f"(IPC on the wire: {wire / 1e6:.0f} MB, {wire / 1e6 / in_secs:.0f} MB/s)")

    print(f"\nserver peak RSS (VmHWM, fresh server each), {args.clients} clients stream and drop batches")
    print(f"{'file':32} {'rows':>11} {'1 client MB':>12} {f'{args.clients} clients MB':>13} "
          f"{f'{args.clients} clients s':>12} {'aggregate MB/s':>15}")
    for path, source in [(args.small, "bench.trips_small"), (args.big, "bench.trips")]:
        mb = os.path.getsize(path) / 1e6
        _, one_rss, rows, _ = single(args.big, args.small, source, 1)
        secs, many_rss, many_rows = concurrent(args.big, args.small, source, args.clients)
        assert many_rows == rows, (many_rows, rows)
        print(f"{path:32} {min(rows):>11,} {one_rss:12.0f} {many_rss:13.0f} {secs:12.2f} "
              f"{mb * args.clients / secs:15.0f}")


if __name__ == "__main__":
    main()
