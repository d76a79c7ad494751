#!/usr/bin/env python3
"""The Python baseline for benches/avro_read.rs: fastavro -> pyarrow on the same file.

    $(bash scripts/pyenv.sh) drivers/avro/benches/fastavro_read.py target/fixtures/avro-bench/bench_1m.avro

Prints the best of 3 runs of (a) fastavro decoding every record and (b) that plus building a
pyarrow Table from the records (what "read Avro into Arrow" costs in Python).
"""

import sys
import time

import fastavro
import pyarrow as pa

RUNS = 3


def best(name: str, size: int, fn) -> float:
    times, rows = [], 0
    for _ in range(RUNS):
        t = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - t)
    t = min(times)
    print(f"{name:<48} {t * 1e3:8.1f} ms  {rows / t / 1e6:6.2f} M rows/s  "
          f"{size / t / 1e6:7.1f} MB/s  ({rows} rows)")
    return t


def main(path: str) -> None:
    with open(path, "rb") as f:
        size = len(f.read())
    print(f"{path} ({size} bytes), best of {RUNS}; fastavro {fastavro.__version__}, "
          f"pyarrow {pa.__version__}")

    def decode():
        with open(path, "rb") as f:
            return sum(1 for _ in fastavro.reader(f))

    def to_arrow():
        with open(path, "rb") as f:
            return pa.Table.from_pylist(list(fastavro.reader(f))).num_rows

    best("fastavro -> records", size, decode)
    best("fastavro -> records -> pyarrow Table", size, to_arrow)


if __name__ == "__main__":
    main(sys.argv[1])
