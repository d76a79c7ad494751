//! `inlet fetch`, `inlet head` and `inlet describe` on data, as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use inlet_driver::testing::{assert_same, expected, fixtures};

fn inlet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("INLET_CATALOGS")
        .output()
        .expect("run inlet")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn concat(batches: Vec<RecordBatch>) -> RecordBatch {
    let schema = batches[0].schema();
    arrow_select::concat::concat_batches(&schema, &batches).expect("concat")
}

/// A catalog in a temp dir whose sources read the test fixtures (allowed with --allow-path).
fn fixture_catalog(dir: &Path) -> String {
    let fx = fixtures();
    let yaml = format!(
        "sources:
  types:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  corrupt:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/corrupt_page.parquet'}}
",
        fx = fx.display()
    );
    let p = dir.join("fx.yaml");
    std::fs::write(&p, yaml).expect("write");
    p.to_string_lossy().into_owned()
}

#[test]
fn fetch_writes_each_format_by_extension() {
    let dir = tempfile::tempdir().expect("tmp");
    let cat = fixture_catalog(dir.path());
    let fx = fixtures().to_string_lossy().into_owned();
    let want = expected("expected/parquet/types.parquet.arrow");
    let common = ["--catalog", cat.as_str(), "--allow-path", fx.as_str()];

    let out = dir.path().join("t.arrow");
    ok(&inlet(
        &[
            &["fetch", "fx.types", "-o", out.to_str().expect("utf8")],
            &common[..],
        ]
        .concat(),
    ));
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::fs::File::open(&out).expect("out"), None)
            .expect("ipc");
    assert_same(
        &concat(reader.collect::<Result<_, _>>().expect("batches")),
        &want,
        "fetch .arrow",
    );

    let out = dir.path().join("t.parquet");
    ok(&inlet(
        &[
            &["fetch", "fx.types", "-o", out.to_str().expect("utf8")],
            &common[..],
        ]
        .concat(),
    ));
    let file = std::fs::File::open(&out).expect("out");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("pq")
        .build()
        .expect("reader");
    assert_same(
        &concat(reader.collect::<Result<_, _>>().expect("batches")),
        &want,
        "fetch .parquet",
    );

    let out = dir.path().join("t.csv");
    let args = [
        "fetch",
        "fx.types",
        "--columns",
        "id,string",
        "--limit",
        "3",
        "-o",
        out.to_str().expect("utf8"),
    ];
    ok(&inlet(&[&args[..], &common[..]].concat()));
    let text = std::fs::read_to_string(&out).expect("csv");
    assert_eq!(text.lines().count(), 4, "header + 3 rows:\n{text}");
    assert!(text.starts_with("id,string\n"), "{text}");

    let out = dir.path().join("t.ndjson");
    let args = [
        "fetch",
        "fx.types",
        "--columns",
        "id",
        "--partition",
        "2",
        "-o",
        out.to_str().expect("utf8"),
    ];
    ok(&inlet(&[&args[..], &common[..]].concat()));
    let text = std::fs::read_to_string(&out).expect("ndjson");
    assert_eq!(text.lines().count(), 2_500);
    assert_eq!(text.lines().next(), Some("{\"id\":5000}"));
}

#[test]
fn fetch_to_stdout_is_an_arrow_stream() {
    let o = inlet(&["fetch", "example.trips", "--limit", "1000", "-o", "-"]);
    let bytes = o.stdout.clone();
    ok(&o);
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .expect("ipc stream");
    let batch = concat(reader.collect::<Result<_, _>>().expect("batches"));
    assert_eq!(batch.num_rows(), 1000);
    assert_eq!(batch.schema().field(0).name(), "trip_id");
}

#[test]
fn a_failed_fetch_leaves_no_file_and_exits_1() {
    let dir = tempfile::tempdir().expect("tmp");
    let cat = fixture_catalog(dir.path());
    let fx = fixtures().to_string_lossy().into_owned();
    let out = dir.path().join("bad.parquet");
    let o = inlet(&[
        "fetch",
        "fx.corrupt",
        "--catalog",
        &cat,
        "--allow-path",
        &fx,
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("corrupt data in") && err.contains("corrupt_page.parquet"),
        "{err}"
    );
    assert!(
        !out.exists() && !dir.path().join("bad.parquet.partial").exists(),
        "no output left behind"
    );
    // Without --allow-path the fixtures are outside the catalog's directory.
    let o = inlet(&[
        "fetch",
        "fx.types",
        "--catalog",
        &cat,
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("outside the catalog directory"));
    let o = inlet(&[
        "fetch",
        "example.trips",
        "-o",
        dir.path().join("x.xlsx").to_str().expect("utf8"),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("use .arrow, .parquet, .csv or .ndjson"));
}

#[test]
fn head_prints_a_table_and_describe_shows_discovery() {
    let out = ok(&inlet(&["head", "example.trips", "-n", "3"]));
    assert!(
        out.contains("| trip_id |") && out.contains("(3 of 20000 rows)"),
        "{out}"
    );
    let out = ok(&inlet(&["describe", "example.trips", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let d = &v["discovery"];
    assert_eq!(d["total_rows"], 20_000);
    assert_eq!(d["partitions"].as_array().map(Vec::len), Some(4));
    assert_eq!(d["schema"][0]["name"], "trip_id");
    assert_eq!(d["schema"][0]["type"], "Int64");
    assert_eq!(d["schema"][2]["type"], "Timestamp(µs, \"UTC\")");
    assert!(d["total_bytes"].as_u64().is_some_and(|b| b > 100_000));
}

#[test]
fn fetch_reads_avro_like_the_http_plane() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("events.parquet");
    ok(&inlet(&[
        "fetch",
        "example.ride_events",
        "-o",
        out.to_str().expect("utf8"),
    ]));
    let file = std::fs::File::open(&out).expect("out");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("pq")
        .build()
        .expect("reader");
    let got = concat(reader.collect::<Result<_, _>>().expect("batches"));
    assert_eq!(got.num_rows(), 2_000);
    let names: Vec<String> = got
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["event_id", "trip_id", "kind", "at", "position", "tags", "fare"]
    );
    let o = inlet(&[
        "fetch",
        "example.ride_events",
        "--columns",
        "event_id,fare",
        "--limit",
        "5",
        "-o",
        "-",
    ]);
    let bytes = o.stdout.clone();
    ok(&o);
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).expect("ipc");
    let batch = concat(reader.collect::<Result<_, _>>().expect("batches"));
    assert_eq!((batch.num_rows(), batch.num_columns()), (5, 2));
}

#[test]
fn fetch_reads_zarr_as_a_tidy_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("air.csv");
    ok(&inlet(&[
        "fetch",
        "example.air_grid",
        "--columns",
        "time,lat,lon,air",
        "-o",
        out.to_str().expect("utf8"),
    ]));
    let text = std::fs::read_to_string(&out).expect("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time,lat,lon,air"));
    assert_eq!(text.lines().count(), 1 + 12 * 10 * 20);
    let first = lines.next().expect("a row");
    assert!(
        first.starts_with("2024-01-01T00:00:00,40.5,-74.2,"),
        "{first}"
    );
    assert!(
        first.ends_with(','),
        "the NaN written as _FillValue reads back as null: {first}"
    );
}
