//! The OPeNDAP driver against a real DAP2 server on loopback (pydap 3.4.1's server, run from
//! `target/pydap-venv` by tests/dap_server.py) serving the NetCDF driver's fixture files:
//! tables compared value for value with `xarray.open_dataset(file).to_dataframe().reset_index()`
//! of the served file (target/fixtures/expected/netcdf, made by
//! tests/fixtures/make_netcdf_fixtures.py), and the server's access log checked for what
//! crossed the network.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use inlet_driver::storage::StorageResolver;
use inlet_driver::testing::{assert_same, collect, context, expected, fixtures};
use inlet_driver::{Driver, DriverError, Limits, ReadRequest, Source};
use inlet_opendap::{Auth, OpendapDriver};
use serde_json::{json, Map, Value as J};

/// A pydap server over a temporary directory holding copies of fixture files.
struct DapServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn pydap_python() -> PathBuf {
    if let Some(p) = std::env::var_os("INLET_PYDAP_PYTHON") {
        return p.into();
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pydap-venv/bin/python");
    assert!(
        p.exists(),
        "{}: no pydap venv; run `bash scripts/pydap-venv.sh` (or set INLET_PYDAP_PYTHON)",
        p.display()
    );
    p
}

impl DapServer {
    fn start(files: &[&str], creds: Option<&str>) -> DapServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data dir");
        for f in files {
            let from = fixtures().join("netcdf").join(f);
            std::fs::copy(&from, data.join(f)).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; run scripts/test.sh's fixture step",
                    from.display()
                )
            });
        }
        let log = dir.path().join("access.log");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr file");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/dap_server.py");
        let mut cmd = Command::new(pydap_python());
        cmd.arg(&script).arg(&data).arg(&log);
        if let Some(c) = creds {
            cmd.arg(c);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the pydap server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let err =
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                panic!("the pydap server did not start: {line:?}\n{err}")
            });
        DapServer {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }

    /// The data requests so far (`.dods` constraints, brackets decoded), in order.
    fn dods_requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|p| p.split_once(".dods?").map(|(_, q)| q.to_string()))
            .map(|q| q.replace("%5B", "[").replace("%5D", "]"))
            .collect()
    }

    fn clear_log(&self) {
        std::fs::write(&self.log, "").expect("clear log");
    }
}

impl Drop for DapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn object(v: J) -> Map<String, J> {
    serde_json::from_value(v).expect("object")
}

async fn open(args: J) -> Result<Arc<dyn Source>, DriverError> {
    OpendapDriver.open(&object(args), &context()).await
}

async fn read(source: &Arc<dyn Source>, request: ReadRequest) -> RecordBatch {
    let d = source.discover().await.expect("discover");
    let schema = d.projected_schema(&request).expect("schema");
    collect(schema, source.read(request).await.expect("read")).await
}

/// The driver's table in xarray's pandas types (pandas keeps timestamps in ns and turns masked
/// integers into float64 with NaN; the values are the same).
fn like(got: &RecordBatch, want: &RecordBatch) -> RecordBatch {
    let columns = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()).expect("cast"))
        .collect();
    RecordBatch::try_new(Arc::new(Schema::clone(&want.schema())), columns).expect("batch")
}

/// Reads the NetCDF manifest case `case` through the server and compares with its table.
async fn check(server: &DapServer, case: &str) -> RecordBatch {
    let manifest: J = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("netcdf/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let c = &manifest["cases"][case];
    let file = c["urlpath"]
        .as_str()
        .expect("urlpath")
        .trim_start_matches("netcdf/");
    let mut args = c["args"].as_object().cloned().unwrap_or_default();
    args.insert("urlpath".into(), J::from(server.url(file)));
    let source = open(J::Object(args)).await.expect("open");
    let got = read(&source, ReadRequest::default()).await;
    let want = expected(c["expected"].as_str().expect("expected"));
    assert_same(&like(&got, &want), &want, case);
    got
}

#[tokio::test]
async fn whole_datasets_read_as_xarray_reads_the_served_files() {
    let server = DapServer::start(&["grid_nc4.nc", "grid_nc3.nc"], None);
    for case in [
        "grid_nc4",
        "grid_nc3",
        "grid_obs",
        "grid_flags_nc4",
        "grid_elevation",
        "grid_raw",
        "grid_drop",
    ] {
        check(&server, case).await;
    }
    // Catalog spellings: intake-xarray's args, ignored engine-only ones noted.
    let source = open(json!({
        "urlpath": server.url("grid_nc4.nc"),
        "auth": null,
        "engine": "pydap",
        "chunks": {},
    }))
    .await
    .expect("open");
    let d = source.discover().await.expect("discover");
    assert_eq!(d.total_rows, Some(420));
    assert!(
        d.warnings.iter().any(|w| w.contains("chunks")),
        "{:?}",
        d.warnings
    );
    assert_eq!(
        d.metadata["attributes"]["title"],
        json!("Inlet NetCDF fixture")
    );
}

#[tokio::test]
async fn isel_fetches_only_the_window() {
    let server = DapServer::start(&["grid_nc3.nc"], None);
    check(&server, "grid_isel").await;
    let mut got = server.dods_requests();
    got.sort();
    assert_eq!(
        got,
        [
            "air.air[5:1:9][0:1:6][1:1:2]",
            "count.count[5:1:9][0:1:6][1:1:2]",
            "lat[0:1:6]",
            "lon[1:1:2]",
            "precip.precip[5:1:9][0:1:6][1:1:2]",
            "time[5:1:9]",
        ]
    );
}

#[tokio::test]
async fn sel_reads_coordinates_then_only_the_window() {
    let server = DapServer::start(&["grid_nc4.nc"], None);
    check(&server, "grid_sel").await;
    let data: Vec<String> = server
        .dods_requests()
        .into_iter()
        .filter(|q| q.contains('.'))
        .collect();
    // 2020-01-03..06 are time[2..=5]; lat runs 30, 25, .. 0, so 20..10 is lat[2..=4].
    assert_eq!(data.len(), 3, "{data:?}");
    for q in &data {
        assert!(q.ends_with("[2:1:5][2:1:4][0:1:5]"), "{q}");
    }
}

#[tokio::test]
async fn partitions_are_windows_of_request_bytes_one_request_each() {
    let server = DapServer::start(&["big_nc4.nc"], None);
    let source = open(json!({
        "urlpath": server.url("big_nc4.nc"),
        "isel": {"time": [0, 8]},
        // 90 x 120 float32 per time step: two steps per request.
        "request_bytes": 100_000,
    }))
    .await
    .expect("open");
    let d = source.discover().await.expect("discover");
    assert_eq!(d.partitions.len(), 4);
    server.clear_log();
    let got = read(&source, ReadRequest::default()).await;
    let want = expected("expected/netcdf/big_nc4_window.arrow");
    assert_same(&like(&got, &want), &want, "big_nc4_window");
    let air: Vec<String> = server
        .dods_requests()
        .into_iter()
        .filter(|q| q.starts_with("air.air"))
        .collect();
    let mut sorted = air.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "air.air[0:1:1][0:1:89][0:1:119]",
            "air.air[2:1:3][0:1:89][0:1:119]",
            "air.air[4:1:5][0:1:89][0:1:119]",
            "air.air[6:1:7][0:1:89][0:1:119]",
        ]
    );
}

#[tokio::test]
async fn failures_are_typed_and_name_the_url() {
    let server = DapServer::start(&["grid_nc4.nc", "garbage.nc"], None);
    let missing_var = open(json!({"urlpath": server.url("grid_nc4.nc"), "variables": ["nosuch"]}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("no such variable");
    assert!(
        matches!(&missing_var, DriverError::BadArg { arg, message } if arg == "variables" && message.contains("nosuch") && message.contains("grid_nc4.nc")),
        "{missing_var}"
    );
    let e = open(json!({"urlpath": server.url("nosuch.nc")}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("404");
    assert!(
        matches!(&e, DriverError::NotFound(m) if m.contains("nosuch.nc")),
        "{e}"
    );
    let e = open(json!({"urlpath": server.url("garbage.nc")}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("DAP error");
    assert!(
        matches!(&e, DriverError::Io(m) if m.contains("garbage.nc") && m.contains("DAP server answered error")),
        "{e}"
    );
    let e = open(json!({"urlpath": "ftp://127.0.0.1/x.nc"}))
        .await
        .err()
        .expect("not http");
    assert!(matches!(e, DriverError::BadArg { .. }), "{e}");
    let e = open(json!({"urlpath": server.url("grid_nc4.nc"), "engine": "h5netcdf"}))
        .await
        .err()
        .expect("engine");
    assert!(
        matches!(e, DriverError::BadArg { ref arg, .. } if arg == "engine"),
        "{e}"
    );
    // The operator's host list applies to DAP servers as to object stores.
    let storage =
        Arc::new(StorageResolver::default().with_allowed_hosts(["data.example.org".to_string()]));
    let e = OpendapDriver::source(
        &server.url("grid_nc4.nc"),
        Auth::None,
        &Map::new(),
        storage,
        &Limits::default(),
    )
    .err()
    .expect("denied");
    assert!(matches!(e, DriverError::Denied(_)), "{e}");
}

#[tokio::test]
async fn generic_http_auth_sends_basic_credentials() {
    let server = DapServer::start(&["grid_nc4.nc"], Some("alice:s3cret"));
    let url = server.url("grid_nc4.nc");
    let e = open(json!({"urlpath": url}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("401");
    assert!(
        matches!(&e, DriverError::Io(m) if m.contains("401") && m.contains("generic_http") && m.contains("grid_nc4.nc")),
        "{e}"
    );
    // As intake-xarray: `auth: generic_http` with DAP_USER/DAP_PASSWORD from the environment
    // (nextest runs each test in its own process).
    std::env::set_var("DAP_USER", "alice");
    std::env::set_var("DAP_PASSWORD", "s3cret");
    let source = open(json!({"urlpath": url, "auth": "generic_http", "variables": ["air"]}))
        .await
        .expect("open");
    let got = read(&source, ReadRequest::default()).await;
    assert_eq!(got.num_rows(), 420);
    std::env::set_var("DAP_PASSWORD", "wrong");
    let e = open(json!({"urlpath": url, "auth": "generic_http"}))
        .await
        .expect("open")
        .discover()
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, DriverError::Io(m) if m.contains("refused")),
        "{e}"
    );
}
