#!/usr/bin/env python3
"""Combine the per-dataset results of a suite run, print the tables, ratios and targets.

    python bench/report.py bench/results/2026-05-09.json        # print a saved result again
    python bench/report.py bench/results/runs/<stamp> [OUT.json] # rebuild from a run's directory

bench/suite.py calls `build()` with the harness's per-dataset results JSON files and writes the
small combined JSON that this script prints.
"""
from __future__ import annotations

import json
import re
import sys

MB = 1e6
FLOOR = ("limit", "pyarrow->Table")
# peers a row is compared with: key -> (anchor, mode, dataset override)
PEERS = {
    "floor": ("limit", "pyarrow->Table", None),
    "flight": ("flight", "Flight DoGet", None),
    "roapi": ("roapi", "HTTP Arrow IPC", None),
    "roapi_nomem": ("roapi", "HTTP Arrow IPC", "trips_listing"),
    "intake": ("intake", "intake client read()", None),
}
# trips_listing is the same file as trips: ROAPI's use_memory_table: false row joins trips' table
LISTING_OF = {"trips_listing": "trips"}

TARGETS = [
    # id, text, dataset, row (anchor, mode), peer key or metric, threshold, kind
    ("http_vs_floor", "HTTP Arrow full fetch >= 0.9x the local pyarrow floor", ("candidate", "HTTP Arrow IPC"),
     "floor", 0.9, "ratio"),
    ("http_vs_flight", "HTTP Arrow full fetch >= 1.0x the pyarrow Flight server", ("candidate", "HTTP Arrow IPC"),
     "flight", 1.0, "ratio"),
    ("flight4_vs_floor", "Flight DoGet, 4 parallel endpoints >= 1.0x the floor",
     ("candidate", "Flight DoGet x4 parallel"), "floor", 1.0, "ratio"),
    ("ttfb", "time to first batch (HTTP Arrow) <= 50 ms", ("candidate", "HTTP Arrow IPC"), "ttfb", 50.0, "max_ms"),
]
TARGET_DATASET = "trips"


def _ms(v):
    return None if v is None else v * 1e3


def slim_fetch(d: dict, dataset: str) -> dict:
    keys = ("anchor", "mode", "rows", "wall_s", "ttfb_s", "wire_bytes", "arrow_bytes_received",
            "server_rss_idle", "server_rss_peak", "peak_is_since_start", "error", "note", "unavailable",
            "wall_s_median", "wall_s_min", "arrow_MBps", "rows_per_s", "ttfb_s_median")
    out = {k: d.get(k) for k in keys if d.get(k) is not None}
    for k in ("wall_s", "ttfb_s"):  # 0.1 ms is below the noise
        if k in out:
            out[k] = [round(x, 4) for x in out[k]]
    for k in ("wall_s_median", "wall_s_min", "ttfb_s_median"):
        if k in out:
            out[k] = round(out[k], 4)
    for k in ("arrow_MBps", "rows_per_s"):
        if k in out:
            out[k] = round(out[k], 1)
    out["dataset"] = dataset
    if dataset in LISTING_OF and d.get("anchor") == "roapi":
        out["mode"] = d["mode"] + " (no mem table)"
        out["dataset"] = LISTING_OF[dataset]
        out["roapi_table"] = "trips_listing"
    return out


def find(rows: list, dataset: str, anchor: str, mode: str):
    for r in rows:
        if r["dataset"] == dataset and r["anchor"] == anchor and r["mode"] == mode:
            return r
    return None


def peer_row(rows, dataset, key):
    anchor, mode, ds = PEERS[key]
    if ds is not None:  # the no-memory-table ROAPI row is stored under trips with a suffixed mode
        return find(rows, LISTING_OF.get(ds, ds), anchor, mode + " (no mem table)")
    return find(rows, dataset, anchor, mode)


def add_ratios(rows: list) -> None:
    """ratio = peer's median wall time / this row's: > 1 means faster than the peer (same bytes)."""
    for r in rows:
        if not r.get("wall_s_median"):
            continue
        ratios = {}
        for key in PEERS:
            p = peer_row(rows, r["dataset"], key)
            if p is None or p is r or not p.get("wall_s_median"):
                continue
            ratios[key] = round(p["wall_s_median"] / r["wall_s_median"], 3)
        r["ratios"] = ratios


def meta_ratio(meta: list, conc: int):
    def rps(anchor, pred):
        for m in meta:
            if m["anchor"] == anchor and m["concurrency"] == conc and pred(m["endpoint"]) and m.get("rps"):
                return m["rps"], m["endpoint"]
        return None, None

    ins, ie = rps("candidate", lambda e: re.fullmatch(r"GET /api/v1/sources/[^/]+", e) is not None)
    ros, re_ = rps("roapi", lambda e: e.startswith("GET /api/schema/"))
    return ins, ie, ros, re_



def evaluate_targets(rows: list, meta: list) -> list:
    out = []
    for tid, text, (anchor, mode), metric, thr, kind in TARGETS:
        t = {"id": tid, "target": text, "dataset": TARGET_DATASET, "threshold": thr}
        r = find(rows, TARGET_DATASET, anchor, mode)
        if r is None:
            t.update(status="n/a", detail="row not measured in this run")
        elif r.get("unavailable"):
            t.update(status="n/a", detail=r.get("error"))
        elif r.get("error") and not r.get("wall_s_median"):
            t.update(status="FAIL", detail="error: " + r["error"][:200])
        elif kind == "ratio":
            v = r.get("ratios", {}).get(metric)
            if v is None:
                t.update(status="n/a", detail=f"peer '{metric}' not measured in this run")
            else:
                t.update(value=round(v, 3), status="PASS" if v >= thr else "FAIL",
                         detail=f"{_ms(peer_row(rows, TARGET_DATASET, metric)['wall_s_median']):.1f} ms / "
                                f"{_ms(r['wall_s_median']):.1f} ms")
        elif kind == "max_ms":
            v = _ms(r.get("ttfb_s_median"))
            t.update(value=round(v, 2), status="PASS" if v <= thr else "FAIL", detail=f"median of the timed runs")
        out.append(t)
    t = {"id": "describe_vs_roapi_c64", "target": "describe >= 1.5x ROAPI's /api/schema/{t} req/s at c=64",
         "dataset": TARGET_DATASET, "threshold": 1.5}
    ins, ie, ros, re_ = meta_ratio(meta, 64)
    if ins is None or ros is None:
        t.update(status="n/a", detail=("Inlet" if ins is None else "ROAPI") + " metadata rows missing in this run")
    else:
        v = ins / ros
        t.update(value=round(v, 3), status="PASS" if v >= 1.5 else "FAIL",
                 detail=f"{ie} {ins:.0f} req/s vs {re_} {ros:.0f} req/s")
    out.append(t)
    return out


def build(per_dataset: dict, suite: dict) -> dict:
    """per_dataset: dataset -> the harness's results JSON (dict)."""
    rows, meta, datasets, errors, candidate = [], [], {}, {}, {}
    versions = None
    for ds, res in per_dataset.items():
        versions = versions or res.get("versions")
        for d in res.get("fetch", []):
            rows.append(slim_fetch(d, ds))
        for m in res.get("metadata_latency", []):
            m = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in m.items() if v is not None}
            m["dataset"] = ds
            meta.append(m)
        man = (res.get("dataset") or {}).get("manifest") or {}
        datasets[ds] = {"rows": res["dataset"]["rows"], "arrow_bytes": res["dataset"]["arrow_bytes"],
                        "data_dir": res.get("args", {}).get("data"),
                        "loadavg_start": res["host"]["loadavg_start"], "loadavg_end": res["host"]["loadavg_end"],
                        "seconds": res.get("seconds"), "grid_shape": man.get("grid_shape"),
                        "files": man.get("files")}
        if res.get("anchor_errors"):
            errors[ds] = res["anchor_errors"]
        c = res.get("candidate") or {}
        if c.get("enabled"):
            candidate[ds] = {k: c.get(k) for k in ("binary", "flight_supported", "ready_s", "error",
                                                    "flight_cmd_ok", "flight_cmd_error") if c.get(k) is not None}
    add_ratios(rows)
    out = dict(suite)
    out.update(versions=versions, datasets=datasets, fetch=rows, metadata_latency=meta, anchor_errors=errors,
               inlet=candidate)
    out["targets"] = evaluate_targets(rows, meta)
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_report(res: dict, file=sys.stdout) -> None:
    p = lambda *a: print(*a, file=file)  # noqa: E731
    h = res.get("host", {})
    p(f"\n# Inlet benchmark suite: {res.get('label', '')}")
    p(f"command: {res.get('command', '?')}")
    p(f"started {res.get('started')}, {res.get('seconds', '?')} s; {h.get('cpus')} CPUs; load average "
      f"(1, 5, 15 min) start {h.get('loadavg_start')} end {h.get('loadavg_end')}")
    p(f"inlet: {res.get('inlet_binary')} ({res.get('inlet_commit')}); Flight in this build: "
      f"{'yes' if res.get('flight_supported') else 'no'}")
    for ds, info in res.get("datasets", {}).items():
        if ds in LISTING_OF:
            continue
        extra = f", grid {info['grid_shape']}" if info.get("grid_shape") else ""
        p(f"\n== {ds}: {info['rows']:,} rows, {info['arrow_bytes'] / MB:.1f} MB as Arrow{extra}")
        hdr = (f"{'anchor':9s} {'mode':32s} {'wall_ms':>8s} {'min_ms':>8s} {'MB/s':>6s} {'ttfb_ms':>8s} "
               f"{'wire_MB':>8s} {'rss':>5s} {'peak':>6s} {'xfloor':>6s} {'xflight':>7s} {'xroapi':>6s} "
               f"{'xroapiD':>7s} {'xintake':>7s}")
        p(hdr)
        p("-" * len(hdr))
        for r in res["fetch"]:
            if r["dataset"] != ds:
                continue
            name = "inlet" if r["anchor"] == "candidate" else r["anchor"]
            if r.get("unavailable"):
                p(f"{name:9s} {r['mode']:32s} {'n/a':>8s}  {r.get('error')}")
                continue
            if r.get("error") and not r.get("wall_s_median"):
                p(f"{name:9s} {r['mode']:32s} ERROR {r['error'][:120]}")
                continue
            ra = r.get("ratios", {})
            p(f"{name:9s} {r['mode']:32s} {fmt(_ms(r.get('wall_s_median')), '.1f'):>8s} "
              f"{fmt(_ms(r.get('wall_s_min')), '.1f'):>8s} {fmt(r.get('arrow_MBps'), '.0f'):>6s} "
              f"{fmt(_ms(r.get('ttfb_s_median')), '.1f'):>8s} "
              f"{fmt(r.get('wire_bytes') and r['wire_bytes'] / MB, '.1f'):>8s} "
              f"{fmt(r.get('server_rss_idle') and r['server_rss_idle'] / MB, '.0f'):>5s} "
              f"{fmt(r.get('server_rss_peak') and r['server_rss_peak'] / MB, '.0f'):>5s}"
              f"{'*' if r.get('peak_is_since_start') else ' '} "
              f"{fmt(ra.get('floor'), '.2f'):>6s} {fmt(ra.get('flight'), '.2f'):>7s} "
              f"{fmt(ra.get('roapi'), '.2f'):>6s} {fmt(ra.get('roapi_nomem'), '.2f'):>7s} "
              f"{fmt(ra.get('intake'), '.2f'):>7s}"
              + (f"  ({r['error'][:60]})" if r.get("error") else ""))
    p("\nwall: median and min of the timed runs, connect to last decoded batch; MB/s: the dataset's Arrow "
      "size / median wall;\nttfb: first decoded batch (parquet format: first body byte); rss/peak: server "
      "VmRSS after warm-up / VmHWM during the runs, MB (* = since start);\nxPEER: PEER's median wall / this "
      "row's (> 1 = faster than PEER); roapiD = ROAPI with use_memory_table: false (same file).")
    if res.get("metadata_latency"):
        p("\n== metadata latency (wrk; python threads for Flight)")
        hdr = f"{'anchor':9s} {'endpoint':38s} {'conc':>4s} {'req/s':>8s} {'p50_ms':>7s} {'p99_ms':>7s} {'errors':>6s}"
        p(hdr)
        p("-" * len(hdr))
        for m in res["metadata_latency"]:
            name = "inlet" if m["anchor"] == "candidate" else m["anchor"]
            p(f"{name:9s} {m['endpoint'][:38]:38s} {m['concurrency']:4d} {fmt(m.get('rps'), '.0f'):>8s} "
              f"{fmt(m.get('p50_ms'), '.2f'):>7s} {fmt(m.get('p99_ms'), '.2f'):>7s} {m.get('errors', 0):6d}"
              + (f"  ERROR {m['error'][:60]}" if m.get("error") else "")
              + (f"  WARN {m['warning'][:60]}" if m.get("warning") else ""))
        for conc in sorted({m["concurrency"] for m in res["metadata_latency"]}):
            ins, ie, ros, re_ = meta_ratio(res["metadata_latency"], conc)
            if ins and ros:
                p(f"  c={conc}: inlet describe / roapi schema = {ins / ros:.2f}x")
    if res.get("anchor_errors"):
        p("\nanchor errors:")
        for ds, errs in res["anchor_errors"].items():
            for k, v in errs.items():
                p(f"  {ds} {k}: {v[:300]}")
    for ds, c in (res.get("inlet") or {}).items():
        if c.get("error"):
            p(f"\ninlet error ({ds}): {c['error'][:400]}")
    p("\n== targets (dataset trips)")
    for t in res.get("targets", []):
        v = t.get("value")
        p(f"  [{t['status']:4s}] {t['target']}: {fmt(v, '.2f') if v is not None else '-'}"
          f" (threshold {t['threshold']}) {t.get('detail') or ''}")


def dumps(res: dict) -> str:
    """Small and diff-friendly: one line per table row."""
    parts = []
    for k, v in res.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            body = ",\n".join("  " + json.dumps(x, default=str) for x in v)
            parts.append(f"{json.dumps(k)}: [\n{body}\n ]")
        else:
            parts.append(f"{json.dumps(k)}: {json.dumps(v, default=str)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def from_run_dir(run_dir: str) -> dict:
    """Rebuild the combined result from a run directory (bench/results/runs/<stamp>)."""
    import os

    suite = json.load(open(os.path.join(run_dir, "suite.json")))
    per = {}
    for ds in suite["params"]["datasets"]:
        p = os.path.join(run_dir, ds, "results.json")
        if os.path.exists(p):
            per[ds] = json.load(open(p))
    return build(per, suite)


def main(argv=None) -> int:
    import os

    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(__doc__)
        return 2
    if os.path.isdir(argv[0]):  # a run directory: rebuild (and with a second argument, write the JSON)
        res = from_run_dir(argv[0])
        if len(argv) > 1:
            with open(argv[1], "w") as f:
                f.write(dumps(res))
    else:
        res = json.load(open(argv[0]))
    print_report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
