"""Soak: 64 concurrent streams plus wrk at c=256 on metadata, for minutes, on loopback.

    cargo build --release --bin inlet
    $(bash scripts/pyenv.sh) benches/soak.py --file /tmp/inlet-bench-data/<main>/trips.parquet
                                             [--minutes 5] [--streams 64] [--wrk-connections 256]

Not a CI test. A release `inlet serve` (Flight off, max_streams raised to fit) serves the file;
`--streams` threads read `GET /data` over and over (batches dropped) while `wrk` loads the
describe route. Reported: streams completed and failed, wrk's requests, errors and latency
percentiles, and the server's RSS each minute: after the first minute (warm-up) it must stay flat.
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from concurrency import Server, rss_mb, stream  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--inlet", default=str(Path(os.environ.get("CARGO_TARGET_DIR", Path(__file__).resolve().parent.parent / "target")) / "release/inlet"))
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--streams", type=int, default=64)
    ap.add_argument("--wrk-connections", type=int, default=256)
    a = ap.parse_args()
    secs = a.minutes * 60
    server = Server(a.inlet, a.file, {"INLET_MAX_STREAMS": str(a.streams + 16)})
    print(f"soak: {a.streams} streams + wrk c={a.wrk_connections} for {a.minutes} min; "
          f"load average {os.getloadavg()}", flush=True)
    stop = time.time() + secs
    done, failed = [0], []
    lock = threading.Lock()

    def streamer():
        while time.time() < stop:
            try:
                stream(server.port)
                with lock:
                    done[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    failed.append(repr(e)[:200])

    threads = [threading.Thread(target=streamer) for _ in range(a.streams)]
    for t in threads:
        t.start()
    wrk = subprocess.Popen(
        ["wrk", "-t2", f"-c{a.wrk_connections}", f"-d{int(secs)}s", "--latency",
         f"http://127.0.0.1:{server.port}/api/v1/sources/bench.trips"],
        stdout=subprocess.PIPE, text=True)
    rss = []
    start = time.time()
    while time.time() < stop:
        time.sleep(min(60, max(0.0, stop - time.time())))
        rss.append((round((time.time() - start) / 60, 1), round(rss_mb(server.proc.pid))))
        print(f"  {rss[-1][0]} min: RSS {rss[-1][1]} MB, streams done {done[0]}, "
              f"failed {len(failed)}", flush=True)
    out = wrk.communicate()[0]
    for t in threads:
        t.join()
    server.stop()
    print(out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    print(f"streams: {done[0]} completed, {len(failed)} failed {failed[:3]}")
    print(f"wrk non-2xx: {errors.group(1) if errors else 0}; socket errors: "
          f"{socket_errors.group(1) if socket_errors else 'none'}")
    print(f"RSS per minute (MB): {rss}; load average at the end {os.getloadavg()}")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
