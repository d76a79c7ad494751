//! The CSV driver against fixtures written by Python (tests/fixtures/make_fixtures.py), compared
//! with pyarrow's reading of the same files.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use futures::{StreamExt, TryStreamExt};
use inlet_csv::CsvDriver;
use inlet_driver::storage::StorageResolver;
use inlet_driver::{Driver, DriverError, Limits, OpenContext, ReadRequest, Source};
use serde_json::{json, Value as J};

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("INLET_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures"));
    assert!(
        dir.join("manifest.json").is_file(),
        "no fixtures at {}: generate them from the workspace root with\n  \
         $(bash scripts/pyenv.sh) tests/fixtures/make_fixtures.py target/fixtures\n\
         or point INLET_FIXTURES at a directory made that way",
        dir.display()
    );
    dir
}

fn manifest() -> J {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

fn entry(name: &str) -> J {
    manifest()["csv"][name].clone()
}

fn ctx() -> OpenContext {
    OpenContext {
        catalog_dir: fixtures(),
        storage: Arc::new(StorageResolver::default()),
        limits: Limits::default(),
        targets: None,
    }
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    let J::Object(map) = args else {
        panic!("args must be a mapping")
    };
    CsvDriver.open(&map, &ctx()).await
}

/// Opens a manifest entry with its csv_kwargs (and pattern, when it has one).
async fn open_entry(e: &J) -> Arc<dyn Source> {
    let mut args = json!({"urlpath": e["path"], "csv_kwargs": e["csv_kwargs"]});
    if let Some(p) = e.get("path_as_pattern") {
        args["path_as_pattern"] = p.clone();
    }
    open(args).await.expect("open")
}

async fn batches(
    source: &Arc<dyn Source>,
    request: ReadRequest,
) -> Result<Vec<RecordBatch>, DriverError> {
    source.read(request).await?.try_collect().await
}

async fn read_all(source: &Arc<dyn Source>, request: ReadRequest) -> RecordBatch {
    let schema = source.discover().await.expect("discover").schema.clone();
    let got = batches(source, request).await.expect("read");
    let schema = got.first().map(|b| b.schema()).unwrap_or(schema);
    arrow_select::concat::concat_batches(&schema, &got).expect("concat")
}

fn expected(e: &J) -> RecordBatch {
    let path = fixtures().join(e["expected"].as_str().expect("expected path"));
    let file = std::fs::File::open(&path).expect("expected file");
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).expect("ipc");
    let schema = reader.schema();
    let all: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("ipc batches");
    arrow_select::concat::concat_batches(&schema, &all).expect("concat")
}

/// Same column names, types and values; dictionary columns are compared as their values.
fn assert_same(name: &str, got: &RecordBatch, want: &RecordBatch) {
    let names = |b: &RecordBatch| -> Vec<String> {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    assert_eq!(names(got), names(want), "{name}: column names");
    assert_eq!(got.num_rows(), want.num_rows(), "{name}: rows");
    for (i, field) in want.schema().fields().iter().enumerate() {
        let mut col = got.column(i).clone();
        if let (DataType::Dictionary(_, v), t) = (col.data_type().clone(), field.data_type()) {
            if v.as_ref() == t {
                col = arrow_cast::cast(&col, t).expect("cast dictionary");
            }
        }
        assert_eq!(
            col.data_type(),
            field.data_type(),
            "{name}.{}: type",
            field.name()
        );
        let w = want.column(i);
        if col.as_ref() != w.as_ref() {
            let first = (0..w.len())
                .find(|r| col.slice(*r, 1).as_ref() != w.slice(*r, 1).as_ref())
                .unwrap_or(0);
            panic!(
                "{name}.{}: values differ, first at row {first}: got {:?}, want {:?}",
                field.name(),
                col.slice(first, 1),
                w.slice(first, 1)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_reads_like_pyarrow() {
    let m = manifest();
    let names = [
        "quoted",
        "semicolon",
        "comments",
        "na",
        "plain",
        "gzip",
        "zstd",
        "bz2",
        "xz",
        "skiprows",
        "noheader",
        "dates",
        "big",
        "pattern",
    ];
    for name in names {
        let e = &m["csv"][name];
        assert!(e.is_object(), "manifest has no csv fixture `{name}`");
        let source = open_entry(e).await;
        let got = read_all(&source, ReadRequest::default()).await;
        assert_same(name, &got, &expected(e));
        assert_eq!(
            got.num_rows() as u64,
            e["rows"].as_u64().expect("rows"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn compression_is_inferred_from_the_extension() {
    let plain = expected(&entry("plain"));
    for file in ["gzip.csv.gz", "zstd.csv.zst", "bz2.csv.bz2", "xz.csv.xz"] {
        let mut kwargs = entry("plain")["csv_kwargs"].clone();
        kwargs["compression"] = json!("infer");
        let source = open(json!({"urlpath": format!("csv/{file}"), "csv_kwargs": kwargs}))
            .await
            .expect("open");
        let got = read_all(&source, ReadRequest::default()).await;
        assert_same(file, &got, &plain);
    }
}

#[tokio::test]
async fn inference_without_dtype_finds_the_types() {
    let source = open(json!({"urlpath": "csv/plain.csv"}))
        .await
        .expect("open");
    let d = source.discover().await.expect("discover");
    let types: Vec<(&str, &DataType)> = d
        .schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", &DataType::Int64),
            ("name", &DataType::Utf8),
            ("score", &DataType::Float64),
            ("active", &DataType::Boolean)
        ]
    );
    assert_eq!(d.partitions.len(), 1);
    assert_eq!(d.partitions[0].label, "plain.csv");
    assert_eq!(d.partitions[0].estimated_rows, None);
    assert_eq!(d.total_rows, None);
    assert!(d.partitions[0].estimated_bytes.is_some_and(|b| b > 0));
}

#[tokio::test]
async fn projection_and_usecols_keep_the_right_columns() {
    let e = entry("plain");
    let want = expected(&e);
    let source = open_entry(&e).await;
    let request = ReadRequest {
        projection: Some(vec!["score".into(), "id".into()]),
        ..Default::default()
    };
    let got = read_all(&source, request).await;
    let want_proj = want.project(&[2, 0]).expect("project");
    assert_same("plain[score,id]", &got, &want_proj);

    let mut kwargs = e["csv_kwargs"].clone();
    kwargs["usecols"] = json!(["name", 0]);
    let source = open(json!({"urlpath": e["path"], "csv_kwargs": kwargs}))
        .await
        .expect("open");
    let got = read_all(&source, ReadRequest::default()).await;
    assert_same(
        "plain usecols",
        &got,
        &want.project(&[0, 1]).expect("project"),
    );
    let err = source
        .read(ReadRequest {
            projection: Some(vec!["score".into()]),
            ..Default::default()
        })
        .await
        .err();
    assert!(
        matches!(&err, Some(DriverError::BadRequest { field, .. }) if field == "columns"),
        "{err:?}"
    );
}

#[tokio::test]
async fn limit_stops_at_the_exact_row_count() {
    let source = open_entry(&entry("big")).await;
    for (limit, batch_size) in [(0, 100), (1, 64 * 1024), (2_500, 1_000), (123_457, 50_000)] {
        let got = batches(
            &source,
            ReadRequest {
                limit: Some(limit),
                batch_size,
                ..Default::default()
            },
        )
        .await
        .expect("read");
        let rows: usize = got.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, limit, "limit {limit}");
        assert!(got.iter().all(|b| b.num_rows() <= batch_size));
    }
}

#[tokio::test]
async fn big_file_streams_in_bounded_batches() {
    let source = open_entry(&entry("big")).await;
    let mut stream = source
        .read(ReadRequest {
            batch_size: 1_000,
            ..Default::default()
        })
        .await
        .expect("read");
    let (mut batches, mut rows) = (0, 0);
    while let Some(b) = stream.try_next().await.expect("batch") {
        assert!(
            b.num_rows() <= 1_000 && b.num_rows() > 0,
            "{}",
            b.num_rows()
        );
        batches += 1;
        rows += b.num_rows();
    }
    assert_eq!(rows, 200_000);
    assert!(batches >= 200, "{batches} batches");
}

#[tokio::test]
async fn pattern_fields_become_dictionary_columns_per_partition() {
    let e = entry("pattern");
    let source = open_entry(&e).await;
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["eu/2020.csv", "eu/2021.csv", "us/2020.csv"]);
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    assert_eq!(
        d.schema
            .field_with_name("region")
            .expect("region")
            .data_type(),
        &dict
    );
    assert_eq!(
        d.schema.field_with_name("year").expect("year").data_type(),
        &dict
    );

    let got = read_all(
        &source,
        ReadRequest {
            partitions: Some(vec![1]),
            ..Default::default()
        },
    )
    .await;
    let want = expected(&e);
    // Partition 1 is eu/2021.csv: rows 9..18 of the expected concatenation.
    assert_same("pattern#1", &got, &want.slice(9, 9));

    // Pattern columns can be projected alone, or before CSV columns.
    let got = read_all(
        &source,
        ReadRequest {
            projection: Some(vec!["year".into(), "city".into()]),
            partitions: Some(vec![2]),
            ..Default::default()
        },
    )
    .await;
    assert_same(
        "pattern[year,city]#2",
        &got,
        &want.slice(18, 6).project(&[4, 0]).expect("p"),
    );

    let off = open(json!({"urlpath": "csv/pattern/eu/2020.csv", "path_as_pattern": false}))
        .await
        .expect("open");
    assert_eq!(
        off.discover()
            .await
            .expect("discover")
            .schema
            .fields()
            .len(),
        3
    );
    let explicit = open(json!({
        "urlpath": "csv/pattern/*/2020.csv",
        "path_as_pattern": "csv/pattern/{region}/{}.csv",
    }))
    .await
    .expect("open");
    let d = explicit.discover().await.expect("discover");
    assert_eq!(d.partitions.len(), 2);
    assert_eq!(d.schema.fields().len(), 4, "{:?}", d.schema);
}

#[tokio::test]
async fn too_many_fields_ends_the_stream_with_corrupt() {
    let e = entry("too_many_fields");
    let source = open_entry(&e).await;
    let err = batches(&source, ReadRequest::default())
        .await
        .expect_err("must fail");
    match err {
        DriverError::Corrupt { location, message } => {
            assert!(location.ends_with("csv/too_many_fields.csv"), "{location}");
            assert!(message.contains("line 5"), "{message}");
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[tokio::test]
async fn bad_values_and_args_are_typed_errors() {
    let regex_sep = open(json!({"urlpath": "csv/plain.csv", "csv_kwargs": {"sep": "\\s+"}}))
        .await
        .err();
    assert!(
        matches!(&regex_sep, Some(DriverError::Unsupported(m)) if m.contains("\\s+")),
        "{regex_sep:?}"
    );
    let bad_sep = open(json!({"urlpath": "csv/plain.csv", "csv_kwargs": {"sep": 4}}))
        .await
        .err();
    assert!(
        matches!(&bad_sep, Some(DriverError::BadArg { arg, .. }) if arg == "csv_kwargs.sep"),
        "{bad_sep:?}"
    );
    let missing = open(json!({"urlpath": "csv/nope.csv"})).await.err();
    assert!(
        matches!(missing, Some(DriverError::NotFound(_))),
        "{missing:?}"
    );
    let no_url = open(json!({"csv_kwargs": {}})).await.err();
    assert!(
        matches!(no_url, Some(DriverError::BadArg { .. })),
        "{no_url:?}"
    );

    // A value the declared type cannot hold: Corrupt, naming the file and how to fix it.
    let source =
        open(json!({"urlpath": "csv/plain.csv", "csv_kwargs": {"dtype": {"name": "int64"}}}))
            .await
            .expect("open");
    let err = batches(&source, ReadRequest::default())
        .await
        .expect_err("parse");
    assert!(
        matches!(&err, DriverError::Corrupt { location, message }
            if location.ends_with("plain.csv") && message.contains("dtype")),
        "{err}"
    );
    let err = batches(
        &source,
        ReadRequest {
            partitions: Some(vec![3]),
            ..Default::default()
        },
    )
    .await
    .expect_err("partition");
    assert!(
        matches!(&err, DriverError::BadRequest { field, .. } if field == "partition"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_and_ineffective_args_are_warnings() {
    let source = open(json!({
        "urlpath": "csv/plain.csv",
        "blocksize": "64MB",
        "csv_kwargs": {"frobnicate": true, "engine": "c", "sep": ","},
    }))
    .await
    .expect("open");
    let w = source.discover().await.expect("discover").warnings.clone();
    for needle in ["frobnicate", "engine", "blocksize"] {
        assert!(w.iter().any(|x| x.contains(needle)), "{needle}: {w:?}");
    }
    assert_eq!(w.len(), 3, "{w:?}");
}

/// A catalog directory holding `files`.
fn temp_catalog(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

async fn open_in(dir: &tempfile::TempDir, args: J) -> Result<Arc<dyn Source>, DriverError> {
    let J::Object(map) = args else {
        panic!("args must be a mapping")
    };
    let ctx = OpenContext {
        catalog_dir: dir.path().to_path_buf(),
        ..ctx()
    };
    CsvDriver.open(&map, &ctx).await
}

async fn read_in(dir: &tempfile::TempDir, args: J) -> Result<RecordBatch, DriverError> {
    let source = open_in(dir, args).await?;
    let schema = source.discover().await?.schema.clone();
    let got = batches(&source, ReadRequest::default()).await?;
    Ok(arrow_select::concat::concat_batches(&schema, &got).expect("concat"))
}

fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    let c = b.column_by_name(col).expect("column");
    let c = arrow_cast::cast(c, &DataType::Utf8).expect("cast");
    let c = c
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .expect("strings");
    c.iter().map(|v| v.map(str::to_string)).collect()
}

#[tokio::test]
async fn dialect_details_follow_pandas() {
    let dir = temp_catalog(&[
        ("bom.csv", b"\xEF\xBB\xBFa,b\r\n1,x\r\n2\r\n\r\n3,z\r\n"),
        (
            "junk.csv",
            b"junk\nmore \"junk\nnot the header\na;b\n1;NA\n2;null\n3;-\n",
        ),
        ("rows.csv", b"a\n1\n2\n3\n4\n"),
        ("empty.csv", b""),
        ("quotes.csv", b"a|b\n1|'x|y'\n2|'it\\'s'\n"),
    ]);
    // A BOM is dropped, CRLF ends lines, blank lines are skipped, short rows are padded with nulls.
    let b = read_in(&dir, json!({"urlpath": "bom.csv"}))
        .await
        .expect("bom");
    assert_eq!(
        strings(&b, "a"),
        [Some("1".into()), Some("2".into()), Some("3".into())]
    );
    assert_eq!(strings(&b, "b"), [Some("x".into()), None, Some("z".into())]);

    // skiprows, then header=2 (two more lines above the header); keep_default_na adds pandas' list.
    let kwargs = json!({"skiprows": 1, "header": 2, "sep": ";", "na_values": "-",
                        "keep_default_na": true, "dtype": {"b": "str"}});
    let b = read_in(&dir, json!({"urlpath": "junk.csv", "csv_kwargs": kwargs}))
        .await
        .expect("junk");
    assert_eq!(strings(&b, "b"), [None, None, None]);

    let b = read_in(
        &dir,
        json!({"urlpath": "rows.csv", "csv_kwargs": {"nrows": 2}}),
    )
    .await
    .expect("nrows");
    assert_eq!(b.num_rows(), 2);

    let err = read_in(&dir, json!({"urlpath": "empty.csv"})).await.err();
    assert!(matches!(err, Some(DriverError::Corrupt { .. })), "{err:?}");
    let b = read_in(
        &dir,
        json!({"urlpath": "empty.csv", "csv_kwargs": {"names": ["a", "b"]}}),
    )
    .await
    .expect("empty with names");
    assert_eq!((b.num_rows(), b.num_columns()), (0, 2));

    let kwargs = json!({"sep": "|", "quotechar": "'", "escapechar": "\\"});
    let b = read_in(&dir, json!({"urlpath": "quotes.csv", "csv_kwargs": kwargs}))
        .await
        .expect("quotes");
    assert_eq!(strings(&b, "b"), [Some("x|y".into()), Some("it's".into())]);
}

#[tokio::test]
async fn files_that_disagree_or_are_damaged_are_errors() {
    let dir = temp_catalog(&[
        ("a.csv", b"x,y\n1,2\n"),
        ("b.csv", b"y,x\n3,4\n"),
        (
            "bad.csv.gz",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage, not deflate",
        ),
    ]);
    let source = open_in(&dir, json!({"urlpath": "*.csv"}))
        .await
        .expect("open");
    let err = batches(&source, ReadRequest::default()).await.err();
    assert!(
        matches!(&err, Some(DriverError::Incompatible(m)) if m.contains("b.csv")),
        "{err:?}"
    );
    let source = open_in(&dir, json!({"urlpath": "bad.csv.gz"}))
        .await
        .expect("open");
    let err = source.discover().await.err();
    assert!(
        matches!(&err, Some(DriverError::Corrupt { location, message })
            if location.ends_with("bad.csv.gz") && message.contains("gzip")),
        "{err:?}"
    );
}

/// pandas reads integers beyond i64 as uint64 (then float64): the values arrive, not as text.
#[tokio::test]
async fn integers_beyond_i64_read_as_uint64_and_float64() {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, UInt64Type};
    // Under the catalog directory: a local source may only read there.
    let dir = tempfile::tempdir_in(fixtures()).expect("tempdir");
    let path = dir.path().join("big.csv");
    std::fs::write(
        &path,
        "id,big,huge\n1,18446744073709551615,99999999999999999999999\n2,9223372036854775808,-9223372036854775809\n3,7,0\n",
    )
    .expect("write");
    let source = open(json!({"urlpath": path.to_str().expect("utf-8")}))
        .await
        .expect("open");
    let batch = read_all(&source, ReadRequest::default()).await;
    assert_eq!(batch.schema().field(1).data_type(), &DataType::UInt64);
    assert_eq!(
        batch
            .column(1)
            .as_primitive::<UInt64Type>()
            .values()
            .to_vec(),
        vec![u64::MAX, 9_223_372_036_854_775_808, 7]
    );
    assert_eq!(batch.schema().field(2).data_type(), &DataType::Float64);
    assert_eq!(
        batch
            .column(2)
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
        vec![1e23, -9_223_372_036_854_775_809.0, 0.0]
    );
}

/// A file truncated while it streams used to end as a clean, short table (65,550 of 1M rows):
/// the read now ends with `Changed`, and a file replaced before the read is `Changed` up front.
#[tokio::test]
async fn a_file_that_changes_under_a_read_is_an_error_not_a_short_table() {
    let dir = tempfile::tempdir_in(fixtures()).expect("tempdir");
    let path = dir.path().join("moving.csv");
    let mut text = String::from("id,name\n");
    for i in 0..400_000 {
        text.push_str(&format!("{i},row number {i}\n"));
    }
    std::fs::write(&path, &text).expect("write");
    let source = open(json!({"urlpath": path.to_str().expect("utf-8")}))
        .await
        .expect("open");
    source.discover().await.expect("discover");
    let mut stream = source
        .read(ReadRequest {
            batch_size: 1000,
            ..ReadRequest::default()
        })
        .await
        .expect("read");
    stream.next().await.expect("a first batch").expect("ok");
    // Truncated in place (same file, so the open handle sees it shrink).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(text.len() as u64 / 2))
        .expect("truncate");
    let mut rows = 1000;
    let end = loop {
        match stream.next().await {
            Some(Ok(b)) => rows += b.num_rows(),
            Some(Err(e)) => break e,
            None => panic!("the stream ended cleanly after {rows} rows of a truncated file"),
        }
    };
    assert!(
        matches!(&end, DriverError::Changed(m) if m.contains("truncated")),
        "{end}"
    );
    assert!(rows < 400_000);

    // Rewritten after discovery (another size and ETag): refused before the first batch.
    std::fs::write(&path, "id,name\n1,one\n").expect("rewrite");
    let e = batches(&source, ReadRequest::default())
        .await
        .expect_err("a replaced file");
    assert!(matches!(&e, DriverError::Changed(_)), "{e}");
}
