//! A server's start over N Parquet sources (default 10,000; `INLET_BENCH_SOURCES`): the first
//! start discovers every source (reads each footer) and records it in the state database; a
//! second start with the same files finds everything in that cache. Prints both times (from
//! loading the catalogs to the last source discovered) and the peak RSS.
//!
//!     cargo bench --bench cold_start
//!     INLET_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres cargo bench --bench cold_start
//!
//! (with PostgreSQL, in a database the bench creates and drops)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use inlet::config::ServeConfig;
use inlet::service::{builtin_drivers, tickets::TicketKey, Core};
use inlet::store::Store;

fn write_sources(dir: &Path, n: usize) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let mut yaml = String::from("sources:\n");
    for i in 0..n {
        let rows = 100;
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..rows)) as _),
            (
                "value",
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|r| r as f64 * 0.5),
                )) as _,
            ),
            (
                "label",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|r| format!("s{i}-{r}")),
                )) as _,
            ),
        ])
        .expect("batch");
        let file = std::fs::File::create(data.join(format!("s{i:05}.parquet"))).expect("file");
        let mut w =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
        yaml.push_str(&format!(
            "  s{i:05}:\n    description: Source {i} of the start benchmark\n    driver: parquet\n    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/data/s{i:05}.parquet'}}\n"
        ));
    }
    std::fs::write(dir.join("bench.yaml"), yaml).expect("catalog");
}

/// One start: seconds until every source is discovered.
async fn start(catalogs: &Path, state: &Path, url: Option<&str>, n: usize) -> f64 {
    let t = Instant::now();
    let store = Store::open(url, state).await.expect("store");
    let config = ServeConfig {
        catalogs: vec![catalogs.to_path_buf()],
        ..Default::default()
    };
    let core = Arc::new(Core::new(
        config,
        Arc::new(builtin_drivers()),
        TicketKey::new(vec![7u8; 32]),
        store.clone(),
    ));
    core.start();
    let want = format!("discovered {n}/{n}");
    while core.health().await.discovery != want {
        assert!(t.elapsed() < Duration::from_secs(600), "discovery stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    store.close().await;
    secs
}

fn main() {
    let n: usize = std::env::var("INLET_BENCH_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let admin = std::env::var("INLET_BENCH_POSTGRES_URL").ok();
    let dir = tempfile::tempdir().expect("tmp");
    let state = tempfile::tempdir().expect("tmp");
    let t = Instant::now();
    write_sources(dir.path(), n);
    println!(
        "wrote {n} Parquet sources in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::Connection;
        let db = format!("inlet_bench_{}", std::process::id());
        let url = match &admin {
            Some(admin) => {
                let mut c = sqlx::PgConnection::connect(admin).await.expect("postgres");
                sqlx::query(&format!("CREATE DATABASE {db}"))
                    .execute(&mut c)
                    .await
                    .expect("create");
                Some(format!(
                    "{}/{db}",
                    &admin[..admin.rfind('/').expect("a database in the URL")]
                ))
            }
            None => None,
        };
        let backend = if url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        };
        let cold = start(dir.path(), state.path(), url.as_deref(), n).await;
        println!("{backend}: first start (discovers {n} sources): {cold:.2} s");
        let warm = start(dir.path(), state.path(), url.as_deref(), n).await;
        println!("{backend}: second start (warm cache): {warm:.2} s");
        if let Some(admin) = &admin {
            let mut c = sqlx::PgConnection::connect(admin).await.expect("postgres");
            sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
                .execute(&mut c)
                .await
                .expect("drop");
        }
    });
    println!("peak RSS {:.0} MB", inlet_driver::testing::peak_rss_mb());
}
