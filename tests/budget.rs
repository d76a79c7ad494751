//! Every built-in driver reserves what a read holds from the server-wide memory budget while it
//! streams, and gives it back when the read ends (the reliability issue, part 1: Parquet did,
//! CSV, Avro and Zarr did not).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use inlet_driver::storage::StorageResolver;
use inlet_driver::testing::fixtures;
use inlet_driver::{Driver, Limits, MemoryBudget, OpenContext, ReadRequest};
use serde_json::{json, Map, Value as J};

async fn reserves_while_streaming(driver: &dyn Driver, args: J) {
    let budget = MemoryBudget::new(256 << 20, Duration::from_millis(500));
    let ctx = OpenContext {
        catalog_dir: fixtures(),
        storage: Arc::new(StorageResolver::default()),
        limits: Limits {
            budget: Some(budget.clone()),
            ..Limits::default()
        },
        targets: None,
    };
    let args: Map<String, J> = serde_json::from_value(args.clone()).expect("object");
    let source = driver.open(&args, &ctx).await.expect("open");
    source.discover().await.expect("discover");
    let mut stream = source
        .read(ReadRequest {
            batch_size: 1,
            ..ReadRequest::default()
        })
        .await
        .expect("read");
    stream.next().await.expect("a batch").expect("ok");
    assert!(
        budget.in_use() > 0,
        "{}: a read in progress holds none of the budget",
        driver.name()
    );
    // Drained (and dropped): everything is given back.
    while let Some(b) = stream.next().await {
        b.expect("batch");
    }
    drop(stream);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        budget.in_use(),
        0,
        "{}: the budget is not given back",
        driver.name()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_avro_and_zarr_reads_reserve_from_the_budget() {
    reserves_while_streaming(&inlet_csv::CsvDriver, json!({"urlpath": "csv/plain.csv"})).await;
    reserves_while_streaming(
        &inlet_avro::AvroDriver,
        json!({"urlpath": "avro/codec_deflate.avro"}),
    )
    .await;
    reserves_while_streaming(
        &inlet_zarr::ZarrDriver,
        json!({"urlpath": "zarr/grid_v3.zarr"}),
    )
    .await;
    reserves_while_streaming(
        &inlet_parquet::ParquetDriver,
        json!({"urlpath": "parquet/types.parquet"}),
    )
    .await;
}
