//! Reads an OPeNDAP dataset whole, streaming, and reports rows, batches and wall time:
//!
//!     cargo run --release -p inlet-opendap --example read_url -- URL [VARIABLE]
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use inlet_driver::storage::StorageResolver;
use inlet_driver::{Limits, ReadRequest};
use inlet_opendap::{Auth, OpendapDriver};
use serde_json::{json, Map};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = std::env::args().skip(1);
    let url = argv.next().ok_or("usage: read_url URL [VARIABLE]")?;
    let mut args = Map::new();
    if let Some(v) = argv.next() {
        args.insert("variables".into(), json!([v]));
    }
    let start = Instant::now();
    let storage = Arc::new(StorageResolver::default());
    let source = OpendapDriver::source(&url, Auth::None, &args, storage, &Limits::default())?;
    let d = source.discover().await?;
    let mut stream = source.read(ReadRequest::default()).await?;
    let (mut rows, mut batches) = (0usize, 0usize);
    while let Some(b) = stream.next().await {
        rows += b?.num_rows();
        batches += 1;
    }
    println!(
        "{rows} rows ({} columns) in {batches} batches, {} partitions: {:.2} s",
        d.schema.fields().len(),
        d.partitions.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
