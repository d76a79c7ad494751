"""Many clients streaming one Parquet file at once: server memory against the budget, throughput.

    cargo build --release --bin inlet
    $(bash scripts/pyenv.sh) benches/concurrency.py --file /tmp/inlet-bench-data/<main>/trips.parquet
                                                    [--clients 1,8,32] [--configs budget,unbounded,arena2]

For each configuration a fresh release `inlet serve` (Flight off) serves the file; for each client
count, that many threads stream `GET /data` (Arrow IPC) at once and drop the batches as they come.
Reported per run: the server's idle RSS, its peak RSS during the run (sampled every 20 ms),
peak - idle, aggregate throughput (N x the file's Arrow size / wall time) and the slowest client's.

Configurations:
  budget     the defaults: max_inflight_bytes = 256 MiB
  unbounded  max_inflight_bytes = 64 GiB (what the server did before the budget)
  arena2     the defaults with MALLOC_ARENA_MAX=2 (glibc keeps fewer per-thread arenas)
  batch16k   the defaults with 16,384-row batches (64k by default): less held ahead per stream

Targets (the reliability issue): at 8 and 32 clients the peak is at most idle + 256 MB; the
aggregate throughput at least 0.9x the unbounded run's; one client within 10% of unbounded.
"""
import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.ipc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "budget": ({}, {}),
    "unbounded": ({"INLET_MAX_INFLIGHT_BYTES": str(64 << 30)}, {}),
    "arena2": ({}, {"MALLOC_ARENA_MAX": "2"}),
    "batch16k": ({"INLET_BATCH_SIZE": "16384"}, {}),
    "mmap1m": ({}, {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}),
    "mmap256k": ({}, {"MALLOC_MMAP_THRESHOLD_": str(256 << 10)}),
    "mmap1m-b64": ({"INLET_MAX_INFLIGHT_BYTES": str(64 << 20)}, {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}),
    "mmap1m-b128": ({"INLET_MAX_INFLIGHT_BYTES": str(128 << 20)}, {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}),
    "budget64": ({"INLET_MAX_INFLIGHT_BYTES": str(64 << 20)}, {}),
    "budget128": ({"INLET_MAX_INFLIGHT_BYTES": str(128 << 20)}, {}),
    "batch8k": ({"INLET_BATCH_SIZE": "8192"}, {}),
    "batch32k": ({"INLET_BATCH_SIZE": "32768"}, {}),
    "batch64k": ({"INLET_BATCH_SIZE": "65536"}, {}),
}


def rss_mb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, file, env):
        self.tmp = tempfile.TemporaryDirectory()
        cat = Path(self.tmp.name) / "bench.yaml"
        cat.write_text(f"sources:\n  trips:\n    driver: parquet\n    args: {{urlpath: '{file}'}}\n")
        self.port = free_port()
        full_env = dict(os.environ, INLET_STATE_DIR=self.tmp.name, **env)
        self.proc = subprocess.Popen(
            [binary, "serve", "--catalog", str(cat), "--http", f"127.0.0.1:{self.port}",
             "--no-flight", "--allow-path", str(Path(file).parent)],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/v1/sources/bench.trips")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("inlet did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.tmp.cleanup()


BUSY = [0]


def stream(port):
    """One client: streams /data, drops batches; returns (rows, seconds). A 503 (the memory
    budget or the stream slots are taken) is retried after its Retry-After, as clients should;
    the retries are counted in BUSY."""
    t = time.perf_counter()
    for _ in range(600):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("GET", "/api/v1/sources/bench.trips/data")
        r = c.getresponse()
        if r.status == 503:
            BUSY[0] += 1
            r.read()
            time.sleep(float(r.getheader("Retry-After") or 1))
            continue
        if r.status != 200:
            raise RuntimeError(f"{r.status}: {r.read()[:300]}")
        rows = 0
        for batch in pyarrow.ipc.open_stream(r):
            rows += batch.num_rows
        return rows, time.perf_counter() - t
    raise RuntimeError("busy for 10 minutes")


def run(server, clients):
    peak = [rss_mb(server.proc.pid)]
    done = threading.Event()
    BUSY[0] = 0

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as ex:
            results = list(ex.map(lambda _: stream(server.port), range(clients)))
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - t
    return results, wall, peak[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--inlet", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/inlet"))
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--configs", default="budget,unbounded,arena2")
    a = ap.parse_args()
    meta = pq.ParquetFile(a.file).metadata
    arrow_mb = pq.read_table(a.file).nbytes / 1e6
    print(f"file: {a.file}: {meta.num_rows:,} rows, {meta.num_row_groups} row groups, "
          f"{arrow_mb:.0f} MB as Arrow; load average {os.getloadavg()}")
    print(f"{'config':<10} {'clients':>7} {'idle_MB':>8} {'peak_MB':>8} {'peak-idle':>9} "
          f"{'agg_MB/s':>9} {'slowest_s':>9} {'wall_s':>7} {'503s':>5}")
    for name in a.configs.split(","):
        env, process_env = CONFIGS[name]
        for n in [int(x) for x in a.clients.split(",")]:
            server = Server(a.inlet, a.file, {**env, **process_env})
            try:
                stream(server.port)  # warm-up: discovery, page cache
                time.sleep(0.5)
                idle = rss_mb(server.proc.pid)
                results, wall, peak = run(server, n)
            finally:
                server.stop()
            assert all(r == meta.num_rows for r, _ in results), results
            slowest = max(s for _, s in results)
            print(f"{name:<10} {n:>7} {idle:>8.0f} {peak:>8.0f} {peak - idle:>9.0f} "
                  f"{n * arrow_mb / wall:>9.0f} {slowest:>9.2f} {wall:>7.2f} {BUSY[0]:>5}", flush=True)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
