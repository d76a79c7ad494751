//! The intake-esm driver on ESM catalogs written by tests/fixtures/make_esm_fixtures.py,
//! compared value for value with `pandas.read_csv` of the asset table (what
//! `esm_datastore(...).df` holds).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use inlet_driver::testing::{assert_same, collect, context, expected};
use inlet_driver::{Driver, DriverError, ReadRequest, Source};
use inlet_esm::EsmDriver;
use serde_json::{json, Map, Value as J};

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    EsmDriver.open(&object(args), &context()).await
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> Result<RecordBatch, DriverError> {
    let d = source.discover().await?;
    let schema = d.projected_schema(&request)?;
    Ok(collect(schema, source.read(request).await?).await)
}

/// The driver's table in pandas' types (pandas reads a column with gaps as float64).
fn like(got: &RecordBatch, want: &RecordBatch) -> RecordBatch {
    let columns = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::clone(&want.schema())), columns).expect("batch")
}

fn want(with_lists: bool) -> RecordBatch {
    let all = expected("expected/esm/assets.arrow");
    if with_lists {
        return all;
    }
    let keep: Vec<usize> = (0..all.num_columns() - 1).collect();
    all.project(&keep).expect("project")
}

#[tokio::test]
async fn the_asset_table_reads_as_pandas_reads_it() {
    for json in [
        "esm/collection.json",
        "esm/collection_gz.json",
        "esm/esmcol.json",
    ] {
        let source = open(json!({
            "esmcol_obj": json,
            "columns_with_iterables": ["variables"],
        }))
        .await
        .expect("open");
        let d = source.discover().await.expect(json);
        let got = read(&source, ReadRequest::default()).await.expect(json);
        let want = want(true);
        assert_same(&like(&got, &want), &want, json);
        assert_eq!(
            d.metadata["description"],
            json!("A small CMIP6-style ESM catalog for Inlet's tests")
        );
        let esm = &d.metadata["esm_collection"];
        assert_eq!(esm["assets"]["column_name"], json!("zstore"));
        assert_eq!(esm["id"], json!("test-cmip6"));
        assert!(
            esm["catalog_file"]
                .as_str()
                .is_some_and(|f| f.ends_with("esm/assets.csv") || f.ends_with("esm/assets.csv.gz")),
            "{esm}"
        );
    }
}

#[tokio::test]
async fn spellings_of_intake_esm_versions_and_projection() {
    // Without columns_with_iterables the literal stays text, as pandas reads it.
    let source = open(json!({"obj": "esm/collection.json", "read_csv_kwargs": {}}))
        .await
        .expect("open");
    let got = read(
        &source,
        ReadRequest {
            projection: Some(vec!["zstore".into(), "variable_id".into()]),
            limit: Some(5),
            ..ReadRequest::default()
        },
    )
    .await
    .expect("read");
    assert_eq!(got.num_rows(), 5);
    assert_eq!(got.schema().field(0).name(), "zstore");
    let d = source.discover().await.expect("discover");
    assert_eq!(
        d.schema
            .field_with_name("variables")
            .map(|f| f.data_type().clone())
            .ok(),
        Some(arrow_schema::DataType::Utf8)
    );
    let two = open(json!({"esmcol_obj": "esm/collection.json", "obj": "esm/collection.json"}))
        .await
        .err();
    assert!(matches!(two, Some(DriverError::BadArg { .. })), "{two:?}");
}

#[tokio::test]
async fn an_inline_catalog_dict_reads_too() {
    let source = open(json!({"esmcol_obj": "esm/inline.json"}))
        .await
        .expect("open");
    let got = read(&source, ReadRequest::default()).await.expect("read");
    let want = want(false);
    assert_same(&like(&got, &want), &want, "catalog_dict");
    // The collection inline in the catalog: `esmcol_obj` as a mapping.
    let text = std::fs::read_to_string(inlet_driver::testing::fixtures().join("esm/inline.json"))
        .expect("inline.json");
    let obj: J = serde_json::from_str(&text).expect("json");
    let source = open(json!({ "esmcol_obj": obj })).await.expect("open");
    let got = read(
        &source,
        ReadRequest {
            batch_size: 4,
            ..ReadRequest::default()
        },
    )
    .await
    .expect("read");
    assert_same(
        &like(&got, &want),
        &want,
        "catalog_dict inline in the catalog",
    );
}

#[tokio::test]
async fn bad_collections_are_typed_errors() {
    let e = open(json!({})).await.err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { arg, .. }) if arg == "esmcol_obj"),
        "{e:?}"
    );
    let discover = |args: J| async move { open(args).await.expect("open").discover().await };
    let e = discover(json!({"esmcol_obj": "esm/assets.csv"}))
        .await
        .expect_err("csv");
    assert!(
        matches!(&e, DriverError::Corrupt { location, .. } if location.ends_with("assets.csv")),
        "{e}"
    );
    let e = discover(json!({"esmcol_obj": "esm/parquet.json"}))
        .await
        .expect_err("parquet");
    assert!(
        matches!(&e, DriverError::Unsupported(m) if m.contains("parquet")),
        "{e}"
    );
    let e = discover(json!({"esmcol_obj": "esm/nope.json"}))
        .await
        .expect_err("missing");
    assert!(matches!(e, DriverError::NotFound(_)), "{e}");
    let e =
        discover(json!({"esmcol_obj": "esm/collection.json", "columns_with_iterables": ["nope"]}))
            .await
            .expect_err("unknown column");
    assert!(
        matches!(&e, DriverError::BadArg { arg, .. } if arg == "columns_with_iterables"),
        "{e}"
    );
}
