//! The Zarr drivers on stores written by xarray/zarr-python, compared value for value with
//! `xarray.open_zarr(...).to_dataframe().reset_index()` (target/fixtures, made by
//! tests/fixtures/make_zarr_fixtures.py).

use std::sync::Arc;

use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use futures::StreamExt;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures, RecordingStore};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use inlet_zarr::{locate, NdZarrDriver, ZarrDriver};
use serde_json::{json, Map, Value as J};

fn zarr_manifest() -> J {
    let path = fixtures().join("zarr/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `$(bash scripts/pyenv.sh) tests/fixtures/make_zarr_fixtures.py target/fixtures`", path.display())
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    ZarrDriver.open(&object(args), &context()).await
}

/// Opens a manifest case with its args.
async fn open_case(name: &str) -> (Arc<dyn Source>, RecordBatch) {
    let case = &zarr_manifest()["cases"][name];
    let mut args = case["args"].as_object().cloned().unwrap_or_default();
    args.insert("urlpath".into(), case["urlpath"].clone());
    let source = open(J::Object(args)).await.expect("open");
    let want = expected(case["expected"].as_str().expect("expected path"));
    (source, want)
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> RecordBatch {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    collect(schema, source.read(request).await.expect("read")).await
}

/// The driver's table in xarray's pandas types. The values are the same; only types differ:
/// pandas keeps timestamps in ns (the driver uses µs, which spans every CF calendar year), and
/// xarray turns an integer variable with a _FillValue into float64 with NaN (the driver keeps
/// the integers and makes the missing ones null; pyarrow's from_pandas makes NaN null too).
fn like(got: &RecordBatch, want: &RecordBatch) -> RecordBatch {
    let columns = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::clone(&want.schema())), columns).expect("batch")
}

#[tokio::test]
async fn v2_and_v3_stores_read_as_xarray_reads_them() {
    for case in ["grid_v2", "grid_v3", "grid_v3c"] {
        let (source, want) = open_case(case).await;
        let d = source.discover().await.expect("discover");
        let names: Vec<&str> = d
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            ["time", "lat", "lon", "air", "count", "precip"],
            "{case}"
        );
        assert_eq!(
            d.schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(
            d.schema.field(4).data_type(),
            &DataType::Int32,
            "{case}: masked ints stay ints"
        );
        assert_eq!(d.total_rows, Some(420));
        assert_eq!(d.metadata["dims"], json!({"time": 10, "lat": 7, "lon": 6}));
        let others = d.metadata["other_variables"].to_string();
        assert!(
            others.contains("obs") && others.contains("elevation"),
            "{case}: {others}"
        );
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&like(&got, &want), &want, case);
    }
}

#[tokio::test]
async fn partitions_follow_uneven_leading_chunks() {
    let (source, want) = open_case("grid_v2").await;
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["time[0:4]", "time[4:8]", "time[8:10]"],
        "chunks of 4 over 10 steps"
    );
    let rows: Vec<u64> = d
        .partitions
        .iter()
        .filter_map(|p| p.estimated_rows)
        .collect();
    assert_eq!(rows, [168, 168, 84]);
    let request = ReadRequest {
        partitions: Some(vec![2, 0]),
        batch_size: 25,
        ..Default::default()
    };
    let got = read(&source, request).await;
    let parts = [want.slice(336, 84), want.slice(0, 168)];
    let want = arrow_select::concat::concat_batches(&want.schema(), &parts).expect("concat");
    assert_same(&like(&got, &want), &want, "partitions 2 then 0");
}

#[tokio::test]
async fn projection_limit_and_batches() {
    let (source, want) = open_case("grid_v3").await;
    let request = ReadRequest {
        projection: Some(vec!["precip".into(), "lat".into()]),
        limit: Some(50),
        batch_size: 7,
        ..Default::default()
    };
    let stream = source.read(request.clone()).await.expect("read");
    let batches: Vec<RecordBatch> = stream.map(|b| b.expect("batch")).collect().await;
    assert!(batches.iter().all(|b| b.num_rows() <= 7), "bounded batches");
    let got = read(&source, request).await;
    let want = want.slice(0, 50);
    let want = want.project(&[5, 1]).expect("project");
    assert_same(&got, &want, "two columns in request order, 50 rows");
    // Only dimension columns: no variable chunk is needed.
    let dims_only = ReadRequest {
        projection: Some(vec!["lon".into()]),
        ..Default::default()
    };
    assert_eq!(read(&source, dims_only).await.num_rows(), 420);
    let bad = source
        .read(ReadRequest {
            projection: Some(vec!["nope".into()]),
            ..Default::default()
        })
        .await;
    assert!(matches!(bad, Err(DriverError::BadRequest { ref field, .. }) if field == "columns"));
}

#[tokio::test]
async fn sel_and_isel_match_xarray() {
    for case in ["grid_sel", "grid_isel"] {
        let (source, want) = open_case(case).await;
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&like(&got, &want), &want, case);
    }
    let (source, _) = open_case("grid_isel").await;
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["time[5:8]", "time[8:10]"],
        "partitions cover only the selection"
    );
    assert_eq!(
        d.metadata["selection"],
        json!({"time": [5, 10], "lon": [1, 3]})
    );
}

#[tokio::test]
async fn selection_reads_only_the_chunks_it_needs() {
    let mut loc = locate(&context(), &json!("zarr/grid_v3.zarr"), None, None)
        .await
        .expect("locate");
    let (store, gets) = RecordingStore::wrap(loc.store.clone());
    loc.store = store;
    let args = object(json!({"isel": {"time": [5, 10], "lon": [1, 3]}}));
    let source = ZarrDriver::source(loc, &args, &Limits::default()).expect("source");
    let got = read(
        &source,
        ReadRequest {
            projection: Some(vec!["air".into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(got.num_rows(), 5 * 7 * 2);
    let air: Vec<String> = gets
        .paths()
        .into_iter()
        .filter(|p| p.contains("/air/c/"))
        .collect();
    // time 5..10 is in time chunks 1 and 2, lon 1..3 in lon chunk 0, all 3 lat chunks: 6 of 18.
    assert_eq!(air.len(), 6, "{air:?}");
    assert!(
        air.iter()
            .all(|p| p.ends_with("/0") && !p.contains("/c/0/")),
        "{air:?}"
    );
    assert!(
        !gets.paths().iter().any(|p| p.contains("/precip/c/")),
        "projection"
    );
}

#[tokio::test]
async fn the_variables_arg_picks_another_set() {
    for case in ["grid_obs", "grid_elevation"] {
        let (source, want) = open_case(case).await;
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&like(&got, &want), &want, case);
    }
    let mixed = open(json!({"urlpath": "zarr/grid_v2.zarr", "variables": ["air", "obs"]})).await;
    let err = mixed
        .expect("open")
        .discover()
        .await
        .expect_err("mixed dims");
    assert!(
        matches!(&err, DriverError::BadArg { arg, message } if arg == "variables" && message.contains("same dimensions")),
        "{err}"
    );
    let unknown = open(json!({"urlpath": "zarr/grid_v2.zarr", "variables": "nope"})).await;
    let err = unknown
        .expect("open")
        .discover()
        .await
        .expect_err("unknown");
    assert!(
        matches!(&err, DriverError::BadArg { message, .. } if message.contains("air")),
        "{err}"
    );
}

#[tokio::test]
async fn ndzarr_serves_a_bare_array() {
    for (case, dims) in [("bare_v2", ["dim_0", "dim_1"]), ("bare_v3", ["row", "col"])] {
        let c = &zarr_manifest()["cases"][case];
        let source = NdZarrDriver
            .open(&object(json!({"urlpath": c["urlpath"]})), &context())
            .await
            .expect("open");
        let d = source.discover().await.expect("discover");
        assert_eq!(d.schema.field(0).name(), dims[0]);
        assert_eq!(d.partitions.len(), 3, "{case}: rows chunked by 4 over 9");
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&got, &expected(c["expected"].as_str().expect("path")), case);
    }
    // An array of a group, named by `component`: raw values, no CF decoding.
    let args = object(json!({"urlpath": "zarr/grid_v2.zarr", "component": "precip"}));
    let source = NdZarrDriver.open(&args, &context()).await.expect("open");
    let got = read(&source, ReadRequest::default()).await;
    let names: Vec<String> = got
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["time", "lat", "lon", "value"]);
    assert_eq!(got.column(3).data_type(), &DataType::Int16);
    assert_eq!(got.column(3).null_count(), 0, "fill values stay values");
    let group = NdZarrDriver
        .open(&object(json!({"urlpath": "zarr/grid_v2.zarr"})), &context())
        .await;
    let err = group.expect("open").discover().await.expect_err("a group");
    assert!(
        matches!(&err, DriverError::BadArg { message, .. } if message.contains("component")),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_chunk_reads_as_the_fill_value() {
    for case in ["missing_chunk_v2", "missing_chunk_v3"] {
        let (source, want) = open_case(case).await;
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&like(&got, &want), &want, case);
    }
}

#[tokio::test]
async fn a_corrupt_chunk_is_an_error_naming_its_key() {
    let source = open(json!({"urlpath": "zarr/corrupt_chunk.zarr"}))
        .await
        .expect("open");
    source.discover().await.expect("metadata is fine");
    let mut stream = source.read(ReadRequest::default()).await.expect("read");
    let mut error = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            error = Some(e);
            break;
        }
    }
    let err = error.expect("the stream ends in an error");
    assert!(
        matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with("corrupt_chunk.zarr/air/1.0.0")),
        "{err}"
    );
    // Partition 0 does not touch the damaged chunk.
    let ok = source
        .read(ReadRequest {
            partitions: Some(vec![0]),
            ..Default::default()
        })
        .await;
    let batches: Vec<_> = ok.expect("read").collect().await;
    assert!(batches.iter().all(Result::is_ok));
}

#[tokio::test]
async fn missing_metadata_is_a_typed_error() {
    let source = open(json!({"urlpath": "zarr/missing_zarray.zarr"}))
        .await
        .expect("open");
    let err = source.discover().await.expect_err("missing .zarray");
    assert!(
        matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with("missing_zarray.zarr/air/.zarray")),
        "{err}"
    );
    let bare = NdZarrDriver
        .open(
            &object(json!({"urlpath": "zarr/missing_zarray.zarr/air"})),
            &context(),
        )
        .await;
    assert!(
        matches!(bare, Err(DriverError::NotFound(_))),
        "no .zarray: not an array"
    );
    let nothing = open(json!({"urlpath": "zarr/nope.zarr"})).await;
    assert!(matches!(nothing, Err(DriverError::NotFound(_))));
}

#[tokio::test]
async fn intake_args_are_honoured_or_reported() {
    let (_, want) = open_case("grid_v2").await;
    // `consolidated: false` lists the store instead of reading .zmetadata: same table.
    let listed =
        open(json!({"urlpath": "zarr/grid_v2.zarr", "consolidated": false, "chunks": {"time": 2}}))
            .await
            .expect("open");
    let d = listed.discover().await.expect("discover");
    assert_eq!(d.metadata["consolidated"], json!(false));
    assert!(
        d.warnings.iter().any(|w| w.contains("`chunks`")),
        "{:?}",
        d.warnings
    );
    assert_same(
        &like(&read(&listed, ReadRequest::default()).await, &want),
        &want,
        "listed",
    );
    let required = open(json!({"urlpath": "zarr/grid_v3.zarr", "consolidated": true})).await;
    let err = required
        .expect("open")
        .discover()
        .await
        .expect_err("not consolidated");
    assert!(matches!(err, DriverError::NotFound(_)), "{err}");
    let raw_times = open(json!({"urlpath": "zarr/grid_v2.zarr", "decode_times": false}))
        .await
        .expect("open");
    let d = raw_times.discover().await.expect("discover");
    assert_eq!(d.schema.field(0).data_type(), &DataType::Int64);
    for (args, arg) in [
        (
            json!({"urlpath": "zarr/grid_v2.zarr", "sel": {"depth": [0, 1]}}),
            "sel.depth",
        ),
        (
            json!({"urlpath": "zarr/grid_v2.zarr", "sel": {"time": [1, 2]}}),
            "sel.time",
        ),
        (
            json!({"urlpath": "zarr/grid_v2.zarr", "isel": {"lat": "x"}}),
            "isel.lat",
        ),
    ] {
        let r = match open(args).await {
            Ok(s) => s.discover().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(
            matches!(&r, Err(DriverError::BadArg { arg: a, .. }) if a == arg),
            "{arg}: {r:?}"
        );
    }
}

#[tokio::test]
async fn what_is_not_supported_says_so() {
    let lz4 = NdZarrDriver
        .open(&object(json!({"urlpath": "zarr/lz4_v2.zarr"})), &context())
        .await
        .expect("open");
    let err = lz4.discover().await.expect_err("standalone lz4");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("lz4")),
        "{err}"
    );
    let noleap = open(json!({"urlpath": "zarr/noleap.zarr"}))
        .await
        .expect("open");
    let err = noleap.discover().await.expect_err("calendar");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("noleap") && m.contains("decode_times")),
        "{err}"
    );
    let raw = open(json!({"urlpath": "zarr/noleap.zarr", "decode_times": false}))
        .await
        .expect("open");
    assert_eq!(read(&raw, ReadRequest::default()).await.num_rows(), 3);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Each chunk is its own object, so a store rewritten while it is read could mix versions:
/// chunks are read `If-Unmodified-Since` the store was opened, and a rewritten one ends the
/// read as `Changed` (the service then opens the store again for the next request).
#[tokio::test]
async fn a_chunk_rewritten_after_open_is_a_changed_store_not_a_mixed_read() {
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(
        &fixtures().join("zarr/grid_v2.zarr"),
        &dir.path().join("grid.zarr"),
    );
    let ctx = inlet_driver::OpenContext {
        catalog_dir: dir.path().to_path_buf(),
        ..context()
    };
    let args = object(json!({"urlpath": "grid.zarr"}));
    let source = ZarrDriver.open(&args, &ctx).await.expect("open");
    let d = source.discover().await.expect("discover");
    let whole = d.total_rows;
    let request = ReadRequest::default();
    let schema = d.projected_schema(&request).expect("schema");
    let before = collect(
        schema.clone(),
        source.read(request.clone()).await.expect("read"),
    )
    .await;
    assert_eq!(Some(before.num_rows() as u64), whole);

    // Rewrite one chunk with the same bytes: only its modification time changes.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let chunk = dir.path().join("grid.zarr/air/0.0.0");
    let bytes = std::fs::read(&chunk).expect("chunk");
    std::fs::write(&chunk, bytes).expect("rewrite");

    let mut stream = source.read(request.clone()).await.expect("read");
    let mut error = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            error = Some(e);
            break;
        }
    }
    let err = error.expect("a rewritten chunk ends the read");
    assert!(
        matches!(&err, DriverError::Changed(m) if m.contains("air/0.0.0")),
        "{err}"
    );

    // Opened again, the store reads whole.
    let again = ZarrDriver.open(&args, &ctx).await.expect("open");
    let after = collect(schema, again.read(request).await.expect("read")).await;
    assert_eq!(after, before);
}
