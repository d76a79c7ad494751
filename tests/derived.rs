//! Derived sources (Intake's alias, Columns, DataFramePipeline) over a real `inlet serve` on
//! tests/data/derived: pyarrow reads each entry and tests/clients/check_derived.py compares it
//! with pandas doing the same operations on the same CSV files; errors are checked there too.

mod common;

use std::path::Path;
use std::process::Command;

use common::InletServer;

#[test]
fn derived_sources_read_as_pandas_computes_them() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = repo.join("tests/data/derived");
    let server = InletServer::start(
        &[
            "--catalog",
            data.join("catalog.yaml").to_str().expect("utf8"),
        ],
        &[],
    );
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_derived.py"))
        .arg(&server.base)
        .arg(&data)
        .arg(&server.flight)
        .output()
        .expect("run check_derived.py");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "check_derived.py failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
