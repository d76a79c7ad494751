//! Reads the 1M-row benchmark file with the driver and with the decoders it could have used.
//!
//!     INLET_AVRO_BENCH=1 $(bash scripts/pyenv.sh) tests/fixtures/make_avro_fixtures.py target/fixtures
//!     cargo bench -p inlet-avro --bench avro_read
//!     $(bash scripts/pyenv.sh) drivers/avro/benches/fastavro_read.py target/fixtures/avro-bench/bench_1m.avro
//!
//! `INLET_AVRO_BENCH_FILE` picks another file. Each variant runs 5 times; the best is shown.

use std::io::BufReader;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use inlet_avro::AvroDriver;
use inlet_driver::storage::StorageResolver;
use inlet_driver::{Limits, ReadRequest, Source};

const RUNS: usize = 5;

fn best(name: &str, bytes: u64, mut run: impl FnMut() -> usize) {
    let mut times = vec![];
    let mut rows = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        rows = run();
        times.push(t.elapsed());
    }
    let t = times.into_iter().min().unwrap_or(Duration::ZERO);
    let secs = t.as_secs_f64().max(1e-9);
    println!(
        "{name:<48} {:>8.1} ms  {:>6.2} M rows/s  {:>7.1} MB/s  ({rows} rows)",
        secs * 1e3,
        rows as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
}

fn main() {
    let path = std::env::var_os("INLET_AVRO_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/fixtures/avro-bench/bench_1m.avro")
        });
    let Ok(meta) = std::fs::metadata(&path) else {
        eprintln!(
            "{} is missing: run `INLET_AVRO_BENCH=1 $(bash scripts/pyenv.sh) \
             tests/fixtures/make_avro_fixtures.py target/fixtures`",
            path.display()
        );
        std::process::exit(2);
    };
    let bytes = meta.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rt = &rt;
    let dir = path.parent().expect("dir").to_path_buf();
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    println!("{} ({bytes} bytes), best of {RUNS}", path.display());

    let (dir, name) = (&dir, &name);
    let driver = |blocksize: Option<u64>, concurrency: usize, columns: Option<Vec<String>>| {
        let limits = Limits {
            read_concurrency: concurrency,
            ..Limits::default()
        };
        let files = rt
            .block_on(StorageResolver::default().resolve(&name.clone().into(), None, dir))
            .expect("resolve");
        let source: Arc<dyn Source> = AvroDriver::source(files, blocksize, &limits, vec![]);
        move || {
            rt.block_on(async {
                let request = ReadRequest {
                    projection: columns.clone(),
                    ..ReadRequest::default()
                };
                let stream = source.read(request).await.expect("read");
                stream
                    .try_fold(0, |n, b| async move { Ok(n + b.num_rows()) })
                    .await
                    .expect("rows")
            })
        }
    };
    best(
        "inlet-avro, 1 partition, 1 thread",
        bytes,
        driver(None, 1, None),
    );
    for mib in [4, 8, 16, 32] {
        best(
            &format!("inlet-avro, {mib} MiB ranges, 2 threads"),
            bytes,
            driver(Some(mib << 20), 2, None),
        );
    }
    best(
        "inlet-avro, 1 partition, columns id+value",
        bytes,
        driver(None, 1, Some(vec!["id".into(), "value".into()])),
    );
    best("arrow-avro sync Reader (whole-block decode)", bytes, || {
        let file = std::fs::File::open(&path).expect("open");
        let reader = arrow_avro::reader::ReaderBuilder::new()
            .with_batch_size(64 * 1024)
            .build(BufReader::with_capacity(256 * 1024, file))
            .expect("reader");
        reader.map(|b| b.expect("batch").num_rows()).sum()
    });
    best("apache-avro Reader -> Values (no Arrow)", bytes, || {
        let file = std::fs::File::open(&path).expect("open");
        let reader =
            apache_avro::Reader::new(BufReader::with_capacity(256 * 1024, file)).expect("reader");
        reader.map(|v| v.map(|_| 1).expect("value")).sum()
    });
}
