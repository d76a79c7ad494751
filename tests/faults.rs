//! Faults on the way to storage: a loopback HTTP server serves one CSV file and fails its first
//! GETs the way a flaky network or backend does (503, a reset connection, a body cut short).
//! Transient faults are retried (`storage_retries`, with backoff) and the read succeeds; a fault
//! that persists ends as an error the client sees, in bounded time. The same faults are then
//! injected by a proxy in front of a real S3 server (moto) on Parquet range reads.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{InletServer, S3Server};
use reqwest::{Client, StatusCode};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    /// `503 Service Unavailable`.
    Unavailable,
    /// The connection is closed without an answer.
    Reset,
    /// `200` with the full `Content-Length`, then half the body and a closed connection.
    Truncated,
}

/// The faulty server: once armed, `faults` GETs fail as `fault`, later ones are answered.
/// (Armed after Inlet has discovered the source, so the faults hit the read under test, not the
/// background discovery.)
struct FlakyServer {
    addr: String,
    /// GETs since armed.
    gets: Arc<AtomicUsize>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

fn body() -> Vec<u8> {
    let mut text = String::from("id,name\n");
    for i in 0..20_000 {
        text.push_str(&format!("{i},name {i}\n"));
    }
    text.into_bytes()
}

fn serve(mut conn: TcpStream, body: &[u8], fault: Option<Fault>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // `Range: bytes=N-` or `bytes=N-M`: how a client resumes a body cut short.
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(spec) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (from, to) = spec.trim().split_once('-').unwrap_or((spec.trim(), ""));
            let from: usize = from.parse().unwrap_or(0);
            let to: usize = to
                .parse()
                .map_or(body.len() - 1, |t: usize| t.min(body.len() - 1));
            range = Some((from, to));
        }
    }
    let head = |status: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/csv\r\n\
             Last-Modified: Mon, 30 Nov 2026 12:00:00 GMT\r\nETag: \"v1\"\r\n\
             Connection: close\r\n\r\n",
            body.len()
        )
    };
    if request_line.starts_with("HEAD") {
        return conn.write_all(head("200 OK").as_bytes());
    }
    let (head, part) = match range {
        Some((from, to)) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\n\
                 Content-Range: bytes {from}-{to}/{}\r\nETag: \"v1\"\r\n\
                 Connection: close\r\n\r\n",
                to + 1 - from,
                body.len()
            ),
            &body[from..=to],
        ),
        None => (head("200 OK"), body),
    };
    match fault {
        None => {
            conn.write_all(head.as_bytes())?;
            conn.write_all(part)
        }
        Some(Fault::Unavailable) => conn.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        Some(Fault::Reset) => conn.shutdown(std::net::Shutdown::Both),
        Some(Fault::Truncated) => {
            conn.write_all(head.as_bytes())?;
            conn.write_all(&part[..part.len() / 2])?;
            conn.shutdown(std::net::Shutdown::Both)
        }
    }
}

impl FlakyServer {
    fn start(fault: Fault, faults: usize) -> FlakyServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let gets = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (counter, on) = (gets.clone(), armed.clone());
        let body = Arc::new(body());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (counter, body, on) = (counter.clone(), body.clone(), on.clone());
                std::thread::spawn(move || {
                    // Peek at the method: only GETs count and fail.
                    let mut first = [0u8; 4];
                    let is_get = conn.peek(&mut first).is_ok_and(|_| &first[..3] == b"GET");
                    let counted = is_get && on.load(Ordering::SeqCst);
                    let fault = (counted && counter.fetch_add(1, Ordering::SeqCst) < faults)
                        .then_some(fault);
                    let _ = serve(conn, &body, fault);
                });
            }
        });
        FlakyServer { addr, gets, armed }
    }
}

fn inlet(dir: &std::path::Path, flaky: &FlakyServer, retries: &str) -> InletServer {
    inlet_driver::storage::ensure_tls_provider();
    let cat = dir.join("faults.yaml");
    std::fs::write(
        &cat,
        format!(
            "sources:\n  flaky:\n    driver: csv\n    args: {{urlpath: 'http://{}/data.csv'}}\n",
            flaky.addr
        ),
    )
    .expect("catalog");
    InletServer::start(
        &["--catalog", cat.to_str().expect("utf8")],
        &[
            ("INLET_STORAGE_RETRIES", retries),
            ("INLET_STORAGE_BACKOFF_MS", "10"),
            ("INLET_STORAGE_RETRY_TIMEOUT_SECS", "10"),
            // One listing for the whole test: the faults hit reads only.
            ("INLET_RELIST_SECS", "3600"),
        ],
    )
}

/// Discovers the source (no fault yet), then arms the faults.
async fn discovered_then_armed(server: &InletServer, flaky: &FlakyServer) {
    let d = server.json("/api/v1/sources/faults.flaky").await;
    assert!(d.get("discovery").is_some(), "{d}");
    flaky.armed.store(true, Ordering::SeqCst);
}

/// The rows of a CSV answer, or why it is not a complete one.
async fn read(server: &InletServer) -> Result<usize, String> {
    let r = Client::new()
        .get(server.url("/api/v1/sources/faults.flaky/data?format=csv"))
        .send()
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = r.status();
    let text = r.text().await.map_err(|e| format!("body: {e}"))?;
    if status != StatusCode::OK {
        return Err(format!("{status}: {text}"));
    }
    Ok(text.lines().count() - 1)
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_are_retried_and_the_read_succeeds() {
    for fault in [Fault::Unavailable, Fault::Reset, Fault::Truncated] {
        let dir = tempfile::tempdir().expect("tmp");
        let flaky = FlakyServer::start(fault, 2);
        let server = inlet(dir.path(), &flaky, "3");
        discovered_then_armed(&server, &flaky).await;
        assert_eq!(read(&server).await, Ok(20_000), "{fault:?}");
        // Two faults, one success. A reset may also be seen by the HTTP client on a pooled
        // connection it then retries once by itself (hyper), so a reset may count one more.
        let gets = flaky.gets.load(Ordering::SeqCst);
        let most = if fault == Fault::Reset { 4 } else { 3 };
        assert!(
            (3..=most).contains(&gets),
            "{fault:?}: two faults, one success; {gets} GETs"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_faults_end_as_errors_the_client_sees() {
    for fault in [Fault::Unavailable, Fault::Reset, Fault::Truncated] {
        let dir = tempfile::tempdir().expect("tmp");
        let flaky = FlakyServer::start(fault, usize::MAX);
        let server = inlet(dir.path(), &flaky, "2");
        discovered_then_armed(&server, &flaky).await;
        let started = Instant::now();
        let got = read(&server).await;
        assert!(
            got.is_err(),
            "{fault:?}: a persistent fault read as {got:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{fault:?}");
        // Tried, and retried twice.
        assert_eq!(flaky.gets.load(Ordering::SeqCst), 3, "{fault:?}");
    }
}

/// With retries off, the first transient fault is the answer.
#[tokio::test(flavor = "multi_thread")]
async fn storage_retries_zero_turns_retrying_off() {
    let dir = tempfile::tempdir().expect("tmp");
    let flaky = FlakyServer::start(Fault::Unavailable, 1);
    let server = inlet(dir.path(), &flaky, "0");
    discovered_then_armed(&server, &flaky).await;
    let got = read(&server).await;
    assert!(got.as_ref().is_err_and(|e| e.starts_with("502")), "{got:?}");
    assert_eq!(read(&server).await, Ok(20_000));
}

/// A proxy in front of a real S3 server (moto) that fails GETs once armed: one request per
/// client connection, forwarded on a fresh upstream connection, so every GET is seen whole.
struct FaultProxy {
    addr: String,
    gets: Arc<AtomicUsize>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

/// Reads one HTTP message head (through the blank line) and its `Content-Length` body (none
/// when `bodiless`: the answer to a HEAD).
fn read_message(
    reader: &mut impl BufRead,
    bodiless: bool,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        let end = line == "\r\n";
        head.extend_from_slice(line.as_bytes());
        if end {
            break;
        }
    }
    let mut body = vec![0u8; if bodiless { 0 } else { length }];
    std::io::Read::read_exact(reader, &mut body)?;
    Ok(Some((head, body)))
}

fn proxy_one(conn: TcpStream, upstream: &str, fault: Option<Fault>) -> std::io::Result<()> {
    let mut client = BufReader::new(conn.try_clone()?);
    let Some((head, body)) = read_message(&mut client, false)? else {
        return Ok(());
    };
    let is_head = head.starts_with(b"HEAD ");
    let mut conn = conn;
    match fault {
        Some(Fault::Unavailable) => return conn.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        Some(Fault::Reset) => return conn.shutdown(std::net::Shutdown::Both),
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(&head)?;
    up.write_all(&body)?;
    let mut answer = BufReader::new(up);
    let Some((head, body)) = read_message(&mut answer, is_head)? else {
        return conn.shutdown(std::net::Shutdown::Both);
    };
    conn.write_all(&head)?;
    if matches!(fault, Some(Fault::Truncated)) {
        conn.write_all(&body[..body.len() / 2])?;
    } else {
        conn.write_all(&body)?;
    }
    conn.shutdown(std::net::Shutdown::Both)
}

impl FaultProxy {
    fn start(upstream: &str, fault: Fault, faults: usize) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let gets = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (counter, on) = (gets.clone(), armed.clone());
        let upstream = upstream.trim_start_matches("http://").to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (counter, on, upstream) = (counter.clone(), on.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let mut first = [0u8; 4];
                    let is_get = conn.peek(&mut first).is_ok_and(|_| &first[..3] == b"GET");
                    let counted = is_get && on.load(Ordering::SeqCst);
                    let fault = (counted && counter.fetch_add(1, Ordering::SeqCst) < faults)
                        .then_some(fault);
                    let _ = proxy_one(conn, &upstream, fault);
                });
            }
        });
        FaultProxy { addr, gets, armed }
    }
}

/// A bucket holding one Parquet file of 3 row groups, written through the proxy (unarmed).
async fn s3_with_parquet(s3: &S3Server) -> (usize, Vec<u8>) {
    inlet_driver::storage::ensure_tls_provider();
    let client = Client::new();
    let ep = &s3.endpoint;
    let r = client
        .put(format!("{ep}/faulty"))
        .send()
        .await
        .expect("bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("t.parquet");
    let out = std::process::Command::new(common::python())
        .args([
            "-c",
            "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
             n = 30000\n\
             t = pa.table({'id': pa.array(range(n), pa.int64()), 'v': [f'row {i}' for i in range(n)]})\n\
             pq.write_table(t, sys.argv[1], row_group_size=10000)",
            file.to_str().expect("utf8"),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&file).expect("parquet");
    let r = client
        .put(format!("{ep}/faulty/t.parquet"))
        .header("x-amz-acl", "public-read")
        .body(bytes.clone())
        .send()
        .await
        .expect("put");
    assert!(r.status().is_success(), "upload: {}", r.status());
    (30_000, bytes)
}

fn inlet_on_s3(dir: &std::path::Path, proxy: &FaultProxy, retries: &str) -> InletServer {
    inlet_driver::storage::ensure_tls_provider();
    let cat = dir.join("s3faults.yaml");
    std::fs::write(
        &cat,
        format!(
            "sources:\n  t:\n    driver: parquet\n    args:\n      urlpath: s3://faulty/t.parquet\n      \
             storage_options: {{anon: true, endpoint_url: 'http://{}', region: us-east-1}}\n",
            proxy.addr
        ),
    )
    .expect("catalog");
    InletServer::start(
        &["--catalog", cat.to_str().expect("utf8")],
        &[
            ("INLET_STORAGE_RETRIES", retries),
            ("INLET_STORAGE_BACKOFF_MS", "10"),
            ("INLET_STORAGE_RETRY_TIMEOUT_SECS", "10"),
            ("INLET_RELIST_SECS", "3600"),
        ],
    )
}

/// Rows of an Arrow IPC answer read by pyarrow (which fails on a stream that ends in an error
/// or is cut short), or why there are none.
fn read_ipc_rows(server: &InletServer, path: &str) -> Result<usize, String> {
    let out = std::process::Command::new(common::python())
        .args([
            "-c",
            "import sys, urllib.request, pyarrow as pa\n\
             with urllib.request.urlopen(sys.argv[1]) as r:\n    \
                 t = pa.ipc.open_stream(r).read_all()\n\
             assert t.column('id').to_pylist() == list(range(t.num_rows)), 'rows out of order'\n\
             print(t.num_rows)",
            &server.url(path),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("{e}"))
}

async fn s3_discovered_then_armed(server: &InletServer, proxy: &FaultProxy) {
    let d = server.json("/api/v1/sources/s3faults.t").await;
    assert_eq!(d["discovery"]["total_rows"], 30_000, "{d}");
    proxy.armed.store(true, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_transient_faults_on_range_reads_are_retried() {
    let s3 = S3Server::start();
    let (rows, _) = s3_with_parquet(&s3).await;
    for fault in [Fault::Unavailable, Fault::Reset, Fault::Truncated] {
        let dir = tempfile::tempdir().expect("tmp");
        // Every row group's first GET fails once: 3 row groups, 3 faults.
        let proxy = FaultProxy::start(&s3.endpoint, fault, 3);
        let server = inlet_on_s3(dir.path(), &proxy, "3");
        s3_discovered_then_armed(&server, &proxy).await;
        let got = read_ipc_rows(&server, "/api/v1/sources/s3faults.t/data");
        assert_eq!(got, Ok(rows), "{fault:?}");
        assert!(
            proxy.gets.load(Ordering::SeqCst) > 3,
            "{fault:?}: the faulted GETs were retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_persistent_faults_end_as_errors_the_client_sees() {
    let s3 = S3Server::start();
    s3_with_parquet(&s3).await;
    for fault in [Fault::Unavailable, Fault::Reset, Fault::Truncated] {
        let dir = tempfile::tempdir().expect("tmp");
        let proxy = FaultProxy::start(&s3.endpoint, fault, usize::MAX);
        let server = inlet_on_s3(dir.path(), &proxy, "2");
        s3_discovered_then_armed(&server, &proxy).await;
        let started = Instant::now();
        let got = read_ipc_rows(&server, "/api/v1/sources/s3faults.t/data");
        assert!(
            got.is_err(),
            "{fault:?}: a persistent fault read as {got:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{fault:?}");
        let gets = proxy.gets.load(Ordering::SeqCst);
        assert!(
            gets >= 3,
            "{fault:?}: tried and retried twice, saw {gets} GETs"
        );
    }
}
