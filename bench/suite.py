#!/usr/bin/env python3
"""The benchmark suite: data, one harness run per dataset, the combined report. `bench/run` calls it
(after the venv and the release build); see bench/README.md.

For each dataset it runs bench/inlet_candidate.py (the shared harness ../shared/bench/anchors.py with
Inlet plugged into its candidate hook) in a fresh process, then combines the results
(bench/report.py): tables with ratios to the floor and to each peer, the pass/fail targets, and a
small JSON in bench/results/.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED_BENCH = os.environ.get("INLET_SHARED_BENCH") or os.path.join(os.path.dirname(REPO), "shared", "bench")
sys.path.insert(0, HERE)
import report  # noqa: E402

ALL_ANCHORS = ["limit", "intake", "roapi", "flightsql", "flight", "inlet"]
# dataset -> (data set kind, anchors that can serve it)
PLAN = {
    "trips": ("main", ["limit", "intake", "roapi", "flightsql", "flight", "inlet"]),
    "trips_listing": ("main", ["roapi", "flightsql"]),  # ROAPI with use_memory_table: false
    "trips_multi": ("main", ["limit", "intake", "roapi", "flight", "inlet"]),
    "trips_csv": ("main", ["limit", "intake", "roapi", "flight", "inlet"]),
    "trips_avro": ("avro", ["limit", "intake", "flight", "inlet"]),
    # intake-server cannot serve Zarr with current xarray (../shared/bench/README.md), so no intake
    "grid_v3": ("grid", ["limit", "flight", "inlet"]),
    "grid_v2": ("grid", ["limit", "flight", "inlet"]),
}
SKIPS = {"main": "avro,zarr", "avro": "csv,zarr,multi", "grid": "csv,avro,multi"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def data_dir(root: str, kind: str, rows: int, seed: int) -> str:
    return os.path.join(root, f"{kind}-r{rows}-s{seed}")


def ensure_data(py: str, root: str, kind: str, rows: int, seed: int) -> str:
    """make_data.py into a directory named by kind, rows and seed; reused when its MANIFEST matches."""
    d = data_dir(root, kind, rows, seed)
    man = os.path.join(d, "MANIFEST.json")
    if os.path.exists(man):
        m = json.load(open(man))
        if m.get("rows") == rows and m.get("seed") == seed:
            log(f"data: reusing {d}")
            return d
    log(f"data: generating {kind} ({rows:,} rows, seed {seed}) in {d} ...")
    t0 = time.time()
    subprocess.run([py, os.path.join(SHARED_BENCH, "make_data.py"), "--rows", str(rows), "--seed", str(seed),
                    "--out", d, "--skip", SKIPS[kind]], check=True, stdout=sys.stderr)
    log(f"data: {kind} done in {time.time() - t0:.0f} s")
    return d


def git_commit() -> str:
    try:
        c = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return c + ("-dirty" if dirty else "")
    except Exception:  # noqa: BLE001
        return "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--avro-rows", type=int, default=200_000,
                    help="rows of the Avro file (capped at --rows); the fastavro floor decodes only "
                         "10k-100k rows/s and is read 24 times at --repeat 5")
    ap.add_argument("--grid-rows", type=int, default=3_100_000,
                    help="make_data.py --rows for the Zarr stores: time steps = rows // 1000, "
                         "90 x 180 points each (3.1M -> 50.2M points); capped at --rows")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--datasets", default=",".join(PLAN))
    ap.add_argument("--anchors", default=",".join(ALL_ANCHORS), help="subset of " + ",".join(ALL_ANCHORS))
    ap.add_argument("--intake-max-rows", type=int, default=500_000,
                    help="intake-server (pickled pandas, slow) runs on every dataset up to this many rows, "
                         "above it only on trips")
    ap.add_argument("--intake-avro", action="store_true",
                    help="also run intake-server on trips_avro (AvroSequenceSource: Python dicts, ~4k rows/s)")
    ap.add_argument("--meta", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--meta-duration", type=float, default=10.0)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--formats-on", default=None,
                    help="datasets that get Inlet's format=parquet/csv rows (comma list or 'all'; "
                         "default: trips, or all with --quick)")
    ap.add_argument("--data-root", default=os.environ.get("INLET_BENCH_DATA", "/tmp/inlet-bench-data"))
    ap.add_argument("--inlet-bin", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--command", default=" ".join(shlex.quote(a) for a in sys.argv))
    ap.add_argument("--out", default=None, help="default bench/results/<date>.json (-quick for quick runs)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)

    py = sys.executable
    anchors_on = set(a.strip() for a in args.anchors.split(",") if a.strip())
    bad = anchors_on - set(ALL_ANCHORS)
    if bad:
        sys.exit(f"unknown anchors {sorted(bad)}; choose from {ALL_ANCHORS}")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for d in datasets:
        if d not in PLAN:
            sys.exit(f"unknown dataset {d}; choose from {list(PLAN)}")
    sizes = {"main": args.rows, "avro": min(args.rows, args.avro_rows), "grid": min(args.rows, args.grid_rows)}

    started = time.time()
    load0 = os.getloadavg()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_root = os.path.join(HERE, "results", "runs", stamp)
    os.makedirs(run_root, exist_ok=True)
    log(f"suite: rows {args.rows:,}, repeat {args.repeat}, datasets {datasets}, anchors {sorted(anchors_on)}; "
        f"load {load0}; logs in {run_root}")

    dirs = {}
    for kind in dict.fromkeys(PLAN[d][0] for d in datasets):
        dirs[kind] = ensure_data(py, args.data_root, kind, sizes[kind], args.seed)

    per_dataset = {}
    meta_done = False
    for ds in datasets:
        kind, possible = PLAN[ds]
        use = [a for a in possible if a in anchors_on]
        if "intake" in use and ds == "trips_avro" and not args.intake_avro:
            use.remove("intake")
            log(f"{ds}: intake skipped (slow: AvroSequenceSource; --intake-avro runs it)")
        if "intake" in use and ds != "trips" and sizes[kind] > args.intake_max_rows:
            use.remove("intake")
            log(f"{ds}: intake skipped ({sizes[kind]:,} rows > --intake-max-rows {args.intake_max_rows:,})")
        if not use:
            continue
        run_dir = os.path.join(run_root, ds)
        os.makedirs(run_dir, exist_ok=True)
        out_json = os.path.join(run_dir, "results.json")
        harness = [a for a in use if a != "inlet"]
        cmd = [py, os.path.join(HERE, "inlet_candidate.py"), "--data", dirs[kind], "--dataset", ds,
               "--anchors", ",".join(harness), "--repeat", str(args.repeat), "--warmup", str(args.warmup),
               "--run-dir", run_dir, "--out-json", out_json, "--label", args.label or ds,
               "--inlet-bin", args.inlet_bin, "--parallel", str(args.parallel),
               "--meta-duration", str(args.meta_duration),
               "--formats-on", args.formats_on or ("all" if args.quick else "trips")]
        # metadata load once (on trips, or the first dataset that has it); it is per server, not per file
        if args.meta and not meta_done and ds == (("trips" in datasets and "trips") or datasets[0]):
            meta_done = True
        else:
            cmd.append("--no-meta")
        if "inlet" not in use:
            cmd.append("--no-inlet")
        log(f"\n=== {ds}: {' '.join(use)}")
        with open(os.path.join(run_dir, "stdout.txt"), "w") as out:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            out.write(p.stdout)
        sys.stderr.write(p.stdout)
        if p.returncode != 0 or not os.path.exists(out_json):
            log(f"{ds}: harness run failed (exit {p.returncode}); see {run_dir}")
            continue
        per_dataset[ds] = json.load(open(out_json))

    from inlet_candidate import flight_supported  # noqa: E402

    suite = {
        "suite": "inlet bench (bench/run)",
        "label": args.label or ("quick" if args.quick else "full"),
        "command": args.command,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "host": {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load0],
                 "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                 "mem_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "params": {"rows": args.rows, "avro_rows": sizes["avro"], "grid_rows": sizes["grid"], "seed": args.seed,
                   "repeat": args.repeat, "warmup": args.warmup, "parallel": args.parallel,
                   "meta_duration_s": args.meta_duration, "formats_on": args.formats_on or ("all" if args.quick else "trips"), "datasets": datasets, "anchors": sorted(anchors_on),
                   "quick": args.quick},
        "inlet_binary": args.inlet_bin,
        "inlet_commit": git_commit(),
        "flight_supported": flight_supported(args.inlet_bin) if os.path.exists(args.inlet_bin) else None,
        "run_dir": run_root,
    }
    with open(os.path.join(run_root, "suite.json"), "w") as f:
        json.dump(suite, f, indent=1)
    res = report.build(per_dataset, suite)
    out = args.out
    if not out:
        day = dt.date.today().isoformat()
        out = os.path.join(HERE, "results", f"{day}{'-quick' if args.quick else ''}.json")
        if os.path.exists(out):
            out = out[:-5] + f"-{stamp[-6:]}.json"
    with open(out, "w") as f:
        f.write(report.dumps(res))
    report.print_report(res)
    with open(os.path.join(run_root, "report.txt"), "w") as f:
        report.print_report(res, file=f)
    print(f"\nJSON: {out}\nlogs: {run_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
