//! The NetCDF driver on files written by xarray (netCDF4, h5netcdf, scipy), compared value for
//! value with `xarray.open_dataset(...).to_dataframe().reset_index()` (target/fixtures, made by
//! tests/fixtures/make_netcdf_fixtures.py).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema, TimeUnit};
use futures::StreamExt;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures, RecordingStore};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use inlet_netcdf::NetcdfDriver;
use serde_json::{json, Map, Value as J};

fn netcdf_manifest() -> J {
    let path = fixtures().join("netcdf/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `$(bash scripts/pyenv.sh) tests/fixtures/make_netcdf_fixtures.py target/fixtures`", path.display())
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    NetcdfDriver.open(&object(args), &context()).await
}

fn case_args(name: &str) -> (Map<String, J>, RecordBatch) {
    let case = &netcdf_manifest()["cases"][name];
    let mut args = case["args"].as_object().cloned().unwrap_or_default();
    args.insert("urlpath".into(), case["urlpath"].clone());
    (
        args,
        expected(case["expected"].as_str().expect("expected path")),
    )
}

/// Opens a manifest case with its args.
async fn open_case(name: &str) -> (Arc<dyn Source>, RecordBatch) {
    let (args, want) = case_args(name);
    let source = open(J::Object(args)).await.expect("open");
    (source, want)
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> RecordBatch {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    collect(schema, source.read(request).await.expect("read")).await
}

/// The driver's table in xarray's pandas types: the values are the same, only types differ
/// (pandas keeps timestamps in ns, and turns masked integers into float64 with NaN).
fn like(got: &RecordBatch, want: &RecordBatch) -> RecordBatch {
    let columns = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::clone(&want.schema())), columns).expect("batch")
}

async fn check(case: &str) {
    let (source, want) = open_case(case).await;
    let got = read(&source, ReadRequest::default()).await;
    assert_same(&like(&got, &want), &want, case);
}

#[tokio::test]
async fn netcdf3_and_netcdf4_read_as_xarray_reads_them() {
    for case in ["grid_nc4", "grid_h5", "grid_nc3", "grid_nc3_64"] {
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
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            "{case}: CF time"
        );
        assert_eq!(d.schema.field(4).data_type(), &DataType::Int32, "{case}");
        assert_eq!(
            d.schema.field(5).data_type(),
            &DataType::Float64,
            "{case}: packed int16 unpacked"
        );
        assert_eq!(d.total_rows, Some(420), "{case}");
        assert_eq!(
            d.metadata["dims"],
            json!({"time": 10, "lat": 7, "lon": 6}),
            "{case}"
        );
        assert_eq!(
            d.metadata["attributes"]["title"],
            json!("Inlet NetCDF fixture")
        );
        let got = read(&source, ReadRequest::default()).await;
        assert!(
            got.column(3).null_count() > 0,
            "{case}: fill values are null"
        );
        assert_same(&like(&got, &want), &want, case);
    }
}

#[tokio::test]
async fn partitions_follow_the_leading_chunks() {
    let (source, want) = open_case("grid_nc4").await;
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["time[0:4]", "time[4:8]", "time[8:10]"]);
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
    let (source, want) = open_case("grid_nc3").await;
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
    let want = want.slice(0, 50).project(&[5, 1]).expect("project");
    assert_same(&got, &want, "two columns in request order, 50 rows");
}

#[tokio::test]
async fn sel_isel_variables_and_xarray_kwargs_match_xarray() {
    for case in [
        "grid_sel",
        "grid_isel",
        "grid_obs",
        "grid_elevation",
        "grid_raw",
        "grid_drop",
        "grid_flags_nc4",
        "grid_flags_nc3",
    ] {
        check(case).await;
    }
    let (source, _) = open_case("grid_isel").await;
    let d = source.discover().await.expect("discover");
    assert_eq!(
        d.metadata["selection"],
        json!({"time": [5, 10], "lon": [1, 3]})
    );
    // `_Unsigned` int8 (NetCDF 3) reads as uint8 like a NetCDF 4 ubyte, its fill as null.
    let (flags, _) = open_case("grid_flags_nc3").await;
    let got = read(&flags, ReadRequest::default()).await;
    assert_eq!(got.column(2).data_type(), &DataType::UInt8);
    assert_eq!(got.column(2).null_count(), 1);
    let (raw, _) = open_case("grid_raw").await;
    let d = raw.discover().await.expect("discover");
    assert_eq!(d.schema.field(0).data_type(), &DataType::Int64);
    assert_eq!(
        d.schema.field(5).data_type(),
        &DataType::Int16,
        "packed, as stored"
    );
}

#[tokio::test]
async fn a_glob_is_joined_along_time_like_open_mfdataset() {
    for case in ["parts", "parts_sel", "parts_by_coords", "parts_nested"] {
        check(case).await;
    }
    let (source, _) = open_case("parts").await;
    let d = source.discover().await.expect("discover");
    assert_eq!(d.files.len(), 3);
    assert_eq!(d.metadata["concat_dim"], json!("time"));
    assert_eq!(d.total_rows, Some(420));
    // Without concat_dim the record (unlimited) dimension is the one joined.
    let inferred = open(json!({"urlpath": "netcdf/parts/part_*.nc"}))
        .await
        .expect("open");
    let (_, want) = case_args("parts");
    let got = read(&inferred, ReadRequest::default()).await;
    assert_same(&like(&got, &want), &want, "inferred concat_dim");
}

/// Reads `case` through a store that records its GETs: (table, bytes fetched, file size).
async fn recorded(case: &str) -> (RecordBatch, RecordBatch, u64, u64) {
    let (mut args, want) = case_args(case);
    let urlpath = args.remove("urlpath").expect("urlpath");
    let ctx = context();
    let mut files = ctx
        .storage
        .resolve(&urlpath, None, &ctx.catalog_dir)
        .await
        .expect("resolve");
    let size = files.objects[0].size;
    let (store, gets) = RecordingStore::wrap(files.store.clone());
    files.store = store;
    let source = NetcdfDriver::source(files, &args, &Limits::default()).expect("source");
    let got = read(&source, ReadRequest::default()).await;
    (got, want, gets.bytes(), size)
}

#[tokio::test]
async fn a_window_reads_byte_ranges_not_the_whole_file() {
    for case in ["big_nc4_window", "big_nc3_window"] {
        let (got, want, fetched, size) = recorded(case).await;
        assert_same(&like(&got, &want), &want, case);
        // 8 of 64 time steps: an eighth of the data, plus metadata and cache blocks.
        assert!(
            fetched < size / 3,
            "{case}: fetched {fetched} bytes of a {size}-byte file"
        );
    }
}

#[tokio::test]
async fn damaged_files_are_typed_errors_naming_the_file() {
    for (name, file) in [("truncated", "truncated.nc"), ("garbage", "garbage.nc")] {
        let source = open(json!({"urlpath": format!("netcdf/{file}")}))
            .await
            .expect("open");
        let err = match source.discover().await {
            Err(e) => e,
            Ok(_) => {
                let stream = source.read(ReadRequest::default()).await;
                let mut stream = stream.expect("read");
                let mut failure = None;
                while let Some(item) = stream.next().await {
                    if let Err(e) = item {
                        failure = Some(e);
                        break;
                    }
                }
                failure.expect("a damaged file ends in an error")
            }
        };
        assert!(
            matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with(file)),
            "{name}: {err}"
        );
    }
    let missing = open(json!({"urlpath": "netcdf/nope.nc"})).await;
    assert!(
        matches!(missing, Err(DriverError::NotFound(_))),
        "{missing:?}",
        missing = missing.err()
    );
}

#[tokio::test]
async fn intake_args_are_honoured_or_reported() {
    let (_, want) = case_args("grid_nc4");
    let source = open(json!({
        "urlpath": "netcdf/grid_nc4.nc",
        "chunks": {"time": 1},
        "engine": "netcdf4",
        "xarray_kwargs": {"decode_times": true, "use_cftime": false},
    }))
    .await
    .expect("open");
    let d = source.discover().await.expect("discover");
    let warnings = d.warnings.join("\n");
    for word in ["`chunks`", "`engine`", "use_cftime"] {
        assert!(warnings.contains(word), "{word}: {warnings}");
    }
    let got = read(&source, ReadRequest::default()).await;
    assert_same(&like(&got, &want), &want, "dask args change nothing");
    for (args, arg) in [
        (
            json!({"urlpath": "netcdf/grid_nc4.nc", "sel": {"depth": [0, 1]}}),
            "sel.depth",
        ),
        (
            json!({"urlpath": "netcdf/grid_nc4.nc", "isel": {"lat": "x"}}),
            "isel.lat",
        ),
        (
            json!({"urlpath": "netcdf/grid_nc4.nc", "variables": "nope"}),
            "variables",
        ),
        (
            json!({"urlpath": "netcdf/parts/part_*.nc", "concat_dim": "depth"}),
            "concat_dim",
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
    let noleap = open(json!({"urlpath": "netcdf/noleap.nc"}))
        .await
        .expect("open");
    let err = noleap.discover().await.expect_err("calendar");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("noleap") && m.contains("decode_times")),
        "{err}"
    );
    let raw = open(json!({"urlpath": "netcdf/noleap.nc", "decode_times": false}))
        .await
        .expect("open");
    assert_eq!(read(&raw, ReadRequest::default()).await.num_rows(), 3);
}

#[tokio::test]
async fn a_file_replaced_after_discovery_is_a_changed_error() {
    let dir = std::env::temp_dir().join(format!("inlet-netcdf-changed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("grid.nc");
    std::fs::copy(fixtures().join("netcdf/big_nc4.nc"), &file).expect("copy");
    let resolver = inlet_driver::storage::StorageResolver::new([dir.clone()]);
    let files = resolver
        .resolve(&json!(file.to_string_lossy()), None, &dir)
        .await
        .expect("resolve");
    let source = NetcdfDriver::source(files, &Map::new(), &Limits::default()).expect("source");
    source.discover().await.expect("discover");
    // Another version of the file under the same name: reads must not mix the two.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::copy(fixtures().join("netcdf/big_nc3.nc"), &file).expect("replace");
    // The coordinates are read when the read starts, the data as it streams: either fails.
    let failure = match source.read(ReadRequest::default()).await {
        Err(e) => Some(e),
        Ok(mut stream) => {
            let mut failure = None;
            while let Some(item) = stream.next().await {
                if let Err(e) = item {
                    failure = Some(e);
                    break;
                }
            }
            failure
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let err = failure.expect("the read fails");
    assert!(matches!(err, DriverError::Changed(_)), "{err}");
}
