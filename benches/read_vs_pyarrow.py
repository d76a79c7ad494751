"""Full-file read throughput: Inlet's drivers vs pyarrow on the same file, in one run.

    python3 benches/read_vs_pyarrow.py --rows 10000000 [--repeat 3] [--data /tmp/benchdata]

Data comes from ../shared/bench/make_data.py (the shared harness's generator): trips.parquet
(zstd, ~300 MB at 10M rows) and trips.csv. Each measurement runs in a fresh process and reports
its own wall time and peak RSS (VmHWM). pyarrow is the floor: `pq.read_table` and
`pyarrow.csv.read_csv` (both multithreaded). Inlet: `cargo bench --bench read` (the driver's
stream, all batches decoded, nothing written).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYARROW_READ = r"""
import json, sys, time
t = time.perf_counter()
if sys.argv[1] == "parquet":
    import pyarrow.parquet as pq
    table = pq.read_table(sys.argv[2])
else:
    import pyarrow.csv as pc
    table = pc.read_csv(sys.argv[2])
secs = time.perf_counter() - t
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"rows": table.num_rows, "seconds": secs, "peak_rss_mb": int(hwm) / 1024}))
"""


def run(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--data", default="/tmp/benchdata")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="parquet,csv")
    args = ap.parse_args()
    data = Path(args.data)
    if not (data / "trips.parquet").exists() or not (data / "trips.csv").exists():
        # The shared harness's generator; its venv (../shared/bench/setup.sh) has what it needs.
        gen = ROOT.parent / "shared" / "bench" / "make_data.py"
        subprocess.run([sys.executable, str(gen), "--rows", str(args.rows), "--out", str(data),
                        "--skip", "avro,zarr,multi"], check=True)
    subprocess.run(["cargo", "bench", "--bench", "read", "--no-run", "-q"], cwd=ROOT, check=True)
    files = {"parquet": data / "trips.parquet", "csv": data / "trips.csv"}
    print(f"load average: {os.getloadavg()[0]:.2f}; rows: {args.rows:,}; repeat: {args.repeat}")
    print(f"{'format':8} {'file MB':>8} {'reader':8} {'median s':>9} {'MB/s':>8} {'peak RSS MB':>12}")
    for fmt in args.formats.split(","):
        path = files[fmt]
        size_mb = path.stat().st_size / 1e6
        results = {}
        readers = [
            ("pyarrow", [sys.executable, "-c", PYARROW_READ, fmt, str(path)]),
            ("inlet", ["cargo", "bench", "-q", "--bench", "read", "--", fmt, str(path)]),
        ]
        # Alternated, pyarrow then Inlet, so that both see the same drift of the machine.
        all_runs = {name: [] for name, _ in readers}
        for _ in range(args.repeat):
            for name, cmd in readers:
                all_runs[name].append(run(cmd))
        for name, _ in readers:
            runs = all_runs[name]
            med = statistics.median(r["seconds"] for r in runs)
            rss = max(r["peak_rss_mb"] for r in runs)
            assert len({r["rows"] for r in runs}) == 1, runs
            results[name] = (med, rss, runs[0]["rows"])
            each = " ".join(f"{r['seconds']:.2f}" for r in runs)
            print(f"{fmt:8} {size_mb:8.0f} {name:8} {med:9.3f} {size_mb / med:8.0f} {rss:12.0f}  runs: {each}")
        ratio = results["pyarrow"][0] / results["inlet"][0]
        assert results["pyarrow"][2] == results["inlet"][2], results
        print(f"{fmt}: Inlet throughput = {ratio:.2f}x pyarrow's")


if __name__ == "__main__":
    main()
