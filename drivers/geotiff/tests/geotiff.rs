//! The GeoTIFF drivers on files written by rasterio, compared value for value with
//! `rioxarray.open_rasterio(f).to_dataframe(name="value").reset_index()` (target/fixtures, made
//! by tests/fixtures/make_geotiff_fixtures.py).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type};
use arrow_array::RecordBatch;
use arrow_schema::DataType;
use futures::StreamExt;
use inlet_driver::storage::Files;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures, RecordingStore};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use inlet_geotiff::{ImageDriver, RasterioDriver};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{json, Map, Value as J};

fn geotiff_manifest() -> J {
    let path = fixtures().join("geotiff/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `$(bash scripts/pyenv.sh) tests/fixtures/make_geotiff_fixtures.py target/fixtures`", path.display())
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    RasterioDriver.open(&object(args), &context()).await
}

/// Opens a manifest case with its args, and its expected table.
async fn open_case(name: &str) -> (Arc<dyn Source>, RecordBatch) {
    let case = &geotiff_manifest()["cases"][name];
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

#[tokio::test]
async fn files_written_by_rasterio_read_as_rioxarray_reads_them() {
    for case in [
        "rgb_strips",
        "float_deflate",
        "cog",
        "int16_lzw",
        "f64_zstd",
        "be_bigtiff",
    ] {
        let (source, want) = open_case(case).await;
        let d = source.discover().await.expect("discover");
        let names: Vec<&str> = d
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["band", "y", "x", "value"], "{case}");
        assert_eq!(d.total_rows, Some(want.num_rows() as u64), "{case}");
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&got, &want, case);
    }
}

#[tokio::test]
async fn discovery_describes_layout_georeferencing_and_nodata() {
    let (cog, _) = open_case("cog").await;
    let d = cog.discover().await.expect("discover");
    let raster = &d.metadata["raster"];
    assert_eq!(raster["layout"], "tiled");
    assert_eq!(raster["block"], json!([64, 64]));
    assert_eq!(raster["compression"], "lzw");
    assert_eq!(raster["overviews"], 4, "{raster}");
    assert_eq!(raster["dtype"], "uint16");
    let geo = &d.metadata["geo"];
    assert_eq!(geo["crs"], "EPSG:32618");
    assert_eq!(
        geo["transform"],
        json!([10.0, 0.0, 600000.0, 0.0, -10.0, 4100000.0])
    );
    assert_eq!(geo["nodata"], "0");
    assert!(d.schema.field(3).is_nullable(), "nodata -> null");
    // 640x640 in 64x64 tiles: 6 tile rows (384 x 640 pixels) make the first partition.
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["cog.tif band 1 y[0:384]", "cog.tif band 1 y[384:640]"]
    );

    let (rgb, _) = open_case("rgb_strips").await;
    let d = rgb.discover().await.expect("discover");
    assert_eq!(d.metadata["raster"]["layout"], "stripped");
    assert_eq!(d.metadata["raster"]["block"], json!([8, 40]));
    assert_eq!(d.metadata["raster"]["bands"], 3);
    assert!(!d.schema.field(3).is_nullable(), "no nodata");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "rgb_strips.tif band 1 y[0:30]",
            "rgb_strips.tif band 2 y[0:30]",
            "rgb_strips.tif band 3 y[0:30]"
        ]
    );
    let (planar, _) = open_case("int16_lzw").await;
    let d = planar.discover().await.expect("discover");
    assert_eq!(d.metadata["raster"]["interleave"], "band");
    assert_eq!(d.metadata["raster"]["predictor"], 2);
    let (point, _) = open_case("f64_zstd").await;
    let d = point.discover().await.expect("discover");
    assert_eq!(d.metadata["raster"]["compression"], "zstd");
    assert_eq!(d.metadata["geo"]["crs"], "EPSG:4326");
    assert_eq!(
        d.metadata["geo"]["geokeys"]["GTRasterTypeGeoKey"], 2,
        "PixelIsPoint: the half-pixel shift matched rioxarray above"
    );
}

#[tokio::test]
async fn partitions_projection_limit_and_batches() {
    let (source, want) = open_case("float_deflate").await;
    let request = ReadRequest {
        partitions: Some(vec![1]),
        projection: Some(vec!["value".into(), "x".into()]),
        batch_size: 64,
        ..Default::default()
    };
    let stream = source.read(request.clone()).await.expect("read");
    let batches: Vec<RecordBatch> = stream.map(|b| b.expect("batch")).collect().await;
    assert!(
        batches.iter().all(|b| b.num_rows() <= 64),
        "bounded batches"
    );
    let got = read(&source, request).await;
    // Partition 1 is band 2: the second half of the table.
    let half = want.num_rows() / 2;
    let want_band2 = want.slice(half, half).project(&[3, 2]).expect("project");
    assert_same(&got, &want_band2, "band 2, value and x");
    let limited = read(
        &source,
        ReadRequest {
            limit: Some(10),
            ..Default::default()
        },
    )
    .await;
    assert_same(&limited, &want.slice(0, 10), "limit");
    let coords_only = read(
        &source,
        ReadRequest {
            projection: Some(vec!["y".into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(coords_only.num_rows(), want.num_rows());
    let bad = source
        .read(ReadRequest {
            projection: Some(vec!["nope".into()]),
            ..Default::default()
        })
        .await;
    assert!(matches!(bad, Err(DriverError::BadRequest { ref field, .. }) if field == "columns"));
}

#[tokio::test]
async fn windows_match_rioxarray_isel_and_sel() {
    for case in ["cog_window", "float_sel"] {
        let (source, want) = open_case(case).await;
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&got, &want, case);
    }
    let bad = open(json!({"urlpath": "geotiff/cog.tif", "isel": {"time": 1}})).await;
    assert!(
        matches!(&bad, Err(DriverError::BadArg { arg, .. }) if arg == "isel.time"),
        "{:?}",
        bad.err()
    );
}

#[tokio::test]
async fn a_cog_window_fetches_only_its_tiles() {
    let inner: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let path = Path::from_absolute_path(
        fixtures()
            .join("geotiff/cog.tif")
            .canonicalize()
            .expect("path"),
    )
    .expect("path");
    let meta = inner.head(&path).await.expect("head");
    let size = meta.size;
    let (store, gets) = RecordingStore::wrap(inner);
    let args = object(json!({"isel": {"y": [70, 135], "x": [130, 200]}}));
    let source =
        RasterioDriver::source(Files::new(store, "", vec![meta]), &args, &Limits::default())
            .expect("source");
    let got = read(&source, ReadRequest::default()).await;
    let want = expected(
        geotiff_manifest()["cases"]["cog_window"]["expected"]
            .as_str()
            .expect("path"),
    );
    assert_same(&got, &want, "window over the recording store");
    // Rows 70..135 are tile rows 1 and 2, columns 130..200 tile columns 2 and 3: 4 of the 100
    // full-resolution tiles (~10 KiB each), in 2 GETs (a row's two tiles are adjacent), after
    // one 16 KiB header read; of a 1.3 MB file.
    let fetched = gets.bytes();
    eprintln!(
        "COG window: {fetched} of {size} bytes in {} GETs",
        gets.paths().len()
    );
    assert_eq!(gets.paths().len(), 3, "{:?}", gets.paths());
    assert!(fetched * 20 < size, "fetched {fetched} of {size} bytes");
}

#[tokio::test]
async fn path_patterns_and_lists_concatenate_along_concat_dim() {
    for case in ["bands_pattern", "bands_list"] {
        let (source, want) = open_case(case).await;
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&got, &want, case);
    }
    let (source, _) = open_case("bands_list").await;
    let d = source.discover().await.expect("discover");
    assert_eq!(d.schema.field(0).name(), "file");
    assert_eq!(d.metadata["files"], 2);
    // A glob is concatenated (intake-xarray's `_open_files`) even when one file matches.
    let glob = open(json!({"urlpath": "geotiff/rgb_str*.tif"}))
        .await
        .expect("open");
    let d = glob.discover().await.expect("discover");
    assert_eq!(d.schema.field(0).name(), "concat_dim");
    assert_eq!(d.schema.field(1).name(), "band");
    // Files on different grids cannot be one array.
    let mixed = open(json!({
        "urlpath": ["geotiff/cog.tif", "geotiff/rgb_strips.tif"],
        "concat_dim": "file"
    }))
    .await
    .expect("open");
    let err = mixed.discover().await.expect_err("different grids");
    assert!(matches!(err, DriverError::Incompatible(_)), "{err}");
}

#[tokio::test]
async fn nodata_is_null_unless_masked_is_false() {
    let (masked, want) = open_case("float_deflate").await;
    let got = read(&masked, ReadRequest::default()).await;
    assert!(got.column(3).null_count() > 0);
    assert_eq!(got.column(3).null_count(), want.column(3).null_count());
    let raw = open(json!({
        "urlpath": "geotiff/float_deflate.tif",
        "xarray_kwargs": {"masked": false}
    }))
    .await
    .expect("open");
    let d = raw.discover().await.expect("discover");
    assert!(!d.schema.field(3).is_nullable());
    let got = read(&raw, ReadRequest::default()).await;
    assert_eq!(got.column(3).null_count(), 0);
    let values = got
        .column(3)
        .as_primitive::<arrow_array::types::Float32Type>();
    assert!(values.iter().any(|v| v == Some(-9999.0)));
}

#[tokio::test]
async fn xarray_image_serves_a_tiff_as_y_x_channel() {
    let source = ImageDriver
        .open(
            &object(json!({"urlpath": "geotiff/rgb_strips.tif"})),
            &context(),
        )
        .await
        .expect("open");
    let got = read(&source, ReadRequest::default()).await;
    let names: Vec<String> = got
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["y", "x", "channel", "value"]);
    assert_eq!(got.column(0).data_type(), &DataType::Int64);
    // The same pixels as rioxarray's (band, y, x) table, channel fastest.
    let bands = expected("expected/geotiff/rgb_strips.arrow");
    let by_band = bands.column(3).as_primitive::<UInt8Type>();
    let (w, h) = (40usize, 30usize);
    let ys = got.column(0).as_primitive::<Int64Type>();
    let xs = got.column(1).as_primitive::<Int64Type>();
    let cs = got.column(2).as_primitive::<Int64Type>();
    let vs = got.column(3).as_primitive::<UInt8Type>();
    let window = ImageDriver
        .open(
            &object(json!({"urlpath": "geotiff/rgb_strips.tif", "isel": {"band": 0}})),
            &context(),
        )
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("no band dimension");
    assert!(
        matches!(&window, DriverError::BadArg { arg, .. } if arg == "isel.band"),
        "{window}"
    );
    assert_eq!(got.num_rows(), w * h * 3);
    for i in 0..got.num_rows() {
        let (y, x, c) = (
            ys.value(i) as usize,
            xs.value(i) as usize,
            cs.value(i) as usize,
        );
        assert_eq!(i, (y * w + x) * 3 + c, "row order");
        assert_eq!(
            vs.value(i),
            by_band.value((c * h + y) * w + x),
            "pixel {y},{x},{c}"
        );
    }
}

#[tokio::test]
async fn what_is_not_a_readable_tiff_says_so() {
    let png = ImageDriver
        .open(
            &object(json!({"urlpath": "geotiff/not_tiff.png"})),
            &context(),
        )
        .await
        .expect("open");
    let err = png.discover().await.expect_err("a PNG");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("not_tiff.png") && m.contains("PNG")),
        "{err}"
    );
    let corrupt = open(json!({"urlpath": "geotiff/corrupt.tif"}))
        .await
        .expect("open");
    corrupt.discover().await.expect("the header is intact");
    let mut stream = corrupt.read(ReadRequest::default()).await.expect("read");
    let mut error = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            error = Some(e);
            break;
        }
    }
    let err = error.expect("the stream ends in an error");
    assert!(
        matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with("corrupt.tif (tile 1)")),
        "{err}"
    );
    let truncated = open(json!({"urlpath": "geotiff/truncated.tif"}))
        .await
        .expect("open");
    let err = truncated.discover().await.expect_err("cut short");
    assert!(
        matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with("truncated.tif (header)")),
        "{err}"
    );
    let missing = open(json!({"urlpath": "geotiff/nope.tif"})).await;
    assert!(matches!(missing, Err(DriverError::NotFound(_))));
}
