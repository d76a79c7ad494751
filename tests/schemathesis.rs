//! schemathesis (PyPI) against a real `inlet serve` on the example catalogs, from the served
//! OpenAPI document: every documented route, no 5xx, answers (status, content type, body) that
//! match the spec. Bounded: `INLET_SCHEMATHESIS_EXAMPLES` per operation (default 25).

mod common;

use std::path::Path;
use std::process::Command;

use common::InletServer;

#[test]
fn the_served_spec_holds_under_schemathesis() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = common::python().with_file_name("st");
    assert!(
        st.exists(),
        "no schemathesis at {}: run `bash scripts/pyenv.sh`",
        st.display()
    );
    let server = InletServer::start(&[], &[]);
    let examples =
        std::env::var("INLET_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".to_string());
    // positive_data_acceptance is left out: a request can match the schema and still name a
    // parameter or column the source does not have, which is a documented 422.
    let out = Command::new(&st)
        .arg("--config-file")
        .arg(repo.join("tests/schemathesis/schemathesis.toml"))
        .arg("run")
        .arg(server.url("/openapi.json"))
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--max-examples", &examples, "--workers", "2"])
        .args(["--request-timeout", "20", "--seed", "1"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
