//! The JSON and text drivers on files written by pandas / Python, compared value for value with
//! what Python reads from them (target/fixtures, made by tests/fixtures/make_json_fixtures.py;
//! the GeoJSON case uses tests/fixtures/make_geo_fixtures.py's places.geojson and geopandas'
//! reading of it).

use std::sync::Arc;

use arrow_array::RecordBatch;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures};
use inlet_driver::{Discovery, Driver, DriverError, ReadRequest, Source};
use inlet_json::{JsonDriver, JsonLinesDriver, TextFilesDriver};
use serde_json::{json, Map, Value as J};

async fn open(driver: &dyn Driver, args: J) -> Result<Arc<dyn Source>, DriverError> {
    let args: Map<String, J> = serde_json::from_value(args).expect("object");
    driver.open(&args, &context()).await
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> (Arc<Discovery>, RecordBatch) {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    (
        d,
        collect(schema, source.read(request).await.expect("read")).await,
    )
}

async fn read_error(source: &Arc<dyn Source>) -> DriverError {
    use futures::TryStreamExt;
    match source.discover().await {
        Err(e) => e,
        Ok(_) => {
            let stream = source
                .read(ReadRequest::default())
                .await
                .expect("read opens");
            stream
                .try_collect::<Vec<_>>()
                .await
                .expect_err("the read fails")
        }
    }
}

fn small_batches() -> ReadRequest {
    ReadRequest {
        batch_size: 300,
        ..ReadRequest::default()
    }
}

/// Without field metadata (the expected tables have none).
fn plain(b: &RecordBatch) -> RecordBatch {
    let fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_metadata(std::collections::HashMap::new())
        })
        .collect();
    RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(fields)),
        b.columns().to_vec(),
    )
    .expect("batch")
}

#[tokio::test]
async fn json_documents_read_as_python_loads_them() {
    fixtures();
    for (path, want) in [
        ("json/records.json", "expected/json/records.arrow"),
        ("json/one.json", "expected/json/one.arrow"),
        // NDJSON under a .json name is read as a document of concatenated values.
        ("json/events_lines.json", "expected/json/events.arrow"),
    ] {
        let source = open(
            &JsonDriver,
            json!({"urlpath": path, "compression": "infer"}),
        )
        .await
        .expect("open");
        let (d, got) = read(&source, small_batches()).await;
        assert_same(&got, &expected(want), path);
        assert_eq!(d.total_rows, Some(got.num_rows() as u64), "{path}");
    }
}

#[tokio::test]
async fn ndjson_streams_as_pyarrow_reads_it() {
    let want = expected("expected/json/events.arrow");
    for args in [
        json!({"urlpath": "json/events.jsonl"}),
        json!({"urlpath": "json/events.jsonl.gz", "compression": "infer"}),
        json!({"urlpath": "json/events.jsonl.gz", "compression": "gzip"}),
        json!({"urlpath": "json/events_lines.json", "lines": true}),
        json!({"urlpath": "json/parts/part-*.ndjson"}),
    ] {
        let source = open(&JsonDriver, args.clone()).await.expect("open");
        let (d, got) = read(&source, small_batches()).await;
        assert_same(&got, &want, &args.to_string());
        assert_eq!(d.metadata["format"], "ndjson", "{args}");
    }
    let source = open(
        &JsonLinesDriver,
        json!({"urlpath": "json/parts/part-*.ndjson"}),
    )
    .await
    .expect("open");
    let (d, _) = read(&source, small_batches()).await;
    assert_eq!(d.partitions.len(), 3, "a partition per file");
    // Projection and limit push into the decoder and stop reading early.
    let request = ReadRequest {
        projection: Some(vec!["value".into(), "event".into()]),
        limit: Some(1234),
        batch_size: 500,
        ..ReadRequest::default()
    };
    let stream = source.read(request.clone()).await.expect("read");
    let got = collect(d.projected_schema(&request).expect("schema"), stream).await;
    let want = want.project(&[2, 0]).expect("project").slice(0, 1234);
    assert_same(&got, &want, "projected and limited");
}

#[tokio::test]
async fn a_geojson_under_json_reads_as_geojson() {
    let source = open(&JsonDriver, json!({"urlpath": "geo/places.geojson"}))
        .await
        .expect("open");
    let (d, got) = read(&source, ReadRequest::default()).await;
    assert_same(
        &plain(&got),
        &expected("expected/geo/places.arrow"),
        "places.geojson",
    );
    let field = d.schema.field_with_name("geometry").expect("geometry");
    assert_eq!(field.metadata()["ARROW:extension:name"], "geoarrow.wkb");
    assert_eq!(d.metadata["crs"], "OGC:CRS84");
}

#[tokio::test]
async fn textfiles_yield_lines_with_their_file() {
    let source = open(&TextFilesDriver, json!({"urlpath": "text/*.txt"}))
        .await
        .expect("open");
    let (d, got) = read(
        &source,
        ReadRequest {
            batch_size: 2,
            ..ReadRequest::default()
        },
    )
    .await;
    assert_same(&got, &expected("expected/json/text.arrow"), "text/*.txt");
    assert_eq!(d.partitions.len(), 2);
    let source = open(
        &TextFilesDriver,
        json!({"urlpath": "json/docs/*.json", "decoder": "json.loads"}),
    )
    .await
    .expect("open");
    let (_, got) = read(&source, ReadRequest::default()).await;
    assert_same(
        &got,
        &expected("expected/json/docs.arrow"),
        "decoder json.loads",
    );
    let bytes = open(
        &TextFilesDriver,
        json!({"urlpath": "text_bad/latin1.txt", "text_mode": false}),
    )
    .await
    .expect("open");
    let (_, got) = read(&bytes, ReadRequest::default()).await;
    assert_eq!(got.num_rows(), 2, "text_mode false reads any bytes");
}

#[tokio::test]
async fn bad_input_is_a_typed_error_naming_file_and_line() {
    let source = open(&JsonDriver, json!({"urlpath": "json/bad.jsonl"}))
        .await
        .expect("open");
    let e = read_error(&source).await;
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.ends_with("json/bad.jsonl, line 3")),
        "{e}"
    );
    // Past the inference sample, the read names the line too.
    let mut ctx = context();
    ctx.limits.inference_rows = 1;
    let args: Map<String, J> =
        serde_json::from_value(json!({"urlpath": "json/bad.jsonl"})).expect("args");
    let source = JsonDriver.open(&args, &ctx).await.expect("open");
    let e = read_error(&source).await;
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.ends_with("json/bad.jsonl, line 3")),
        "{e}"
    );
    let source = open(&JsonDriver, json!({"urlpath": "json/scalars.json"}))
        .await
        .expect("open");
    let e = read_error(&source).await;
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.ends_with("json/scalars.json, row 0")),
        "{e}"
    );
    let source = open(&TextFilesDriver, json!({"urlpath": "text_bad/latin1.txt"}))
        .await
        .expect("open");
    let e = read_error(&source).await;
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.ends_with("latin1.txt, line 2")),
        "{e}"
    );
    // A gzip'd file declared plain is not JSON; a plain file declared gzip does not decompress.
    let source = open(
        &JsonDriver,
        json!({"urlpath": "json/events.jsonl", "compression": "gzip"}),
    )
    .await
    .expect("open");
    let e = read_error(&source).await;
    assert!(
        matches!(&e, DriverError::Corrupt { message, .. } if message.contains("gzip")),
        "{e}"
    );
    for (args, arg) in [
        (
            json!({"urlpath": "text/*.txt", "decoder": "yaml.safe_load"}),
            "decoder",
        ),
        (
            json!({"urlpath": "text/*.txt", "compression": "snappy"}),
            "compression",
        ),
    ] {
        let e = open(&TextFilesDriver, args).await.err().expect("bad arg");
        assert!(
            matches!(&e, DriverError::BadArg { arg: a, .. } if a == arg),
            "{e}"
        );
    }
}

#[tokio::test]
async fn intake_spellings_resolve() {
    let mut r = inlet_driver::Registry::new();
    r.register(Arc::new(JsonDriver))
        .register(Arc::new(JsonLinesDriver))
        .register(Arc::new(TextFilesDriver));
    for (written, name) in [
        ("intake.source.jsonfiles.JSONFileSource", "json"),
        ("intake.source.jsonfiles.JSONLinesFileSource", "jsonl"),
        ("intake.source.textfiles.TextFilesSource", "textfiles"),
    ] {
        assert_eq!(r.resolve(written), Some(name), "{written}");
    }
}

#[tokio::test]
async fn a_json_document_over_the_size_bound_points_at_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    let rows = vec![json!({"a": 1}); 50];
    std::fs::write(
        dir.path().join("rows.json"),
        serde_json::to_vec(&rows).expect("json"),
    )
    .expect("write");
    let mut ctx = context();
    ctx.catalog_dir = dir.path().to_path_buf();
    let files = ctx
        .storage
        .resolve(&json!("rows.json"), None, &ctx.catalog_dir)
        .await
        .expect("resolve");
    let source = |max: u64| -> Arc<dyn Source> {
        Arc::new(
            inlet_geo::DocumentSource::new(
                inlet_json::JsonDocument::default(),
                files.clone(),
                &inlet_driver::Limits::default(),
                vec![],
            )
            .with_max_bytes(max),
        )
    };
    let (_, got) = read(&source(1 << 20), ReadRequest::default()).await;
    assert_eq!(got.num_rows(), 50, "within the bound");
    // The bound applies to the decompressed document; the message points at `lines: true`.
    let e = source(100).discover().await.expect_err("too big");
    assert!(
        matches!(&e, DriverError::Unsupported(m) if m.contains("rows.json") && m.contains("lines: true")),
        "{e}"
    );
}
