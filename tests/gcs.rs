//! Google Cloud Storage through a real emulator (fake-gcs-server on loopback, from PyPI), with
//! the `storage_options` spellings gcsfs-based Intake catalogs use (`token: anon`, `project`,
//! `endpoint_url`, and the server's `STORAGE_EMULATOR_HOST`): objects put there by gcsfs and
//! read through a real `inlet serve` equal the same files read from disk; a missing object is a
//! 502 naming its URL; no credential shows in an answer or reaches an endpoint a catalog chose.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{python, GcsServer, InletServer};
use inlet_driver::testing::fixtures;

/// The fixtures put into the bucket `data`: (file under the fixtures, object name).
const OBJECTS: [(&str, &str); 5] = [
    ("parquet/types.parquet", "tables/types.parquet"),
    ("csv/pattern/eu/2020.csv", "csv/pattern/eu/2020.csv"),
    ("csv/pattern/eu/2021.csv", "csv/pattern/eu/2021.csv"),
    ("csv/pattern/us/2020.csv", "csv/pattern/us/2020.csv"),
    // Next to the CSV files, and not matched by their glob.
    ("csv/plain.csv", "csv/pattern/notes.txt"),
];

/// Creates the bucket `data` and puts [`OBJECTS`] into it with gcsfs, the filesystem Intake's
/// `gs://` sources use, given the same options a catalog gives it (`token: anon`, `endpoint_url`).
fn upload(endpoint: &str) {
    let fx = fixtures();
    let mut script = String::from(
        "import sys, gcsfs\n\
         fs = gcsfs.GCSFileSystem(token='anon', project='inlet-test', endpoint_url=sys.argv[1])\n\
         fs.mkdir('data')\n",
    );
    for (file, name) in OBJECTS {
        script.push_str(&format!(
            "fs.put_file({:?}, 'data/{name}')\n",
            fx.join(file).display().to_string()
        ));
    }
    // Listed back, so a silent upload failure shows here rather than as a read error later.
    script.push_str("print(len(fs.find('data')))\n");
    let out = Command::new(python())
        .args(["-c", &script, endpoint])
        .env_remove("STORAGE_EMULATOR_HOST")
        // gcsfs >= 2026.10 first asks each bucket's layout over gRPC (TLS), which an emulator
        // does not serve: a minute's timeout per call before it falls back to the JSON API.
        .env("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        OBJECTS.len().to_string()
    );
}

async fn body(url: String) -> (reqwest::StatusCode, String, bytes::Bytes) {
    let r = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, ct, r.bytes().await.expect("body"))
}

fn batches(ipc: &[u8]) -> Vec<arrow_array::RecordBatch> {
    arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc.to_vec()), None)
        .expect("IPC")
        .map(|b| b.expect("batch"))
        .collect()
}

/// `source` (objects in the emulator) and `local` (the same files on disk) read equal, as Arrow
/// and, for flat tables, as CSV; returns the rows.
async fn same_as_local(server: &InletServer, source: &str, local: &str, flat: bool) -> usize {
    let (status, _, remote) = body(server.url(&format!("/api/v1/sources/{source}/data"))).await;
    assert_eq!(
        status,
        200,
        "{source}: {}",
        String::from_utf8_lossy(&remote)
    );
    let (status, _, disk) = body(server.url(&format!("/api/v1/sources/{local}/data"))).await;
    assert_eq!(status, 200, "{local}");
    let (remote, disk) = (batches(&remote), batches(&disk));
    let schema = disk.first().expect("a batch").schema();
    let concat = |b: &[arrow_array::RecordBatch]| {
        arrow_select::concat::concat_batches(&schema, b).expect("one schema")
    };
    let rows = concat(&disk);
    assert_eq!(concat(&remote), rows, "{source} differs from {local}");
    if flat {
        let csv = |s: &str| body(server.url(&format!("/api/v1/sources/{s}/data?format=csv")));
        let ((s1, _, remote_csv), (s2, _, disk_csv)) = futures::join!(csv(source), csv(local));
        assert_eq!((s1.as_u16(), s2.as_u16()), (200, 200));
        assert_eq!(remote_csv, disk_csv, "{source} as CSV");
    }
    rows.num_rows()
}

/// A server that answers 404 to everything and keeps each request's Authorization header.
async fn capture() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(vec![]));
    let kept = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let kept = kept.clone();
        async move {
            let auth = headers
                .get(axum::http::header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            kept.lock().expect("lock").push(auth);
            axum::http::StatusCode::NOT_FOUND
        }
    });
    let addr = common::serve_loopback(app).await;
    (format!("http://{addr}"), seen)
}

fn write(dir: &Path, yaml: String) -> String {
    let p = dir.join("gcs.yaml");
    std::fs::write(&p, yaml).expect("catalog");
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_and_csv_globs_read_from_the_emulator_named_in_storage_options() {
    inlet_driver::storage::ensure_tls_provider();
    let gcs = GcsServer::start();
    upload(&gcs.endpoint);
    let uploaded = gcs.log().len();
    let (trap, seen) = capture().await;
    let endpoint = &gcs.endpoint;
    let with_password = endpoint.replace("http://", "http://inlet:gcs-pw-secret@");
    let dir = tempfile::tempdir().expect("tmp");
    let fx = fixtures();
    let fx = fx.display();
    let cat = write(
        dir.path(),
        format!(
            "sources:
  types:
    driver: parquet
    args: {{urlpath: 'gs://data/tables/types.parquet', storage_options: {{token: anon, endpoint_url: '{endpoint}'}}}}
  types_on_disk:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  pattern:
    driver: csv
    args: {{urlpath: 'gcs://data/csv/pattern/*/*.csv', storage_options: {{project: inlet-test, endpoint_url: '{endpoint}/'}}}}
  pattern_on_disk:
    driver: csv
    args: {{urlpath: '{fx}/csv/pattern/*/*.csv'}}
  missing:
    driver: parquet
    args: {{urlpath: 'gs://data/tables/missing.parquet', storage_options: {{token: anon, endpoint_url: '{with_password}'}}}}
  keyed:
    driver: parquet
    args:
      urlpath: 'gs://data/tables/types.parquet'
      storage_options:
        endpoint_url: '{endpoint}'
        token: {{type: service_account, client_email: 'sa@inlet-test.iam.gserviceaccount.com', private_key: 'gcs-key-secret'}}
  ambient:
    driver: csv
    args: {{urlpath: 'gs://data/x.csv', storage_options: {{endpoint_url: '{trap}'}}}}
"
        ),
    );
    // Server credentials in its environment (object_store reads GOOGLE_BEARER_TOKEN) that must
    // never go to an endpoint a catalog names; `default` leaves the emulator variable unset.
    let server = InletServer::start(
        &["--catalog", &cat, "--allow-path", &fx.to_string()],
        &[
            ("GOOGLE_BEARER_TOKEN", "gcs-bearer-secret"),
            ("STORAGE_EMULATOR_HOST", "default"),
        ],
    );

    let d = server.json("/api/v1/sources/gcs.types").await;
    assert_eq!(d["discovery"]["total_rows"], 10_000, "{d}");
    assert_eq!(
        same_as_local(&server, "gcs.types", "gcs.types_on_disk", false).await,
        10_000
    );
    // Direct access (proxied, the default): the stored bytes, whole and by Range.
    let list = server.json("/api/v1/sources/gcs.types/files").await;
    let url = list["files"][0]["url"].as_str().expect("url").to_string();
    let stored = std::fs::read(fixtures().join("parquet/types.parquet")).expect("fixture");
    let (status, _, whole) = body(url.clone()).await;
    assert_eq!(status, 200);
    assert!(
        whole[..] == stored[..],
        "the file differs from what was uploaded"
    );
    let tail = reqwest::Client::new()
        .get(&url)
        .header(reqwest::header::RANGE, "bytes=-8")
        .send()
        .await
        .expect("range");
    assert_eq!(tail.status(), 206);
    assert_eq!(
        tail.bytes().await.expect("tail")[..],
        stored[stored.len() - 8..]
    );

    // The glob matches the three CSV files (not notes.txt), read in sorted order.
    let d = server.json("/api/v1/sources/gcs.pattern").await;
    let files: Vec<&str> = d["discovery"]["files"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["location"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        files,
        ["eu/2020.csv", "eu/2021.csv", "us/2020.csv"]
            .map(|f| format!("gcs://data/csv/pattern/{f}")),
        "{d}"
    );
    assert_eq!(
        same_as_local(&server, "gcs.pattern", "gcs.pattern_on_disk", true).await,
        24
    );
    let (_, _, csv) = body(server.url("/api/v1/sources/gcs.pattern/data?format=csv")).await;
    let csv = String::from_utf8_lossy(&csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 25, "{csv}");
    assert_eq!(lines[0], "city,month,sales");
    assert_eq!(lines[1], "Paris,1,70.94");
    let us = std::fs::read_to_string(fixtures().join("csv/pattern/us/2020.csv")).expect("csv");
    assert_eq!(Some(lines[24]), us.lines().last(), "{csv}");

    // A missing object: 502 problem+json naming the URL the catalog gave, not the endpoint.
    let (status, ct, missing) = body(server.url("/api/v1/sources/gcs.missing/data")).await;
    let missing = String::from_utf8_lossy(&missing).into_owned();
    assert_eq!(status, 502, "{missing}");
    assert_eq!(ct, "application/problem+json", "{missing}");
    let p: serde_json::Value = serde_json::from_str(&missing).expect("problem");
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("gs://data/tables/missing.parquet")),
        "{p}"
    );

    // Credentials the catalog or the server hold are refused where they would go to the
    // catalog's endpoint, and shown nowhere.
    let (status, _, keyed) = body(server.url("/api/v1/sources/gcs.keyed/data")).await;
    let keyed = String::from_utf8_lossy(&keyed).into_owned();
    assert_eq!(status, 500, "{keyed}");
    assert!(
        keyed.contains("storage_options.endpoint_url") && keyed.contains("token: anon"),
        "{keyed}"
    );
    let (status, _, ambient) = body(server.url("/api/v1/sources/gcs.ambient/data")).await;
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&ambient));
    let seen = seen.lock().expect("lock").clone();
    assert!(!seen.is_empty(), "the catalog's endpoint was never asked");
    assert!(
        seen.iter().all(Option::is_none),
        "credentials were sent to the catalog's endpoint: {seen:?}"
    );
    let mut shown = missing + &keyed + &String::from_utf8_lossy(&ambient);
    for route in [
        "/api/v1/sources/gcs.missing",
        "/api/v1/sources/gcs.keyed",
        "/api/v1/sources/gcs.keyed/schema",
        "/api/v1/catalogs/gcs",
        "/api/v1/status",
    ] {
        let (_, _, b) = body(server.url(route)).await;
        shown.push_str(&String::from_utf8_lossy(&b));
    }
    for secret in ["gcs-pw-secret", "gcs-key-secret", "gcs-bearer-secret"] {
        assert!(!shown.contains(secret), "`{secret}` was shown: {shown}");
    }
    assert!(shown.contains("***"), "no redaction marker: {shown}");

    // What object_store asked the emulator: its XML API (HEAD, ranged GETs, list-type=2).
    eprintln!("requests from inlet:\n{}", gcs.log()[uploaded..].join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_servers_storage_emulator_host_serves_gs_urls_without_endpoint_options() {
    inlet_driver::storage::ensure_tls_provider();
    let gcs = GcsServer::start();
    upload(&gcs.endpoint);
    let dir = tempfile::tempdir().expect("tmp");
    let cat = write(
        dir.path(),
        "sources:
  eu:
    driver: csv
    args: {urlpath: 'gcs://data/csv/pattern/eu/*.csv', storage_options: {project: inlet-test}}
  types:
    driver: parquet
    args: {urlpath: 'gs://data/tables/types.parquet', storage_options: {token: anon}}
"
        .to_string(),
    );
    // As gcsfs reads it: `host:port`, plain HTTP.
    let host = gcs.endpoint.trim_start_matches("http://").to_string();
    let server = InletServer::start(&["--catalog", &cat], &[("STORAGE_EMULATOR_HOST", &host)]);
    let (status, _, csv) = body(server.url("/api/v1/sources/gcs.eu/data?format=csv")).await;
    let csv = String::from_utf8_lossy(&csv);
    assert_eq!(status, 200, "{csv}");
    let on_disk = ["eu/2020.csv", "eu/2021.csv"]
        .map(|f| std::fs::read_to_string(fixtures().join("csv/pattern").join(f)).expect("csv"));
    let want: Vec<&str> = on_disk
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.lines().skip(usize::from(i > 0)))
        .collect();
    let got: Vec<&str> = csv.lines().collect();
    assert_eq!(got.len(), want.len(), "{csv}");
    // Same rows; numbers as Arrow writes them (70.90 may come back as 70.9).
    for (g, w) in got.iter().zip(&want) {
        let num = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|v| v.parse::<f64>().map_or(v.to_string(), |n| n.to_string()))
                .collect()
        };
        assert_eq!(num(g), num(w));
    }
    let (status, _, ipc) = body(server.url("/api/v1/sources/gcs.types/data")).await;
    assert_eq!(status, 200);
    let rows: usize = batches(&ipc).iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 10_000);
}
