//! Reads a NetCDF file as a tidy table (all partitions, default limits) and prints wall time,
//! rows, Arrow bytes and peak RSS as one JSON line. Driven by `benches/bench.sh`, which also
//! times xarray on the same file:
//!
//!     cargo bench -p inlet-netcdf --bench netcdf_read -- /tmp/benchnetcdf/grid_nc4.nc [repeats]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::Array;
use futures::StreamExt;
use inlet_driver::storage::StorageResolver;
use inlet_driver::testing::peak_rss_mb;
use inlet_driver::{Driver, Limits, OpenContext, ReadRequest};
use inlet_netcdf::NetcdfDriver;
use serde_json::{json, Map, Value as J};

async fn once(store: &Path, ctx: &OpenContext) -> (f64, u64, u64) {
    let start = Instant::now();
    let args: Map<String, J> = [("urlpath".to_string(), json!(store.to_string_lossy()))]
        .into_iter()
        .collect();
    let source = NetcdfDriver.open(&args, ctx).await.expect("open");
    let mut stream = source.read(ReadRequest::default()).await.expect("read");
    let (mut rows, mut bytes) = (0u64, 0u64);
    while let Some(batch) = stream.next().await {
        let batch = batch.expect("batch");
        rows += batch.num_rows() as u64;
        // Slices share their chunk row's buffer: count what each slice holds, not the buffer.
        bytes += batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0) as u64)
            .sum::<u64>();
    }
    (start.elapsed().as_secs_f64(), rows, bytes)
}

fn main() {
    // `cargo bench` adds `--bench`; everything else positional.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(store) = args.first().map(PathBuf::from) else {
        eprintln!("usage: netcdf_read FILE.nc [repeats]  (see drivers/netcdf/benches/bench.sh)");
        return;
    };
    let repeats: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let store = store.canonicalize().expect("store path");
    let dir = store.parent().map(PathBuf::from).unwrap_or_default();
    let ctx = OpenContext {
        catalog_dir: dir.clone(),
        storage: Arc::new(StorageResolver::new([dir])),
        limits: Limits::default(),
        targets: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut times = vec![];
    let (mut rows, mut bytes) = (0, 0);
    for _ in 0..repeats.max(1) {
        let (t, r, b) = rt.block_on(once(&store, &ctx));
        times.push(t);
        (rows, bytes) = (r, b);
    }
    times.sort_by(f64::total_cmp);
    let line = json!({
        "reader": "inlet-netcdf",
        "store": store.to_string_lossy(),
        "rows": rows,
        "arrow_mb": bytes as f64 / 1e6,
        "best_s": times[0],
        "median_s": times[times.len() / 2],
        "peak_rss_mb": peak_rss_mb(),
        "read_concurrency": Limits::default().read_concurrency,
    });
    println!("{line}");
}
