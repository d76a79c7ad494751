//! Test support shared by the driver crates (feature `testing`): fixture lookup and comparing
//! what a driver read with what pyarrow read from the same file.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef};
use futures::TryStreamExt;

use crate::storage::StorageResolver;
use crate::{BatchStream, Limits, OpenContext};

/// `$INLET_FIXTURES`, else `<workspace>/target/fixtures`, made by `tests/fixtures/make_fixtures.py`.
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("INLET_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fixtures"));
    assert!(
        dir.join("manifest.json").is_file(),
        "test fixtures are missing in {}: run `bash scripts/test.sh`, or `$(bash scripts/pyenv.sh) tests/fixtures/make_fixtures.py target/fixtures`",
        dir.display()
    );
    dir
}

pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// This process's peak resident memory (VmHWM) in MB, for benchmarks; 0 where /proc is absent.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A context rooted at the fixtures directory.
pub fn context() -> OpenContext {
    OpenContext {
        catalog_dir: fixtures(),
        storage: Arc::new(StorageResolver::default()),
        limits: Limits::default(),
        targets: None,
    }
}

/// An Arrow IPC file written by pyarrow, as one batch.
pub fn expected(relative: &str) -> RecordBatch {
    let file = std::fs::File::open(fixtures().join(relative))
        .unwrap_or_else(|e| panic!("{relative}: {e}"));
    let reader = arrow_ipc::reader::FileReader::try_new(file, None).expect("IPC file");
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("IPC batches");
    arrow_select::concat::concat_batches(&schema, &batches).expect("concat")
}

/// All batches of a stream, as one batch with `schema`.
pub async fn collect(schema: SchemaRef, stream: BatchStream) -> RecordBatch {
    let batches: Vec<RecordBatch> = stream.try_collect().await.expect("read");
    arrow_select::concat::concat_batches(&schema, &batches).expect("concat")
}

fn float_bits(a: &ArrayRef) -> Option<Vec<Option<u64>>> {
    match a.data_type() {
        DataType::Float64 => {
            let f = a.as_any().downcast_ref::<Float64Array>()?;
            Some(f.iter().map(|v| v.map(f64::to_bits)).collect())
        }
        DataType::Float32 => {
            let f = a.as_any().downcast_ref::<Float32Array>()?;
            Some(
                f.iter()
                    .map(|v| v.map(|x| u64::from(x.to_bits())))
                    .collect(),
            )
        }
        _ => None,
    }
}

/// Same column names, types and values (floats bit for bit, so NaN equals NaN).
pub fn assert_same(got: &RecordBatch, want: &RecordBatch, what: &str) {
    let names = |b: &RecordBatch| {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(got), names(want), "{what}: column names");
    assert_eq!(got.num_rows(), want.num_rows(), "{what}: row count");
    for (i, field) in want.schema().fields().iter().enumerate() {
        let (g, w) = (got.column(i), want.column(i));
        assert_eq!(
            g.data_type(),
            w.data_type(),
            "{what}: type of `{}`",
            field.name()
        );
        match (float_bits(g), float_bits(w)) {
            (Some(gb), Some(wb)) => assert_eq!(gb, wb, "{what}: values of `{}`", field.name()),
            _ => assert_eq!(
                g.to_data(),
                w.to_data(),
                "{what}: values of `{}`",
                field.name()
            ),
        }
    }
}

/// Wraps a store and records every GET (path and bytes served), to see what a read touched.
#[derive(Debug)]
pub struct RecordingStore {
    inner: Arc<dyn object_store::ObjectStore>,
    log: Arc<std::sync::Mutex<Vec<(String, u64)>>>,
}

/// What a [`RecordingStore`] saw; cloneable, readable while the store is in use.
#[derive(Debug, Clone, Default)]
pub struct GetLog(Arc<std::sync::Mutex<Vec<(String, u64)>>>);

impl GetLog {
    pub fn paths(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|l| l.iter().map(|(p, _)| p.clone()).collect())
            .unwrap_or_default()
    }
    pub fn bytes(&self) -> u64 {
        self.0
            .lock()
            .map(|l| l.iter().map(|(_, b)| b).sum())
            .unwrap_or_default()
    }
}

impl RecordingStore {
    pub fn wrap(
        inner: Arc<dyn object_store::ObjectStore>,
    ) -> (Arc<dyn object_store::ObjectStore>, GetLog) {
        let log = GetLog::default();
        (
            Arc::new(RecordingStore {
                inner,
                log: log.0.clone(),
            }),
            log,
        )
    }

    fn record(&self, path: &object_store::path::Path, bytes: u64) {
        if let Ok(mut l) = self.log.lock() {
            l.push((path.to_string(), bytes));
        }
    }
}

impl std::fmt::Display for RecordingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recording({})", self.inner)
    }
}

mod recording_impl {
    use std::ops::Range;

    use async_trait::async_trait;
    use bytes::Bytes;
    use futures::stream::BoxStream;
    use object_store::path::Path;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
    };

    use super::RecordingStore;

    #[async_trait]
    impl ObjectStore for RecordingStore {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
            self.inner.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(l, o).await
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
            let r = self.inner.get_opts(l, o).await?;
            self.record(l, r.range.end - r.range.start);
            Ok(r)
        }
        async fn get_ranges(&self, l: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
            self.record(l, ranges.iter().map(|r| r.end - r.start).sum());
            self.inner.get_ranges(l, ranges).await
        }
        fn delete_stream(
            &self,
            l: BoxStream<'static, Result<Path>>,
        ) -> BoxStream<'static, Result<Path>> {
            self.inner.delete_stream(l)
        }
        fn list(&self, p: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            self.inner.list(p)
        }
        async fn list_with_delimiter(&self, p: Option<&Path>) -> Result<ListResult> {
            self.inner.list_with_delimiter(p).await
        }
        async fn copy_opts(&self, f: &Path, t: &Path, o: CopyOptions) -> Result<()> {
            self.inner.copy_opts(f, t, o).await
        }
    }
}
