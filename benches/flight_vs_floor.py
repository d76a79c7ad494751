"""Flight DoGet with N parallel endpoints against the local floor, side by side in one run.

    cargo build --release --bin inlet
    $(bash scripts/pyenv.sh) benches/flight_vs_floor.py --file /tmp/benchdata/trips.parquet
        [--inlet target/release/inlet [--inlet /tmp/other-build/inlet]] [--endpoints 4] [--repeat 5]

For each binary a fresh `inlet serve` (Flight on a free port) serves the file. Rounds alternate:
the floor (`pyarrow.parquet.read_table` of the same file, in this process), then each binary's
fetch: GetFlightInfo with a CMD `{"source", "max_endpoints": N}`, then DoGet of every endpoint
on N threads, each with its own connection, batches dropped. Reported per binary: median and
min wall time, the ratio to the floor's median, and the server's CPU seconds per fetch (from
/proc). Giving two binaries compares builds on the same machine state.
"""
import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as fl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concurrency import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class FlightServer:
    def __init__(self, binary, file):
        self.tmp = tempfile.TemporaryDirectory()
        cat = Path(self.tmp.name) / "bench.yaml"
        cat.write_text(f"sources:\n  trips:\n    driver: parquet\n    args: {{urlpath: '{file}'}}\n")
        self.port = free_port()
        env = dict(os.environ, INLET_STATE_DIR=self.tmp.name)
        self.proc = subprocess.Popen(
            [binary, "serve", "--catalog", str(cat), "--http", f"127.0.0.1:{free_port()}",
             "--flight", f"127.0.0.1:{self.port}", "--allow-path", str(Path(file).parent)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.location = f"grpc://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while True:
            try:
                fl.connect(self.location).get_flight_info(fl.FlightDescriptor.for_path("bench", "trips"))
                return
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def cpu_seconds(self):
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.tmp.cleanup()


def fetch(location, n):
    t0 = time.perf_counter()
    client = fl.connect(location)
    cmd = json.dumps({"source": "bench.trips", "max_endpoints": n}).encode()
    info = client.get_flight_info(fl.FlightDescriptor.for_command(cmd))
    tickets = [ep.ticket for ep in info.endpoints]

    def run(group):
        c = fl.connect(location)
        rows = 0
        for ticket in group:
            reader = c.do_get(ticket)
            while True:
                try:
                    rows += reader.read_chunk().data.num_rows
                except StopIteration:
                    break
        c.close()
        return rows

    with cf.ThreadPoolExecutor(n) as ex:
        rows = sum(ex.map(run, [tickets[i::n] for i in range(n) if tickets[i::n]]))
    return time.perf_counter() - t0, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--inlet", action="append")
    ap.add_argument("--endpoints", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    binaries = args.inlet or [str(ROOT / "target/release/inlet")]
    servers = [FlightServer(b, args.file) for b in binaries]
    floor, times, cpu = [], [[] for _ in servers], [[] for _ in servers]
    want = pq.ParquetFile(args.file).metadata.num_rows
    print(f"load average at start: {os.getloadavg()}")
    try:
        for _ in range(args.repeat):
            t = time.perf_counter()
            pq.read_table(args.file)
            floor.append(time.perf_counter() - t)
            for i, s in enumerate(servers):
                before = s.cpu_seconds()
                secs, rows = fetch(s.location, args.endpoints)
                assert rows == want, (rows, want)
                times[i].append(secs)
                cpu[i].append(s.cpu_seconds() - before)
    finally:
        for s in servers:
            s.stop()
    f = statistics.median(floor)
    print(f"floor (pq.read_table): median {f * 1000:.0f} ms, min {min(floor) * 1000:.0f} ms")
    for b, t, c in zip(binaries, times, cpu):
        m = statistics.median(t)
        print(f"{b}: Flight x{args.endpoints} median {m * 1000:.0f} ms, min {min(t) * 1000:.0f} ms, "
              f"{f / m:.2f}x the floor; server CPU {statistics.median(c):.2f} s per fetch")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
