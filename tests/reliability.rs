//! Timeouts a production server needs: a client that stops reading loses its stream (and frees
//! its slot), storage that never answers is a 504 in bounded time, headers that never finish
//! close the connection, and SIGTERM ends stalled streams after the grace period.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::InletServer;
use inlet_driver::testing::fixtures;
use reqwest::{Client, StatusCode};

fn catalog(dir: &Path, silent: &str) -> PathBuf {
    let yaml = format!(
        "sources:
  big:
    driver: parquet
    args: {{urlpath: '{}/parquet/big.parquet'}}
  silent:
    driver: csv
    args: {{urlpath: 'http://{silent}/x.csv'}}
",
        fixtures().display()
    );
    let path = dir.join("rel.yaml");
    std::fs::write(&path, yaml).expect("catalog");
    path
}

fn start(dir: &Path, silent: &str, envs: &[(&str, &str)]) -> InletServer {
    inlet_driver::storage::ensure_tls_provider();
    let cat = catalog(dir, silent);
    let fx = fixtures();
    InletServer::start(
        &[
            "--catalog",
            cat.to_str().expect("utf8"),
            "--allow-path",
            fx.to_str().expect("utf8"),
        ],
        envs,
    )
}

/// A TCP server that accepts connections and never answers.
fn silent_server() -> (std::net::TcpListener, String) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    (l, addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_loses_its_stream_and_slot() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_silent, addr) = silent_server();
    let server = start(
        dir.path(),
        &addr,
        &[
            ("INLET_STREAM_IDLE_TIMEOUT_SECS", "1"),
            ("INLET_MAX_STREAMS", "1"),
        ],
    );
    let c = Client::new();
    let mut stalled = c
        .get(server.url("/api/v1/sources/rel.big/data"))
        .send()
        .await
        .expect("stream");
    assert_eq!(stalled.status(), StatusCode::OK);
    let first = stalled.chunk().await.expect("chunk");
    assert!(first.is_some());
    // The only slot is taken while the client reads nothing ...
    let busy = c
        .get(server.url("/api/v1/sources/rel.big/data?limit=1"))
        .send()
        .await
        .expect("second");
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    // ... and freed once it has read nothing for the idle timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = c
            .get(server.url("/api/v1/sources/rel.big/data?limit=1"))
            .send()
            .await
            .expect("retry");
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled stream kept its slot"
        );
    }
    // The stalled client then sees a failed transfer, not a clean end.
    let mut outcome = Ok(());
    loop {
        match stalled.chunk().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    assert!(outcome.is_err(), "the aborted stream ended cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_that_never_answers_is_a_504_in_bounded_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_silent, addr) = silent_server();
    let server = start(dir.path(), &addr, &[("INLET_FIRST_BYTE_TIMEOUT_SECS", "2")]);
    let started = Instant::now();
    let r = Client::new()
        .get(server.url("/api/v1/sources/rel.silent/data"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let p: serde_json::Value = r.json().await.expect("problem");
    assert_eq!(p["type"], "/problems/storage-timeout");
}

#[test]
fn headers_that_never_finish_close_the_connection() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_silent, addr) = silent_server();
    let server = start(dir.path(), &addr, &[("INLET_HEADER_TIMEOUT_SECS", "1")]);
    let host = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
        .expect("partial headers");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 512];
    // The server closes (or answers 408 and closes); it does not wait for the rest.
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break false,
            Err(_) => break true,
        }
    };
    assert!(closed, "the connection stayed open with half the headers");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_stalled_streams_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_silent, addr) = silent_server();
    let mut server = start(dir.path(), &addr, &[("INLET_SHUTDOWN_GRACE_SECS", "1")]);
    let mut stalled = Client::new()
        .get(server.url("/api/v1/sources/rel.big/data"))
        .send()
        .await
        .expect("stream");
    let _ = stalled.chunk().await.expect("first chunk");
    let pid = server.pid();
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(_)) = server.child.try_wait() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a stalled stream kept the process alive"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "no grace at all"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_share_one_memory_budget_and_a_read_without_room_is_a_503() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_silent, addr) = silent_server();
    let server = start(
        dir.path(),
        &addr,
        &[
            ("INLET_MAX_INFLIGHT_BYTES", "1048576"),
            ("INLET_BUDGET_WAIT_MS", "300"),
        ],
    );
    let c = Client::new();
    // A client that reads one chunk and stalls keeps its row group's reservation ...
    let mut stalled = c
        .get(server.url("/api/v1/sources/rel.big/data"))
        .send()
        .await
        .expect("stream");
    assert_eq!(stalled.status(), StatusCode::OK);
    let _ = stalled.chunk().await.expect("first chunk");
    // (Until the socket buffers are full the stalled stream still moves, and the fair budget
    // would serve a waiting read in turn; give it time to block.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // ... so another read finds no budget within the wait: 503 + Retry-After, not an OOM.
    let r = c
        .get(server.url("/api/v1/sources/rel.big/data"))
        .send()
        .await
        .expect("second");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let inflight: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("inlet_inflight_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .expect("inlet_inflight_bytes");
    assert!(
        inflight > 0.0 && inflight <= 1048576.0,
        "the stalled stream holds part of the budget: {inflight}"
    );
    // Once the stalled stream is gone, reads go through again.
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c
            .get(server.url("/api/v1/sources/rel.big/data?limit=10"))
            .send()
            .await
            .expect("retry");
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the budget was not returned");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A file rewritten after discovery: the read that finds it changed is a 409 `data-changed`
/// (not the old listing over the new bytes), and the next read lists and discovers it again.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_changed_after_discovery_is_a_409_then_read_fresh() {
    inlet_driver::storage::ensure_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("moving.csv");
    std::fs::write(&data, "id\n1\n2\n3\n").expect("data");
    let cat = dir.path().join("rel.yaml");
    std::fs::write(
        &cat,
        "sources:\n  moving:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/moving.csv'}\n",
    )
    .expect("catalog");
    let server = InletServer::start(&["--catalog", cat.to_str().expect("utf8")], &[]);
    let c = Client::new();
    let rows = |body: &str| body.lines().count() - 1;
    let url = server.url("/api/v1/sources/rel.moving/data?format=csv");
    let first = c.get(&url).send().await.expect("read");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(rows(&first.text().await.expect("body")), 3);

    std::fs::write(&data, "id\n1\n2\n3\n4\n5\n").expect("rewrite");
    let changed = c.get(&url).send().await.expect("read");
    assert_eq!(changed.status(), StatusCode::CONFLICT);
    let problem: serde_json::Value = changed.json().await.expect("problem+json");
    assert_eq!(problem["type"], "/problems/data-changed", "{problem}");

    let fresh = c.get(&url).send().await.expect("read");
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(rows(&fresh.text().await.expect("body")), 5);
}

/// A new file matching a glob used to stay invisible until the catalog was touched: listings
/// are redone every `relist_secs`, and describe follows.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_file_matching_a_glob_is_served_after_relist_secs() {
    inlet_driver::storage::ensure_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("parts")).expect("mkdir");
    std::fs::write(dir.path().join("parts/a.csv"), "id\n1\n2\n3\n").expect("data");
    let cat = dir.path().join("rel.yaml");
    std::fs::write(
        &cat,
        "sources:\n  parts:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/parts/*.csv'}\n",
    )
    .expect("catalog");
    let server = InletServer::start(
        &["--catalog", cat.to_str().expect("utf8")],
        &[("INLET_RELIST_SECS", "1")],
    );
    let c = Client::new();
    let data = server.url("/api/v1/sources/rel.parts/data?format=csv");
    // (rows served, partitions described) now.
    let seen = || async {
        let body = c.get(&data).send().await.expect("read").text().await;
        let d = server.json("/api/v1/sources/rel.parts").await;
        let partitions = d["discovery"]["partitions"].as_array().map_or(0, Vec::len);
        (body.expect("body").lines().count() - 1, partitions)
    };
    assert_eq!(seen().await, (3, 1));
    std::fs::write(dir.path().join("parts/b.csv"), "id\n4\n5\n").expect("data");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(seen().await, (5, 2));
}
