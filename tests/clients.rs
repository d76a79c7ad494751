//! Real Python clients (pyarrow, polars, pandas, duckdb) against a real `inlet serve`:
//! tests/clients/check_clients.py does the reading and comparing; this starts the server.

mod common;

use std::path::Path;
use std::process::Command;

use common::InletServer;

#[test]
fn python_clients_read_what_the_server_streams() {
    let fixtures = inlet_driver::testing::fixtures();
    let tmp = tempfile::tempdir().expect("tmp");
    let catalog_dir = tmp.path().join("catalogs");
    std::fs::create_dir(&catalog_dir).expect("mkdir");
    let types = fixtures.join("parquet/types.parquet");
    let yaml = format!(
        "sources:\n  types:\n    driver: parquet\n    args:\n      urlpath: '{}'\n",
        types.display()
    );
    common::write_catalog(&catalog_dir, "fx.yaml", &yaml);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = InletServer::start(
        &[
            "--catalog",
            catalog_dir.to_str().expect("utf8"),
            "--catalog",
            "catalogs",
            "--allow-path",
            fixtures.to_str().expect("utf8"),
        ],
        &[],
    );
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_clients.py"))
        .arg(&server.base)
        .arg(&fixtures)
        .output()
        .expect("run check_clients.py");
    assert!(
        out.status.success(),
        "check_clients.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
