"""Derived sources over a real `inlet serve` (tests/data/derived/catalog.yaml): every entry read
as Arrow with pyarrow equals pandas doing the same operation on the same CSV files; a plan's
tickets read a concatenation partition by partition; Python steps, Intake's own refusals,
cycles and other-file targets are errors with precise messages.

Usage: check_derived.py http://HOST:PORT DATA_DIR grpc://HOST:PORT
"""
import json
import sys
import urllib.error
import urllib.request

import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight

base, data = sys.argv[1], sys.argv[2]
warnings.simplefilter("ignore")  # pandas 3 deprecates join(lsuffix=...), which Intake catalogs use
df = pd.read_csv(f"{data}/sample1.csv")
df1 = pd.read_csv(f"{data}/sample2_1.csv")
other = pd.read_csv(f"{data}/other.csv")


def get(path):
    return urllib.request.urlopen(f"{base}{path}")


def read(name, query=""):
    return pa.ipc.open_stream(get(f"/api/v1/sources/derived.{name}/data{query}").read()).read_all()


def same(name, got, want):
    got = got.to_pandas().reset_index(drop=True)
    want = want.reset_index(drop=True)
    assert list(got.columns) == list(want.columns), (name, list(got.columns), list(want.columns))
    # Arrow keeps ints as ints with nulls where pandas makes floats, and strings as str/object.
    for i in range(len(want.columns)):
        g, w = got.iloc[:, i], want.iloc[:, i]
        if pd.api.types.is_numeric_dtype(w) or pd.api.types.is_numeric_dtype(g):
            g, w = g.astype("float64"), w.astype("float64")
        else:
            g, w = g.astype(object).where(g.notna(), None), w.astype(object).where(w.notna(), None)
        assert g.tolist() == w.tolist() or (g.isna() == w.isna()).all() and (g[g.notna()] == w[w.notna()]).all(), (name, i, g.tolist(), w.tolist())
    print(f"{name}: equal to pandas ({len(want)} rows)")


cases = {
    "alias0": df,
    "chosen": df,
    "derive_cols": df[["name", "score"]],
    "one_column": df["name"].to_frame(),
    "accessor": df["name"].str.lower().to_frame(),
    "upper": df["name"].str.upper().to_frame(),
    "assign": df.assign(lower=df["name"].str.lower()),
    "assign_value": df.assign(new_col="value"),
    "concat_rows": pd.concat([df, df1]),
    "concat_outer": pd.concat([df, other]),
    "concat_cols": pd.concat([df, other], axis=1),
    "merged": df.merge(df1, on="rank"),
    "join1": df.join(df1, rsuffix="1"),
    "join_then_cols": df.join(other, lsuffix="_l")[["name_l", "city"]],
}
for name, want in cases.items():
    same(name, read(name), want)
same("chosen?param.choice=second", read("chosen", "?param.choice=second"), df1)

# A concatenation keeps its targets' partitions: a plan's tickets read them in parallel.
req = urllib.request.Request(f"{base}/api/v1/sources/derived.concat_rows/plan", data=b"{}", method="POST",
                             headers={"Content-Type": "application/json"})
plan = json.load(urllib.request.urlopen(req))
parts = [pa.ipc.open_stream(urllib.request.urlopen(e["locations"][0]).read()).read_all() for e in plan["endpoints"]]
assert len(parts) == 2, len(parts)
same("concat_rows by plan", pa.concat_tables(parts), pd.concat([df, df1]))

# Over Arrow Flight, as any source.
client = flight.connect(sys.argv[3])
info = client.get_flight_info(flight.FlightDescriptor.for_path("derived", "merged"))
same("merged over Flight", pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints]),
     df.merge(df1, on="rank"))

# Describe lists a derived source like any other.
text = get("/api/v1/sources/derived.merged").read().decode()
for col in ["name_x", "score_x", "rank", "name_y", "score_y"]:
    assert f'"{col}"' in text, (col, text)
print("describe merged: the merged schema")


def problem(name):
    try:
        get(f"/api/v1/sources/derived.{name}/data")
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
    raise AssertionError(f"{name} was read")


errors = {
    "apply": (501, "step 2 `apply` calls the Python function `intake.source.tests.util.reverse`; Inlet cannot run Python: serve the result as a file instead"),
    "failed": (500, "step 1 `cols`: no column `nope`; columns: name, score, rank"),
    "merge_fail": (500, "step 1 `merge`: `df1` is not listed in the targets of this pipeline (df)"),
    "cycle_a": (500, "target `cycle_a` makes a cycle: derived.cycle_a -> derived.cycle_b -> derived.cycle_a"),
    "other_file": (501, "is in another catalog file"),
}
for name, (status, text) in errors.items():
    code, body = problem(name)
    detail = body.get("detail", "")
    assert code == status and text in detail, (name, code, body)
    print(f"{name}: {code} {detail}")
print("derived: ok")
