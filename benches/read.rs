//! Full read of one file through a driver, for `benches/read_vs_pyarrow.py`.
//!
//!     cargo bench --bench read -- parquet /tmp/benchdata/trips.parquet
//!     cargo bench --bench read -- csv /tmp/benchdata/trips.csv
//!
//! Prints one JSON line: rows, seconds, peak RSS (VmHWM) of this process.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use inlet_driver::storage::StorageResolver;
use inlet_driver::testing::peak_rss_mb;
use inlet_driver::{Driver, Limits, OpenContext, ReadRequest};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(driver), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: read <parquet|csv> <file>");
        std::process::exit(2);
    };
    let path = std::path::Path::new(path).canonicalize().expect("file");
    let dir = path.parent().expect("parent").to_path_buf();
    let driver: Arc<dyn Driver> = match driver.as_str() {
        "parquet" => Arc::new(inlet_parquet::ParquetDriver),
        "csv" => Arc::new(inlet_csv::CsvDriver),
        other => panic!("unknown driver {other}"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let start = Instant::now();
    let rows = rt.block_on(async {
        let ctx = OpenContext {
            catalog_dir: dir,
            storage: Arc::new(StorageResolver::default()),
            limits: Limits::default(),
            targets: None,
        };
        let mut args = serde_json::Map::new();
        args.insert("urlpath".into(), path.to_string_lossy().into_owned().into());
        let source = driver.open(&args, &ctx).await.expect("open");
        let mut stream = source.read(ReadRequest::default()).await.expect("read");
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            rows += batch.expect("batch").num_rows();
        }
        rows
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"rows\": {rows}, \"seconds\": {secs:.4}, \"peak_rss_mb\": {:.1}}}",
        peak_rss_mb()
    );
}
