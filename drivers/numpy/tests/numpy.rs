//! The numpy driver on files written by numpy, compared value for value with
//! `xr.DataArray(np.load(f)).to_dataframe(name="value").reset_index()` (target/fixtures, made by
//! tests/fixtures/make_numpy_fixtures.py).

use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::StreamExt;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures};
use inlet_driver::{Driver, DriverError, ReadRequest, Source};
use inlet_numpy::NumpyDriver;
use serde_json::{json, Map, Value as J};

fn manifest() -> J {
    let path = fixtures().join("numpy/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run `$(bash scripts/pyenv.sh) tests/fixtures/make_numpy_fixtures.py target/fixtures`", path.display())
    });
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    NumpyDriver.open(&object(args), &context()).await
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> Result<RecordBatch, DriverError> {
    let d = source.discover().await?;
    let schema = d.projected_schema(&request)?;
    Ok(collect(schema, source.read(request).await?).await)
}

fn case(name: &str) -> (J, RecordBatch) {
    let c = &manifest()["cases"][name];
    let mut args = c["args"].as_object().cloned().unwrap_or_default();
    args.insert("path".into(), c["path"].clone());
    (
        J::Object(args),
        expected(c["expected"].as_str().expect("expected path")),
    )
}

#[tokio::test]
async fn every_case_reads_as_xarray_shows_it() {
    let m = manifest();
    let cases = m["cases"].as_object().expect("cases");
    assert!(cases.len() > 50, "{} cases", cases.len());
    for name in cases.keys() {
        let (args, want) = case(name);
        let source = open(args).await.expect("open");
        let got = read(&source, ReadRequest::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same(&got, &want, name);
        // Small batches cross partition and batch boundaries at other places.
        let small = ReadRequest {
            batch_size: 7,
            ..ReadRequest::default()
        };
        let got = read(&source, small).await.expect("small batches");
        assert_same(&got, &want, &format!("{name} in batches of 7"));
    }
}

#[tokio::test]
async fn chunks_are_partitions_along_the_leading_axis() {
    let (args, want) = case("chunks5");
    let source = open(args).await.expect("open");
    let d = source.discover().await.expect("discover");
    let labels: Vec<&str> = d.partitions.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "chunks5.npy[0:5]",
            "chunks5.npy[5:10]",
            "chunks5.npy[10:15]",
            "chunks5.npy[15:20]"
        ]
    );
    assert_eq!(d.total_rows, Some(20));
    assert_eq!(d.metadata["dtype"], json!("<f8"));
    let third = read(
        &source,
        ReadRequest {
            partitions: Some(vec![2]),
            ..ReadRequest::default()
        },
    )
    .await
    .expect("partition 2");
    assert_same(&third, &want.slice(10, 5), "partition 2");
    // Projection: the index alone reads no data; the value alone is the value column.
    let value = read(
        &source,
        ReadRequest {
            projection: Some(vec!["value".into()]),
            limit: Some(3),
            ..ReadRequest::default()
        },
    )
    .await
    .expect("value");
    assert_eq!(value.num_columns(), 1);
    assert_same(
        &value,
        &want.project(&[2]).expect("project").slice(0, 3),
        "value, limit 3",
    );

    let (args, _) = case("stack");
    let d = open(args)
        .await
        .expect("stack")
        .discover()
        .await
        .expect("discover");
    assert_eq!(d.partitions.len(), 6, "two partitions of 3 rows per file");
    assert_eq!(d.partitions[1].label, "part_0.npy[3:4]");
    assert_eq!(d.partitions[5].file, 2);
}

#[tokio::test]
async fn intakes_corpus_entry_reads() {
    // catalog1.yml's `arr`: `path: "{{ CATALOG_DIR }}/small.npy"`, `chunks: 5`.
    let (args, want) = case("chunks5");
    let mut args = object(args);
    args.insert("dtype".into(), json!("float64"));
    args.insert("shape".into(), json!([20, 1]));
    let source = open(J::Object(args.clone())).await.expect("open");
    assert_same(
        &read(&source, ReadRequest::default()).await.expect("read"),
        &want,
        "with dtype and shape",
    );
    args.insert("shape".into(), json!([10]));
    let e = open(J::Object(args))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("a wrong shape");
    assert!(
        matches!(&e, DriverError::BadArg { arg, message } if arg == "shape" && message.contains("[20, 1]")),
        "{e}"
    );
}

#[tokio::test]
async fn broken_files_are_typed_errors_naming_the_file() {
    for (file, want) in [
        ("numpy/truncated.npy", "truncated"),
        ("numpy/cut_header.npy", "shorter than any .npy header"),
        ("numpy/manifest.json", "not a .npy file"),
    ] {
        let e = open(json!({ "path": file }))
            .await
            .expect("open")
            .discover()
            .await
            .expect_err(file);
        assert!(
            matches!(&e, DriverError::Corrupt { location, message } if location.ends_with(file) && message.contains(want)),
            "{file}: {e}"
        );
    }
    let e = open(json!({"path": "numpy/pickled.npy"}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("pickled");
    assert!(
        matches!(&e, DriverError::Unsupported(m) if m.contains("pickled.npy") && m.contains("pickled object arrays cannot be read without Python")),
        "{e}"
    );
    let e = open(json!({"path": "numpy/nope.npy"})).await.err();
    assert!(matches!(e, Some(DriverError::NotFound(_))), "{e:?}");
    let e = open(json!({"path": "numpy/f8_1d.npy", "chunks": 0}))
        .await
        .err();
    assert!(matches!(e, Some(DriverError::BadArg { .. })), "{e:?}");
}

#[tokio::test]
async fn a_file_cut_after_discovery_fails_the_read() {
    let dir = tempfile_dir();
    let src = fixtures().join("numpy/long.npy");
    let copy = dir.join("long.npy");
    std::fs::copy(&src, &copy).expect("copy");
    let ctx = inlet_driver::OpenContext {
        catalog_dir: dir.clone(),
        ..context()
    };
    let source = NumpyDriver
        .open(&object(json!({"path": "long.npy"})), &ctx)
        .await
        .expect("open");
    source.discover().await.expect("discover");
    let bytes = std::fs::read(&copy).expect("read");
    std::fs::write(&copy, &bytes[..bytes.len() / 2]).expect("cut");
    let mut stream = source.read(ReadRequest::default()).await.expect("read");
    let mut failed = None;
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            failed = Some(e);
            break;
        }
    }
    let e = failed.expect("the read fails");
    assert!(
        matches!(e, DriverError::Changed(_) | DriverError::Corrupt { .. }),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inlet-numpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    dir
}
