//! Resumable streams against a real `inlet serve`: tests/clients/check_resume.py cuts reads of
//! Parquet, CSV, Avro and Zarr sources at random batches (dropping the client, and through a
//! loopback proxy that closes the connection) and resumes them with `from_batch` over `/data`,
//! HTTP tickets and Flight; it also checks `from_batch` past the end, bad values (422), a file
//! replaced between the requests (409) and the README's helper. This starts the server.

mod common;

use std::path::Path;
use std::process::Command;

use common::InletServer;

#[test]
fn cut_reads_resume_to_the_same_table() {
    let fx = inlet_driver::testing::fixtures();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let changing = dir.join("changing.parquet");
    std::fs::copy(fx.join("parquet/multi/part-0000.parquet"), &changing).expect("copy");
    let yaml = format!(
        "sources:
  parquet:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/multi/*.parquet'}}
  csv:
    driver: csv
    args: {{urlpath: '{fx}/csv/big.csv'}}
  avro:
    driver: avro_table
    args: {{urlpath: '{fx}/avro/codec_deflate.avro'}}
  zarr:
    driver: zarr
    args: {{urlpath: '{fx}/zarr/grid_v3.zarr'}}
  changing:
    driver: parquet
    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/changing.parquet'}}
",
        fx = fx.display()
    );
    common::write_catalog(dir, "rs.yaml", &yaml);
    let server = InletServer::start(
        &[
            "--catalog",
            dir.join("rs.yaml").to_str().expect("utf8"),
            "--allow-path",
            fx.to_str().expect("utf8"),
        ],
        // Small batches: every source has many; files are listed again on every request, so a
        // replaced file is seen at once.
        &[("INLET_BATCH_SIZE", "64"), ("INLET_RELIST_SECS", "0")],
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = std::env::var("INLET_RESUME_SEED").unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            .to_string()
    });
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_resume.py"))
        .arg(&server.base)
        .arg(&server.flight)
        .arg(repo.join("README.md"))
        .arg(&changing)
        .arg(&seed)
        .output()
        .expect("run check_resume.py");
    assert!(
        out.status.success(),
        "check_resume.py failed ({}; replay with INLET_RESUME_SEED={seed}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
