//! The Parquet driver on files written by pyarrow, compared value for value with pyarrow's
//! reading of the same files (target/fixtures, made by tests/fixtures/make_fixtures.py).

use std::sync::Arc;

use futures::StreamExt;
use inlet_driver::storage::Files;
use inlet_driver::testing::{
    assert_same, collect, context, expected, fixtures, manifest, GetLog, RecordingStore,
};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use inlet_parquet::ParquetDriver;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{json, Map, Value as J};

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    let args: Map<String, J> = serde_json::from_value(args).expect("object");
    ParquetDriver.open(&args, &context()).await
}

async fn read_all(source: &Arc<dyn Source>, request: ReadRequest) -> arrow_array::RecordBatch {
    let d = source.discover().await.expect("discover");
    let schema = match &request.projection {
        Some(cols) => {
            let idx: Vec<usize> = cols
                .iter()
                .map(|c| d.schema.index_of(c).expect("column"))
                .collect();
            Arc::new(d.schema.project(&idx).expect("project"))
        }
        None => d.schema.clone(),
    };
    collect(schema, source.read(request).await.expect("read")).await
}

#[tokio::test]
async fn every_type_reads_as_pyarrow_reads_it() {
    let source = open(json!({"urlpath": "parquet/types.parquet"}))
        .await
        .expect("open");
    let d = source.discover().await.expect("discover");
    assert_eq!(d.partitions.len(), 4, "one partition per row group");
    assert_eq!(d.total_rows, Some(10_000));
    assert_eq!(d.partitions[1].label, "types.parquet#rg1");
    assert_eq!(
        d.partitions
            .iter()
            .map(|p| p.estimated_rows.unwrap_or(0))
            .sum::<u64>(),
        10_000
    );
    let id = d
        .statistics
        .iter()
        .find(|s| s.column == "id")
        .expect("id statistics");
    assert_eq!(
        (id.min.as_deref(), id.max.as_deref(), id.null_count),
        (Some("0"), Some("9999"), Some(0))
    );
    let got = read_all(&source, ReadRequest::default()).await;
    assert_same(
        &got,
        &expected("expected/parquet/types.parquet.arrow"),
        "types.parquet",
    );
}

#[tokio::test]
async fn every_codec_reads() {
    for codec in ["none", "snappy", "gzip", "zstd", "lz4", "brotli"] {
        let path = format!("parquet/codec_{codec}.parquet");
        let source = open(json!({ "urlpath": path })).await.expect("open");
        let got = read_all(&source, ReadRequest::default()).await;
        assert_same(&got, &expected(&format!("expected/{path}.arrow")), &path);
    }
}

#[tokio::test]
async fn many_files_read_as_one_source_and_globs_select_files() {
    let source = open(json!({"urlpath": "parquet/multi"}))
        .await
        .expect("open");
    let d = source.discover().await.expect("discover");
    assert_eq!(d.files.len(), 4);
    assert_eq!(d.partitions.len(), 8, "file x row group");
    assert_eq!(d.partitions[3].label, "part-0001.parquet#rg1");
    assert_eq!(d.partitions[3].file, 1);
    let got = read_all(&source, ReadRequest::default()).await;
    assert_same(&got, &expected("expected/parquet/multi.arrow"), "multi");
    let glob = open(json!({"urlpath": "parquet/multi/part-000[02].parquet"}))
        .await
        .expect("glob");
    assert_eq!(glob.discover().await.expect("discover").partitions.len(), 4);
    let list = open(
        json!({"urlpath": ["parquet/multi/part-0003.parquet", "parquet/multi/part-0000.parquet"]}),
    )
    .await;
    let d = list.expect("list").discover().await.expect("discover");
    assert!(
        d.files[0].location.ends_with("part-0003.parquet"),
        "a list keeps its order"
    );
}

#[tokio::test]
async fn projection_partitions_and_the_columns_arg_are_pushed_down() {
    let source = open(json!({"urlpath": "parquet/types.parquet"}))
        .await
        .expect("open");
    let request = ReadRequest {
        partitions: Some(vec![1]),
        projection: Some(vec!["string".into(), "id".into()]),
        ..ReadRequest::default()
    };
    let got = read_all(&source, request).await;
    let want = expected("expected/parquet/types.parquet.arrow").slice(2_500, 2_500);
    let want = want
        .project(&[want.schema().index_of("string").expect("col"), 0])
        .expect("project");
    assert_same(&got, &want, "partition 1, two columns in request order");
    let bad = source
        .read(ReadRequest {
            projection: Some(vec!["nope".into()]),
            ..ReadRequest::default()
        })
        .await;
    assert!(matches!(bad, Err(DriverError::BadRequest { ref field, .. }) if field == "columns"));
    let bad = source
        .read(ReadRequest {
            partitions: Some(vec![4]),
            ..ReadRequest::default()
        })
        .await;
    assert!(matches!(bad, Err(DriverError::BadRequest { ref field, .. }) if field == "partition"));
    // Intake's `columns` arg narrows the source itself.
    let narrowed = open(json!({"urlpath": "parquet/types.parquet", "columns": ["id", "float64"], "engine": "pyarrow"})).await;
    let d = narrowed.expect("open").discover().await.expect("discover");
    assert_eq!(d.schema.fields().len(), 2);
    let odd = open(json!({"urlpath": "parquet/types.parquet", "chunks": 4}))
        .await
        .expect("open");
    let w = odd.discover().await.expect("discover").warnings.clone();
    assert_eq!(
        w,
        ["arg `chunks` is not used by the parquet driver and is ignored"]
    );
}

#[tokio::test]
async fn incompatible_files_name_both_schemas() {
    let err = open(json!({"urlpath": "parquet/incompatible"}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("incompatible");
    let msg = err.to_string();
    assert!(matches!(err, DriverError::Incompatible(_)), "{msg}");
    assert!(
        msg.contains("b.parquet") && msg.contains("a.parquet"),
        "{msg}"
    );
    assert!(msg.contains("x: Utf8") && msg.contains("x: Int64"), "{msg}");
}

#[tokio::test]
async fn damaged_files_are_typed_errors_not_panics() {
    let truncated = open(json!({"urlpath": "parquet/truncated.parquet"}))
        .await
        .expect("open");
    let err = truncated.discover().await.expect_err("truncated footer");
    assert!(
        matches!(&err, DriverError::Corrupt { location, .. } if location.ends_with("truncated.parquet")),
        "{err}"
    );
    assert!(err.to_string().contains("not valid Parquet"), "{err}");

    let corrupt = open(json!({"urlpath": "parquet/corrupt_page.parquet"}))
        .await
        .expect("open");
    corrupt.discover().await.expect("the footer is intact");
    let results: Vec<_> = corrupt
        .read(ReadRequest::default())
        .await
        .expect("stream")
        .collect()
        .await;
    let last = results.last().expect("the stream ends with an item");
    assert!(
        matches!(last, Err(DriverError::Corrupt { location, .. }) if location.ends_with("corrupt_page.parquet#rg0")),
        "{last:?}"
    );
    // Columns whose pages are intact still read, as with pyarrow.
    let ok = corrupt
        .read(ReadRequest {
            projection: Some(vec!["id".into(), "value".into()]),
            ..ReadRequest::default()
        })
        .await;
    let rows: usize = ok
        .expect("stream")
        .map(|b| b.expect("intact columns").num_rows())
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert_eq!(rows, 4_000);

    let missing = open(json!({"urlpath": "parquet/nope.parquet"}))
        .await
        .err()
        .expect("missing");
    assert!(matches!(missing, DriverError::NotFound(_)), "{missing}");
    let escape = open(json!({"urlpath": "../../Cargo.toml"}))
        .await
        .err()
        .expect("escape");
    assert!(matches!(escape, DriverError::Denied(_)), "{escape}");
}

async fn counted_big() -> (Arc<dyn Source>, GetLog, u64) {
    let inner: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let path = Path::from_absolute_path(
        fixtures()
            .join("parquet/big.parquet")
            .canonicalize()
            .expect("path"),
    )
    .expect("path");
    let meta = inner.head(&path).await.expect("head");
    let size = meta.size;
    let (store, log) = RecordingStore::wrap(inner);
    let source = ParquetDriver::source(
        Files::new(store, "", vec![meta]),
        None,
        &Limits::default(),
        vec![],
    );
    (source, log, size)
}

#[tokio::test]
async fn batches_stream_one_by_one_and_limit_stops_the_reader() {
    let (source, bytes, size) = counted_big().await;
    let d = source.discover().await.expect("discover");
    assert_eq!(d.total_rows, Some(1_000_000));
    let after_footer = bytes.bytes();
    assert!(
        after_footer < size / 20,
        "discovery reads the footer only: {after_footer} of {size} bytes"
    );

    let mut stream = source
        .read(ReadRequest {
            batch_size: 8_192,
            ..ReadRequest::default()
        })
        .await
        .expect("read");
    let first = stream.next().await.expect("a batch").expect("ok");
    assert_eq!(first.num_rows(), 8_192);
    let at_first = bytes.bytes();
    assert!(
        at_first < size / 4,
        "the first batch came before the file was read: {at_first} of {size} bytes"
    );
    let mut rows = first.num_rows();
    let mut batches = 1;
    while let Some(b) = stream.next().await {
        let b = b.expect("ok");
        assert!(b.num_rows() <= 8_192);
        rows += b.num_rows();
        batches += 1;
    }
    assert_eq!((rows, batches > 100), (1_000_000, true));

    let (source, bytes, size) = counted_big().await;
    let limited = read_all(
        &source,
        ReadRequest {
            limit: Some(10),
            ..ReadRequest::default()
        },
    )
    .await;
    assert_eq!(limited.num_rows(), 10);
    let read = bytes.bytes();
    assert!(
        read < size / 10,
        "limit stopped the reader early: {read} of {size} bytes"
    );
}

#[test]
fn manifest_agrees_with_discovery() {
    let m = manifest();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for name in ["types", "multi", "big"] {
        let entry = &m["parquet"][name];
        let source = rt
            .block_on(open(json!({"urlpath": entry["path"]})))
            .expect("open");
        let d = rt.block_on(source.discover()).expect("discover");
        assert_eq!(d.total_rows, entry["rows"].as_u64(), "{name}");
        assert_eq!(
            Some(d.partitions.len() as u64),
            entry["row_groups"].as_u64(),
            "{name}"
        );
    }
}
