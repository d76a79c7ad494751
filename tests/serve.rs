//! `inlet serve` on loopback, driven with reqwest and decoded with arrow-ipc: listings, ETags,
//! descriptions, every data format, plans and tickets, bad input, mid-stream failures, limits,
//! hot reload, metrics, docs and graceful shutdown.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use common::InletServer;
use inlet::service::tickets::{now, Claims, TicketKey};
use inlet_driver::testing::{assert_same, expected, fixtures};
use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value as J};

/// A catalog of fixture files in `dir`; the server must get `--allow-path <fixtures>`.
fn fixture_catalog(dir: &Path) -> PathBuf {
    let fx = fixtures();
    let yaml = format!(
        "sources:
  types:
    description: every Arrow type
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  big:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/big.parquet'}}
  avro_types:
    driver: avro_table
    args: {{urlpath: '{fx}/avro/types.avro'}}
  avro_evolve:
    driver: intake_avro.source.AvroSequenceSource
    args: {{urlpath: '{fx}/avro/evolve'}}
  grid:
    driver: intake_xarray.xzarr.ZarrSource
    args: {{urlpath: '{fx}/zarr/grid_v3.zarr'}}
  bare:
    driver: ndzarr
    args: {{urlpath: '{fx}/zarr/bare_v2.zarr'}}
  secret:
    driver: parquet
    args:
      urlpath: s3://bucket/x.parquet
      storage_options: {{key: AKIAEXAMPLE, secret: hunter2, endpoint_url: 'http://127.0.0.1:9'}}
  typed:
    driver: csv
    parameters:
      n: {{type: int, default: 1, min: 0, max: 9}}
      f: {{type: float, default: 0.5}}
      b: {{type: bool, default: true}}
      d: {{type: datetime, default: '2020-01-01'}}
      l: {{type: list, default: [a]}}
      m: {{type: mlist, default: [x], allowed: [x, y]}}
      s: {{type: str, default: eu, allowed: [eu, us]}}
    args: {{urlpath: '{fx}/csv/plain.csv'}}
",
        fx = fx.display()
    );
    let path = dir.join("fx.yaml");
    std::fs::write(&path, yaml).expect("write catalog");
    path
}

struct Fixture {
    server: InletServer,
    _dir: tempfile::TempDir,
}

fn start(envs: &[(&str, &str)], extra: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let cat = fixture_catalog(dir.path());
    let fx = fixtures().to_string_lossy().into_owned();
    let mut args = vec![
        "--catalog",
        cat.to_str().expect("utf8"),
        "--catalog",
        "catalogs",
        "--allow-path",
        fx.as_str(),
    ];
    args.extend_from_slice(extra);
    Fixture {
        server: InletServer::start(&args, envs),
        _dir: dir,
    }
}

fn client() -> Client {
    inlet_driver::storage::ensure_tls_provider();
    Client::new()
}

async fn json(c: &Client, url: &str) -> (StatusCode, J) {
    let r = c.get(url).send().await.expect("request");
    let status = r.status();
    let body = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).unwrap_or(J::Null))
}

fn decode_ipc(bytes: &[u8]) -> RecordBatch {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .expect("IPC stream");
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    arrow_select::concat::concat_batches(&schema, &batches).expect("concat")
}

async fn problem(c: &Client, url: &str, want: StatusCode) -> J {
    let r = c.get(url).send().await.expect("request");
    assert_eq!(r.status(), want, "{url}");
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/problem+json", "{url}");
    serde_json::from_slice(&r.bytes().await.expect("body")).expect("problem json")
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_page_with_cursors_and_answer_304_to_their_etag() {
    let f = start(&[], &[]);
    let c = client();
    let (s, page1) = json(&c, &f.server.url("/api/v1/catalogs?page_size=1")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page1["catalogs"][0]["name"], "example");
    let token = page1["next_page_token"].as_str().expect("a next page");
    let (_, page2) = json(
        &c,
        &f.server
            .url(&format!("/api/v1/catalogs?page_size=1&page_token={token}")),
    )
    .await;
    assert_eq!(page2["catalogs"][0]["name"], "fx");
    let r = c
        .get(f.server.url("/api/v1/catalogs"))
        .send()
        .await
        .expect("get");
    let etag = r.headers().get(header::ETAG).expect("etag").clone();
    let r = c
        .get(f.server.url("/api/v1/catalogs"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    let (_, cat) = json(&c, &f.server.url("/api/v1/catalogs/example")).await;
    let names: Vec<&str> = cat["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        names.contains(&"example.trips") && names.contains(&"example.regions"),
        "{names:?}"
    );
    let (_, nested) = json(&c, &f.server.url("/api/v1/catalogs/example.regions")).await;
    assert_eq!(nested["entries"][0]["name"], "example.regions.sales");

    let (_, found) = json(&c, &f.server.url("/api/v1/search?q=transport")).await;
    // Results are ranked (best first); the three match on the same tag.
    let mut hits: Vec<&str> = found["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    hits.sort_unstable();
    assert_eq!(
        hits,
        ["example.ride_events", "example.stations", "example.trips"]
    );
    assert_eq!(found["facets"]["driver"]["csv"], 1);
    assert_eq!(found["facets"]["tags"]["transport"], 3);
    let (_, both) = json(&c, &f.server.url("/api/v1/search?q=transport%20events")).await;
    assert_eq!(
        both["results"][0]["name"], "example.ride_events",
        "every word must match"
    );
    assert_eq!(both["results"].as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn sources_describe_schema_partitions_and_never_secrets() {
    let f = start(&[], &[]);
    let c = client();
    let (s, d) = json(&c, &f.server.url("/api/v1/sources/example.trips")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["status"], "ok");
    assert_eq!(d["discovery"]["total_rows"], 20_000);
    assert_eq!(
        d["discovery"]["partitions"].as_array().map(Vec::len),
        Some(4)
    );
    assert_eq!(
        d["discovery"]["schema"][2]["type"],
        "Timestamp(µs, \"UTC\")"
    );
    assert_eq!(d["discovery"]["schema"][2]["nullable"], true);

    let r = c
        .get(f.server.url("/api/v1/sources/fx.secret"))
        .send()
        .await
        .expect("get");
    let text = r.text().await.expect("body");
    assert!(
        !text.contains("hunter2") && !text.contains("AKIAEXAMPLE"),
        "{text}"
    );
    let d: J = serde_json::from_str(&text).expect("json");
    assert_eq!(d["args"]["storage_options"]["secret"], "***");
    assert!(
        d["discovery_error"]
            .as_str()
            .is_some_and(|e| !e.contains("hunter2")),
        "{d}"
    );

    let (_, schema) = json(&c, &f.server.url("/api/v1/sources/example.stations/schema")).await;
    assert_eq!(schema["fields"][0]["name"], "station_id");
    let r = c
        .get(f.server.url("/api/v1/sources/example.trips/schema"))
        .header(header::ACCEPT, "application/vnd.apache.arrow.stream")
        .send()
        .await
        .expect("get");
    let bytes = r.bytes().await.expect("body");
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None)
            .expect("schema message");
    assert_eq!(reader.schema().field(0).name(), "trip_id");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_streams_in_every_format_match_pyarrow() {
    let f = start(&[], &[]);
    let c = client();
    let want = expected("expected/parquet/types.parquet.arrow");
    let r = c
        .get(f.server.url("/api/v1/sources/fx.types/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/vnd.apache.arrow.stream"
    );
    assert_same(
        &decode_ipc(&r.bytes().await.expect("body")),
        &want,
        "arrow over http",
    );

    let r = c
        .get(f.server.url("/api/v1/sources/fx.types/data"))
        .header(
            header::ACCEPT,
            "application/vnd.apache.arrow.stream; codecs=\"zstd, lz4\"",
        )
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/vnd.apache.arrow.stream; codecs=\"zstd\""
    );
    assert_same(
        &decode_ipc(&r.bytes().await.expect("body")),
        &want,
        "zstd ipc",
    );

    let r = c
        .get(f.server.url("/api/v1/sources/fx.types/data?format=parquet"))
        .send()
        .await
        .expect("get");
    let bytes = r.bytes().await.expect("body");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .expect("parquet")
        .build()
        .expect("reader");
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("batches");
    let got = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).expect("concat");
    assert_same(&got, &want, "parquet over http");

    let r = c
        .get(
            f.server
                .url("/api/v1/sources/fx.types/data?format=csv&columns=id,string&limit=3"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/csv");
    assert_eq!(r.text().await.expect("csv").lines().count(), 4);
    let r = c
        .get(
            f.server
                .url("/api/v1/sources/fx.types/data?columns=id&partition=1&partition=3"),
        )
        .header(header::ACCEPT, "application/x-ndjson")
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    let gz = r.bytes().await.expect("body");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
        .expect("gunzip");
    assert_eq!(text.lines().count(), 5_000);
    assert_eq!(text.lines().next(), Some("{\"id\":2500}"));

    let r = c
        .get(
            f.server
                .url("/api/v1/sources/example.trips_monthly/data?param.month=3&limit=10"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(decode_ipc(&r.bytes().await.expect("body")).num_rows(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_problem_json_and_the_server_keeps_serving() {
    let f = start(&[("INLET_MAX_BODY_BYTES", "1024")], &[]);
    let c = client();
    let p = problem(
        &c,
        &f.server.url("/api/v1/sources/fx.nope"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(p["type"], "/problems/not-found");
    let bad = "/api/v1/sources/fx.typed/data?param.n=ten&param.f=x&param.b=maybe&param.d=yesterday&param.m=z&param.s=mars&param.n2=1";
    let p = problem(&c, &f.server.url(bad), StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["n2", "n", "f", "b", "d", "m", "s"],
        "every bad field, the undeclared one first: {p}"
    );
    let p = problem(
        &c,
        &f.server.url("/api/v1/sources/fx.typed/data?param.n=10"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .expect("detail")
            .contains("above the maximum 9"),
        "{p}"
    );
    let p = problem(
        &c,
        &f.server
            .url("/api/v1/sources/fx.types/data?columns=id,nope"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["name"], "columns");
    let p = problem(
        &c,
        &f.server.url("/api/v1/sources/fx.types/data?partition=99"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["name"], "partition");
    let p = problem(
        &c,
        &f.server.url("/api/v1/sources/fx.types/data?colums=id"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(p["errors"][0]["name"], "colums");
    problem(
        &c,
        &f.server.url("/api/v1/sources/fx.types/data?format=xlsx"),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    for path_like in [
        "/api/v1/sources/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/sources/%2e%2e",
        "/api/v1/sources/fx.%2e%2e%2ftypes/data",
    ] {
        problem(&c, &f.server.url(path_like), StatusCode::NOT_FOUND).await;
    }
    let big = json!({"columns": ["x".repeat(4096)]});
    let r = c
        .post(f.server.url("/api/v1/sources/fx.types/plan"))
        .json(&big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let r = c
        .post(f.server.url("/api/v1/sources/fx.types/plan"))
        .json(&json!({"colums": ["id"]}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p = problem(
        &c,
        &f.server.url("/api/v1/sources/example/data"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(p["type"], "/problems/not-a-source");
    let r = c
        .get(f.server.url("/livez"))
        .send()
        .await
        .expect("still alive");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn plans_fetch_in_parallel_and_tickets_are_verified() {
    let f = start(
        &[],
        &[
            "--advertise",
            "http://replica-a:8080",
            "--advertise",
            "http://replica-b:8080/",
        ],
    );
    let c = client();
    let r = c
        .post(f.server.url("/api/v1/sources/fx.types/plan"))
        .json(&json!({"max_endpoints": 3}))
        .send()
        .await
        .expect("plan");
    assert_eq!(r.status(), StatusCode::OK);
    let plan: J = r.json().await.expect("plan json");
    let endpoints = plan["endpoints"].as_array().expect("endpoints").clone();
    assert_eq!(endpoints.len(), 3);
    assert_eq!(plan["total_records"], 10_000);
    let parts: Vec<usize> = endpoints
        .iter()
        .flat_map(|e| {
            e["partitions"]
                .as_array()
                .expect("parts")
                .iter()
                .filter_map(J::as_u64)
        })
        .map(|p| p as usize)
        .collect();
    assert_eq!(parts, [0, 1, 2, 3]);
    let locs = endpoints[0]["locations"].as_array().expect("locations");
    assert!(locs[0]
        .as_str()
        .expect("url")
        .starts_with("http://replica-a:8080/api/v1/tickets/"));
    assert!(locs[1]
        .as_str()
        .expect("url")
        .starts_with("http://replica-b:8080/api/v1/tickets/"));
    let fetches = endpoints.iter().map(|e| {
        let url = f.server.url(&format!(
            "/api/v1/tickets/{}",
            e["ticket"].as_str().expect("ticket")
        ));
        let c = c.clone();
        tokio::spawn(async move {
            c.get(url)
                .send()
                .await
                .expect("get")
                .bytes()
                .await
                .expect("body")
        })
    });
    let mut batches = vec![];
    for h in fetches.collect::<Vec<_>>() {
        batches.push(decode_ipc(&h.await.expect("join")));
    }
    let got = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).expect("concat");
    assert_same(
        &got,
        &expected("expected/parquet/types.parquet.arrow"),
        "union of endpoints",
    );

    let ticket = endpoints[0]["ticket"].as_str().expect("ticket").to_string();
    let mut tampered = ticket.clone();
    let last = tampered.pop().expect("char");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let p = problem(
        &c,
        &f.server.url(&format!("/api/v1/tickets/{tampered}")),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(p["type"], "/problems/ticket-invalid");
    let key = TicketKey::load_or_create(&f.server.state_dir.path().join("ticket.key"))
        .expect("the server's key");
    let revision = plan["revision"].as_str().expect("revision").to_string();
    let claims = Claims {
        source: "fx.types".into(),
        partitions: Some(vec![0]),
        columns: None,
        limit: None,
        params: Default::default(),
        revision: revision.clone(),
        expires: now() - 5,
        token: None,
        data_version: None,
    };
    let p = problem(
        &c,
        &f.server
            .url(&format!("/api/v1/tickets/{}", key.sign(&claims))),
        StatusCode::GONE,
    )
    .await;
    assert_eq!(p["type"], "/problems/ticket-expired");
    let stale = Claims {
        revision: "git:older".into(),
        expires: now() + 60,
        token: None,
        ..claims.clone()
    };
    let p = problem(
        &c,
        &f.server
            .url(&format!("/api/v1/tickets/{}", key.sign(&stale))),
        StatusCode::CONFLICT,
    )
    .await;
    assert!(p["detail"]
        .as_str()
        .expect("detail")
        .contains("plan the read again"));
    let good = Claims {
        expires: now() + 60,
        token: None,
        ..claims
    };
    let r = c
        .get(
            f.server
                .url(&format!("/api/v1/tickets/{}", key.sign(&good))),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(
        decode_ipc(&r.bytes().await.expect("body")).num_rows(),
        2_500,
        "a ticket from another replica with the key works"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_after_the_first_byte_reaches_the_client() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut csv = String::from("a,b\n");
    for i in 0..50_000 {
        csv.push_str(&format!("{i},x{i}\n"));
    }
    csv.push_str("1,2,3,4\n");
    std::fs::write(dir.path().join("broken.csv"), csv).expect("csv");
    std::fs::write(dir.path().join("late.yaml"), "sources:\n  broken:\n    driver: csv\n    args: {urlpath: '{{ CATALOG_DIR }}/broken.csv'}\n").expect("yaml");
    let server = InletServer::start(
        &["--catalog", dir.path().to_str().expect("utf8")],
        &[("INLET_BATCH_SIZE", "1000")],
    );
    let r = client()
        .get(server.url("/api/v1/sources/late.broken/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the failure comes after the first batch"
    );
    match r.bytes().await {
        Err(_) => {} // the transfer was aborted: the client sees an error
        Ok(bytes) => {
            let reader = arrow_ipc::reader::StreamReader::try_new(
                std::io::Cursor::new(bytes.to_vec()),
                None,
            )
            .expect("header");
            let result: Result<Vec<RecordBatch>, _> = reader.collect();
            panic!(
                "the stream must not end cleanly, got {:?} batches",
                result.map(|b| b.len())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_beyond_the_cap_get_503_with_retry_after() {
    let f = start(&[("INLET_MAX_STREAMS", "1")], &[]);
    let c = client();
    let held = c
        .get(f.server.url("/api/v1/sources/fx.big/data"))
        .send()
        .await
        .expect("first stream");
    assert_eq!(held.status(), StatusCode::OK);
    let r = c
        .get(f.server.url("/api/v1/sources/fx.types/data"))
        .send()
        .await
        .expect("second");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    drop(held);
    let start = Instant::now();
    loop {
        let r = c
            .get(f.server.url("/api/v1/sources/fx.types/data?limit=1"))
            .send()
            .await
            .expect("retry");
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the permit came back when the client left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn catalogs_reload_on_edits_and_keep_serving_through_broken_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let fx = fixtures();
    let entry = |name: &str| {
        format!(
            "  {name}:\n    driver: csv\n    args: {{urlpath: '{}/csv/plain.csv'}}\n",
            fx.display()
        )
    };
    let path = dir.path().join("live.yaml");
    std::fs::write(&path, format!("sources:\n{}", entry("one"))).expect("write");
    let server = InletServer::start(
        &[
            "--catalog",
            dir.path().to_str().expect("utf8"),
            "--allow-path",
            fx.to_str().expect("utf8"),
        ],
        &[("INLET_RELOAD_INTERVAL_SECS", "1")],
    );
    let c = client();
    let (_, before) = json(&c, &server.url("/api/v1/catalogs/live")).await;
    std::fs::write(&path, format!("sources:\n{}{}", entry("one"), entry("two"))).expect("edit");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = json(&c, &server.url("/api/v1/sources/live.two")).await;
        if s == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "the edit was not picked up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, after) = json(&c, &server.url("/api/v1/catalogs/live")).await;
    assert_ne!(before["revision"], after["revision"]);
    std::fs::write(&path, "sources:\n  one: [unclosed\n").expect("break");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, ready) = json(&c, &server.url("/readyz")).await;
        if ready["status"] == "degraded" {
            assert!(
                ready["reload_errors"][0]
                    .as_str()
                    .expect("error")
                    .contains("live.yaml:"),
                "{ready}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken edit was not reported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, _) = json(&c, &server.url("/api/v1/sources/live.two")).await;
    assert_eq!(s, StatusCode::OK, "the last good version keeps serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_openapi_and_docs_are_served() {
    let f = start(&[], &[]);
    let c = client();
    let r = c
        .get(f.server.url("/api/v1/sources/example.trips/data?limit=100"))
        .send()
        .await
        .expect("data");
    decode_ipc(&r.bytes().await.expect("body"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = c
        .get(f.server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(
            "inlet_http_request_duration_seconds_bucket{route=\"/api/v1/sources/{source}/data\""
        ),
        "{text}"
    );
    assert!(
        text.contains("inlet_rows_streamed_total{source=\"example.trips\"} 100"),
        "{text}"
    );
    let spec = c
        .get(f.server.url("/openapi.json"))
        .send()
        .await
        .expect("spec")
        .text()
        .await
        .expect("text");
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.json"))
            .expect("file");
    assert_eq!(spec, committed);
    let docs = c
        .get(f.server.url("/docs"))
        .send()
        .await
        .expect("docs")
        .text()
        .await
        .expect("html");
    assert!(
        docs.contains("/docs/redoc.standalone.js") && !docs.contains("cdn."),
        "{docs}"
    );
    let js = c
        .get(f.server.url("/docs/redoc.standalone.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(js.status(), StatusCode::OK);
    let (_, ready) = json(&c, &f.server.url("/readyz")).await;
    assert_eq!(ready["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_streams_finish_and_refuses_new_work() {
    let f = start(&[], &[]);
    let c = client();
    let mut r = c
        .get(f.server.url("/api/v1/sources/fx.big/data?columns=id"))
        .send()
        .await
        .expect("stream");
    let mut body = r
        .chunk()
        .await
        .expect("first chunk")
        .expect("bytes")
        .to_vec();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &f.server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Some(chunk) = r.chunk().await.expect("the in-flight stream completes") {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(decode_ipc(&body).num_rows(), 1_000_000);
    let after = c.get(f.server.url("/api/v1/catalogs")).send().await;
    assert!(
        after.is_err() || after.is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE),
        "no new work after SIGTERM"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_deleted_mid_read_fails_the_transfer() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(
        fixtures().join("parquet/big.parquet"),
        dir.path().join("big.parquet"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("gone.yaml"), "sources:\n  big:\n    driver: parquet\n    args: {urlpath: '{{ CATALOG_DIR }}/big.parquet'}\n").expect("yaml");
    let server = InletServer::start(
        &[
            "--catalog",
            dir.path().join("gone.yaml").to_str().expect("utf8"),
        ],
        &[],
    );
    let c = client();
    let mut r = c
        .get(server.url("/api/v1/sources/gone.big/data"))
        .send()
        .await
        .expect("stream");
    assert_eq!(r.status(), StatusCode::OK);
    let mut body = r
        .chunk()
        .await
        .expect("first chunk")
        .expect("bytes")
        .to_vec();
    std::fs::remove_file(dir.path().join("big.parquet")).expect("delete");
    let outcome = loop {
        match r.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Err(_) => {} // aborted: the client sees the failure
        Ok(()) => {
            let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
                .expect("header");
            let rows: Result<usize, _> = reader.map(|b| b.map(|b| b.num_rows())).sum();
            panic!("the body ended cleanly after the file was deleted: {rows:?} rows");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_sources_stream_over_http_as_fastavro_reads_them() {
    let f = start(&[], &[]);
    let c = client();
    let r = c
        .get(f.server.url("/api/v1/sources/fx.avro_types/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_same(
        &decode_ipc(&r.bytes().await.expect("body")),
        &expected("expected/avro/types.avro.arrow"),
        "avro over http",
    );
    let r = c
        .get(f.server.url("/api/v1/sources/fx.avro_evolve/data"))
        .send()
        .await
        .expect("get");
    assert_same(
        &decode_ipc(&r.bytes().await.expect("body")),
        &expected("expected/avro/evolve.arrow"),
        "evolving avro over http",
    );
    let (_, d) = json(&c, &f.server.url("/api/v1/sources/example.ride_events")).await;
    assert_eq!(d["driver"]["resolved"], "avro");
    assert_eq!(
        d["discovery"]["schema"][2]["type"], "Dictionary(Int32, Utf8)",
        "enums are dictionaries: {d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn zarr_sources_stream_over_http_as_xarray_reads_them() {
    let f = start(&[], &[]);
    let c = client();
    let r = c
        .get(f.server.url("/api/v1/sources/fx.grid/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let got = decode_ipc(&r.bytes().await.expect("body"));
    let want = expected("expected/zarr/grid_v3.arrow");
    // xarray's pandas round trip keeps ns timestamps and turns masked ints into floats: compare
    // values in its types (the driver's own tests explain the mapping).
    let cast: Vec<arrow_array::ArrayRef> = got
        .columns()
        .iter()
        .zip(want.schema().fields())
        .map(|(col, field)| arrow_cast::cast(col, field.data_type()).expect("cast"))
        .collect();
    let got = RecordBatch::try_new(want.schema(), cast).expect("batch");
    assert_same(&got, &want, "zarr v3 over http");
    // Selection pushed down from request parameters (declared in the catalog, templated into `sel`).
    let url = "/api/v1/sources/example.air_grid_window/data?param.start=2024-03-01&param.end=2024-04-30&param.lat_min=40.85";
    let r = c.get(f.server.url(url)).send().await.expect("get");
    assert_eq!(
        decode_ipc(&r.bytes().await.expect("body")).num_rows(),
        2 * 2 * 20
    );
    let (_, d) = json(&c, &f.server.url("/api/v1/sources/fx.bare")).await;
    assert_eq!(d["driver"]["resolved"], "ndzarr");
    let rows = d["discovery"]["total_rows"].as_u64().expect("rows");
    let r = c
        .get(f.server.url("/api/v1/sources/fx.bare/data"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        decode_ipc(&r.bytes().await.expect("body")).num_rows() as u64,
        rows
    );
}
