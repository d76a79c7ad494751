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

/// A context rooted at the fixtures directory.
pub fn context() -> OpenContext {
    OpenContext {
        catalog_dir: fixtures(),
        storage: Arc::new(StorageResolver::default()),
        limits: Limits::default(),
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
