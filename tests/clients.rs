//! Real Python clients (pyarrow, polars, pandas, duckdb) against a real `inlet serve`:
//! tests/clients/check_clients.py does the reading and comparing; this starts the server.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The running server; killed when dropped, so a failed assertion does not leak it.
struct Server {
    child: Child,
    base: String,
    /// Kept open: the server must not write into a closed pipe.
    _stdout: ChildStdout,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(catalogs: &[&Path], allow: &Path, tmp: &Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.args(["serve", "--http", "127.0.0.1:0"]);
    for c in catalogs {
        cmd.arg("--catalog").arg(c);
    }
    let log = std::fs::File::create(tmp.join("server.log")).expect("create server.log");
    let mut child = cmd
        .arg("--allow-path")
        .arg(allow)
        .env("INLET_TICKET_KEY_FILE", tmp.join("ticket.key"))
        .env_remove("INLET_CATALOGS")
        .env_remove("INLET_ALLOW_PATHS")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("start inlet serve");
    let mut line = String::new();
    let mut stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(&mut stdout)
        .read_line(&mut line)
        .expect("read the server's first line");
    let base = line
        .trim()
        .strip_prefix("inlet listening on ")
        .map(str::to_string);
    let server = Server {
        child,
        base: base.unwrap_or_default(),
        _stdout: stdout,
    };
    assert!(
        !server.base.is_empty(),
        "inlet serve did not start: stdout {line:?}, log:\n{}",
        std::fs::read_to_string(tmp.join("server.log")).unwrap_or_default()
    );
    server
}

#[test]
fn python_clients_read_what_the_server_streams() {
    let fixtures = inlet_driver::testing::fixtures();
    let tmp = tempfile::tempdir().expect("tmp");
    let catalog_dir = tmp.path().join("catalogs");
    std::fs::create_dir(&catalog_dir).expect("mkdir");
    let types = fixtures.join("parquet/types.parquet");
    common::write_catalog(
        &catalog_dir,
        "fx.yaml",
        &format!(
            "sources:\n  types:\n    driver: parquet\n    args:\n      urlpath: '{}'\n",
            types.display()
        ),
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = serve(
        &[catalog_dir.as_path(), repo.join("catalogs").as_path()],
        &fixtures,
        tmp.path(),
    );
    let out = Command::new(common::python())
        .arg(repo.join("tests/clients/check_clients.py"))
        .arg(&server.base)
        .arg(&fixtures)
        .output()
        .expect("run check_clients.py");
    assert!(
        out.status.success(),
        "check_clients.py failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(tmp.path().join("server.log")).unwrap_or_default()
    );
}
