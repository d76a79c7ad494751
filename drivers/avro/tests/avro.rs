//! The Avro driver on files written by fastavro, compared value for value with the tables the
//! records mean (target/fixtures, made by tests/fixtures/make_avro_fixtures.py).

use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::StreamExt;
use inlet_avro::AvroDriver;
use inlet_driver::storage::Files;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::{json, Map, Value as J};

const CODECS: [&str; 6] = ["null", "deflate", "snappy", "zstandard", "bzip2", "xz"];

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    let args: Map<String, J> = serde_json::from_value(args).expect("object");
    AvroDriver.open(&args, &context()).await
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> RecordBatch {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    collect(schema, source.read(request).await.expect("read")).await
}

/// Every batch of a read, or the error that ended it (and the rows before it).
async fn batches(
    source: &Arc<dyn Source>,
    request: ReadRequest,
) -> (Vec<RecordBatch>, Option<DriverError>) {
    let mut stream = match source.read(request).await {
        Ok(s) => s,
        Err(e) => return (vec![], Some(e)),
    };
    let mut out = vec![];
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => out.push(b),
            Err(e) => {
                assert!(stream.next().await.is_none(), "nothing follows an error");
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

fn project(batch: &RecordBatch, names: &[&str]) -> RecordBatch {
    let idx: Vec<usize> = names
        .iter()
        .map(|n| batch.schema().index_of(n).expect("column"))
        .collect();
    batch.project(&idx).expect("project")
}

#[tokio::test]
async fn every_type_reads_as_the_records_mean() {
    let source = open(json!({"urlpath": "avro/types.avro"}))
        .await
        .expect("open");
    let d = source.discover().await.expect("discover");
    let size = std::fs::metadata(fixtures().join("avro/types.avro"))
        .expect("size")
        .len();
    assert_eq!(d.partitions.len(), 1, "a small file is one partition");
    assert_eq!(d.partitions[0].label, "types.avro");
    assert_eq!(d.partitions[0].estimated_bytes, Some(size));
    assert_eq!(d.total_rows, None, "counting rows would read every block");
    assert_eq!(d.files.len(), 1);
    assert!(
        d.files[0].etag.is_some(),
        "fingerprints for the discovery cache"
    );
    assert_eq!(d.metadata["codec"], json!("null"));
    assert_eq!(
        d.metadata["avro_schema"]["name"],
        json!("inlet.test.AllTypes")
    );
    let got = read(&source, ReadRequest::default()).await;
    assert_same(
        &got,
        &expected("expected/avro/types.avro.arrow"),
        "types.avro",
    );
    assert_eq!(d.schema.fields().len(), got.num_columns());
}

#[tokio::test]
async fn every_codec_reads() {
    for codec in CODECS {
        let path = format!("avro/codec_{codec}.avro");
        let source = open(json!({ "urlpath": path })).await.expect("open");
        let d = source.discover().await.expect("discover");
        assert_eq!(d.metadata["codec"], json!(codec));
        let got = read(&source, ReadRequest::default()).await;
        assert_same(&got, &expected(&format!("expected/{path}.arrow")), &path);
    }
}

#[tokio::test]
async fn evolving_writer_schemas_read_as_one_table() {
    let source = open(json!({"urlpath": "avro/evolve"})).await.expect("open");
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        ["part-0.avro", "part-1.avro"],
        "one partition per file"
    );
    assert_eq!(d.metadata["codec"], json!(["null", "deflate"]));
    let got = read(&source, ReadRequest::default()).await;
    assert_same(&got, &expected("expected/avro/evolve.arrow"), "evolve");
    // The old file alone, projected onto a field only the new one has: its default.
    let old = read(
        &source,
        ReadRequest {
            partitions: Some(vec![0]),
            projection: Some(vec!["score".into(), "id".into()]),
            ..ReadRequest::default()
        },
    )
    .await;
    let want = project(
        &expected("expected/avro/evolve.arrow").slice(0, 400),
        &["score", "id"],
    );
    assert_same(&old, &want, "v1 file with the v2 default");
}

#[tokio::test]
async fn incompatible_files_name_the_field() {
    let source = open(json!({"urlpath": "avro/incompatible"}))
        .await
        .expect("open is lazy");
    let err = source.discover().await.expect_err("incompatible");
    let DriverError::Incompatible(message) = &err else {
        panic!("{err}")
    };
    assert!(message.contains("`amount`"), "{message}");
    assert!(
        message.contains("a.avro") && message.contains("b.avro"),
        "{message}"
    );
    assert!(matches!(
        source.read(ReadRequest::default()).await,
        Err(DriverError::Incompatible(_))
    ));
}

#[tokio::test]
async fn projection_and_limit_are_pushed_down() {
    let source = open(json!({"urlpath": "avro/types.avro"}))
        .await
        .expect("open");
    let want = expected("expected/avro/types.avro.arrow");
    let cols = ["items", "id", "null_long_or_string", "color", "scores"];
    let got = read(
        &source,
        ReadRequest {
            projection: Some(cols.iter().map(|c| c.to_string()).collect()),
            ..ReadRequest::default()
        },
    )
    .await;
    assert_same(&got, &project(&want, &cols), "projection in request order");
    let (limited, err) = batches(
        &source,
        ReadRequest {
            limit: Some(25),
            projection: Some(vec!["string".into()]),
            batch_size: 10,
            ..ReadRequest::default()
        },
    )
    .await;
    assert!(err.is_none());
    assert_eq!(
        limited
            .iter()
            .map(RecordBatch::num_rows)
            .collect::<Vec<_>>(),
        [10, 10, 5]
    );
    let bad = source
        .read(ReadRequest {
            projection: Some(vec!["nope".into()]),
            ..ReadRequest::default()
        })
        .await;
    assert!(matches!(bad, Err(DriverError::BadRequest { ref field, .. }) if field == "columns"));
}

#[tokio::test]
async fn files_and_byte_ranges_are_partitions() {
    // Ranges cut anywhere: every block is read exactly once, by the range its marker starts in.
    for blocksize in [7_000, 20_011, 100_000] {
        let source = open(json!({"urlpath": "avro/types.avro", "blocksize": blocksize}))
            .await
            .expect("open");
        let d = source.discover().await.expect("discover");
        let size = std::fs::metadata(fixtures().join("avro/types.avro"))
            .expect("size")
            .len();
        assert!(d.partitions.len() as u64 >= size / blocksize, "{blocksize}");
        assert_eq!(d.partitions[1].label, "types.avro#1");
        let total: u64 = d.partitions.iter().filter_map(|p| p.estimated_bytes).sum();
        assert_eq!(total, size);
        let want = expected("expected/avro/types.avro.arrow");
        assert_same(
            &read(&source, ReadRequest::default()).await,
            &want,
            "all ranges",
        );
        let mut rows = 0;
        for p in &d.partitions {
            let part = read(
                &source,
                ReadRequest {
                    partitions: Some(vec![p.id]),
                    ..ReadRequest::default()
                },
            )
            .await;
            assert_same(&part, &want.slice(rows, part.num_rows()), &p.label);
            rows += part.num_rows();
        }
        assert_eq!(rows, want.num_rows());
    }
    let two =
        open(json!({"urlpath": ["avro/codec_xz.avro", "avro/codec_null.avro"], "blocksize": null}))
            .await
            .expect("list");
    let d = two.discover().await.expect("discover");
    assert_eq!(d.partitions.len(), 2);
    assert!(
        d.files[0].location.ends_with("codec_xz.avro"),
        "a list keeps its order"
    );
    let second = read(
        &two,
        ReadRequest {
            partitions: Some(vec![1]),
            ..ReadRequest::default()
        },
    )
    .await;
    assert_same(
        &second,
        &expected("expected/avro/codec_null.avro.arrow"),
        "partition 1",
    );
    let glob = open(json!({"urlpath": "avro/codec_*.avro"}))
        .await
        .expect("glob");
    assert_eq!(glob.discover().await.expect("discover").partitions.len(), 6);
}

#[tokio::test]
async fn object_storage_streams_ranges_too() {
    let store = Arc::new(InMemory::new());
    let bytes = std::fs::read(fixtures().join("avro/types.avro")).expect("read");
    let path = Path::from("data/types.avro");
    store
        .put(&path, PutPayload::from(bytes))
        .await
        .expect("put");
    let meta = store.head(&path).await.expect("head");
    let files = Files::new(
        store.clone() as Arc<dyn ObjectStore>,
        "mem://bucket",
        vec![meta],
    );
    let source = AvroDriver::source(files, Some(10_000), &Limits::default(), vec![]);
    let d = source.discover().await.expect("discover");
    assert_eq!(d.files[0].location, "mem://bucket/data/types.avro");
    assert!(d.partitions.len() > 10);
    let got = read(&source, ReadRequest::default()).await;
    assert_same(
        &got,
        &expected("expected/avro/types.avro.arrow"),
        "in-memory store",
    );
}

#[tokio::test]
async fn reads_stream_in_bounded_batches() {
    let source = open(json!({"urlpath": "avro/types.avro"}))
        .await
        .expect("open");
    let (got, err) = batches(
        &source,
        ReadRequest {
            batch_size: 100,
            ..ReadRequest::default()
        },
    )
    .await;
    assert!(err.is_none());
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|b| b.num_rows() == 100));
}

#[tokio::test]
async fn damaged_files_are_typed_errors() {
    let small = |path: &str| json!({ "urlpath": path });
    // Truncated mid-block: the whole blocks before it arrive, then the error.
    let source = open(small("avro/bad/truncated.avro")).await.expect("open");
    source.discover().await.expect("the header is intact");
    let (got, err) = batches(
        &source,
        ReadRequest {
            batch_size: 50,
            ..ReadRequest::default()
        },
    )
    .await;
    let manifest: J = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("avro/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let whole = manifest["bad"]["truncated"]["whole_block_rows"]
        .as_u64()
        .expect("rows") as usize;
    assert!(!got.is_empty());
    assert!(got.iter().map(RecordBatch::num_rows).sum::<usize>() <= whole);
    match err {
        Some(DriverError::Corrupt { location, message }) => {
            assert!(location.ends_with("avro/bad/truncated.avro"), "{location}");
            assert!(message.contains("truncated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let source = open(small("avro/bad/bad_sync.avro")).await.expect("open");
    let (_, err) = batches(&source, ReadRequest::default()).await;
    assert!(
        matches!(&err, Some(DriverError::Corrupt { message, .. }) if message.contains("sync marker")),
        "{err:?}"
    );
    let source = open(small("avro/bad/unknown_codec.avro"))
        .await
        .expect("open");
    let err = source.discover().await.expect_err("codec");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("`lz5`")),
        "{err}"
    );
    let source = open(small("avro/bad/not_avro.avro")).await.expect("open");
    let err = source.discover().await.expect_err("not avro");
    assert!(
        matches!(&err, DriverError::Corrupt { message, .. } if message.contains("not an Avro")),
        "{err}"
    );
    let missing = open(small("avro/nope.avro")).await;
    assert!(matches!(missing, Err(DriverError::NotFound(_))));
}

#[tokio::test]
async fn args_are_checked_and_unknown_ones_reported() {
    let source = open(json!({"urlpath": "avro/types.avro", "engine": "fastavro"}))
        .await
        .expect("open");
    let d = source.discover().await.expect("discover");
    assert!(
        d.warnings.iter().any(|w| w.contains("`engine`")),
        "{:?}",
        d.warnings
    );
    let bad = open(json!({"urlpath": "avro/types.avro", "blocksize": -1})).await;
    assert!(matches!(bad, Err(DriverError::BadArg { ref arg, .. }) if arg == "blocksize"));
    let none = open(json!({})).await;
    assert!(matches!(none, Err(DriverError::BadArg { ref arg, .. }) if arg == "urlpath"));
    assert_eq!(AvroDriver.name(), "avro");
}

/// An Avro file written by apache-avro (another writer than the fixtures').
fn write_avro(
    dir: &std::path::Path,
    name: &str,
    schema: &str,
    values: Vec<apache_avro::types::Value>,
) {
    let schema = apache_avro::Schema::parse_str(schema).expect("schema");
    let mut w = apache_avro::Writer::new(&schema, Vec::new());
    for v in values {
        w.append(v).expect("append");
    }
    std::fs::write(dir.join(name), w.into_inner().expect("bytes")).expect("write");
}

async fn open_in(dir: &std::path::Path, urlpath: &str) -> Arc<dyn Source> {
    let ctx = inlet_driver::OpenContext {
        catalog_dir: dir.to_path_buf(),
        storage: Arc::new(inlet_driver::storage::StorageResolver::default()),
        limits: Limits::default(),
        targets: None,
    };
    let args: Map<String, J> = serde_json::from_value(json!({ "urlpath": urlpath })).expect("args");
    AvroDriver.open(&args, &ctx).await.expect("open")
}

#[tokio::test]
async fn other_writers_non_records_removed_fields_and_recursion() {
    use apache_avro::types::Value as V;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // A top-level `long` is a table with one column, `value`.
    std::fs::create_dir(d.join("longs")).expect("mkdir");
    write_avro(
        &d.join("longs"),
        "a.avro",
        r#""long""#,
        (0..5).map(V::Long).collect(),
    );
    let got = read(&open_in(d, "longs").await, ReadRequest::default()).await;
    assert_eq!(got.schema().field(0).name(), "value");
    assert_eq!(
        got.column(0).as_primitive::<Int64Type>().values(),
        &[0, 1, 2, 3, 4]
    );

    // v2 drops `old` (no default: it becomes nullable, null in v2) and renames the record.
    std::fs::create_dir(d.join("evolve")).expect("mkdir");
    let v1 = r#"{"type":"record","name":"A","fields":[{"name":"id","type":"long"},{"name":"old","type":"string"}]}"#;
    let v2 = r#"{"type":"record","name":"B","fields":[{"name":"id","type":"long"}]}"#;
    let rec = |id, old: Option<&str>| {
        let mut f = vec![("id".to_string(), V::Long(id))];
        f.extend(old.map(|o| ("old".to_string(), V::String(o.into()))));
        V::Record(f)
    };
    write_avro(&d.join("evolve"), "1.avro", v1, vec![rec(1, Some("x"))]);
    write_avro(
        &d.join("evolve"),
        "2.avro",
        v2,
        vec![rec(2, None), rec(3, None)],
    );
    let source = open_in(d, "evolve").await;
    let got = read(&source, ReadRequest::default()).await;
    assert_eq!(
        got.column(0).as_primitive::<Int64Type>().values(),
        &[1, 2, 3]
    );
    let old = got.column(1).as_string::<i32>();
    assert_eq!(old.iter().collect::<Vec<_>>(), [Some("x"), None, None]);

    // A file with a header and no block is an empty partition.
    write_avro(&d.join("evolve"), "3.avro", v2, vec![]);
    let got = read(&open_in(d, "evolve").await, ReadRequest::default()).await;
    assert_eq!(got.num_rows(), 3);

    // Recursive types have no Arrow equivalent: unsupported, naming the field.
    let linked = r#"{"type":"record","name":"Node","fields":[{"name":"v","type":"long"},{"name":"next","type":["null","Node"]}]}"#;
    let node = V::Record(vec![
        ("v".into(), V::Long(1)),
        ("next".into(), V::Union(0, Box::new(V::Null))),
    ]);
    write_avro(d, "linked.avro", linked, vec![node]);
    let err = open_in(d, "linked.avro")
        .await
        .discover()
        .await
        .expect_err("recursive");
    assert!(
        matches!(&err, DriverError::Unsupported(m) if m.contains("field `next`")),
        "{err}"
    );
}
