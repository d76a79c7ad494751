//! The SQL state end to end, with one test body per behaviour run on both backends (SQLite in
//! the server's state directory, and a PostgreSQL database of its own): tokens and scopes over
//! HTTP and Flight, tickets of revoked tokens, search (ranked, filtered, faceted, scoped, and
//! immune to SQL in its input), usage, a newer schema refused, and two replicas sharing one
//! PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Criteria, FlightInfo};
use common::{InletServer, PgDb};
use futures::TryStreamExt;
use inlet::store::Store;
use reqwest::{header, Client, StatusCode};
use serde_json::Value as J;
use tonic::transport::Channel;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body(Backend)` once per backend, as `<name>::sqlite` and `<name>::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

on_both_backends!(
    tokens_decide_what_a_caller_sees_and_reads,
    tickets_stop_working_when_their_token_is_revoked,
    search_is_ranked_filtered_scoped_and_injection_proof,
    usage_is_counted_per_source_and_token,
    a_database_with_a_newer_schema_is_refused,
    discovery_is_cached_across_restarts,
);

const CMIP6: &str = "\
description: CMIP6 model output
sources:
  tas:
    description: Near-surface air temperature, monthly means
    driver: csv
    args: {urlpath: '{{ CATALOG_DIR }}/tas.csv'}
    metadata: {tags: [temperature, monthly]}
  trips:
    description: Parquet sample trips reused as model output
    driver: parquet
    args: {urlpath: '{{ CATALOG_DIR }}/trips.parquet'}
";

const ERA5: &str = "\
sources:
  wind:
    description: Reanalysis wind speed at 10 m
    driver: csv
    args: {urlpath: '{{ CATALOG_DIR }}/wind.csv'}
    metadata: {tags: [wind]}
";

const FINANCE: &str = "\
name: finance
sources:
  prices:
    description: Daily closing prices of the secret portfolio
    driver: csv
    args: {urlpath: '{{ CATALOG_DIR }}/prices.csv'}
    metadata: {tags: [markets, temperature]}
";

/// Catalogs `climate.cmip6`, `climate.era5` and `finance`, with their data, in a temp dir.
fn catalogs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let climate = dir.path().join("climate");
    std::fs::create_dir(&climate).expect("mkdir");
    std::fs::write(climate.join("cmip6.yaml"), CMIP6).expect("write");
    std::fs::write(climate.join("era5.yaml"), ERA5).expect("write");
    std::fs::write(dir.path().join("finance.yaml"), FINANCE).expect("write");
    std::fs::write(
        climate.join("tas.csv"),
        "month,temperature\n1,271.5\n2,272.25\n3,275.0\n",
    )
    .expect("write");
    std::fs::write(climate.join("wind.csv"), "hour,speed_10m\n0,3.5\n1,4.0\n").expect("write");
    std::fs::write(
        dir.path().join("prices.csv"),
        "day,ticker,close\n1,AAA,10.5\n1,BBB,20.25\n",
    )
    .expect("write");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs/data/trips.parquet");
    std::fs::copy(sample, climate.join("trips.parquet")).expect("copy parquet");
    dir
}

/// One backend's database for a test: PostgreSQL gets a database of its own; SQLite lives in
/// the server's state directory.
struct Setup {
    pg: Option<PgDb>,
    catalogs: tempfile::TempDir,
}

impl Setup {
    async fn new(backend: Backend) -> Setup {
        inlet_driver::storage::ensure_tls_provider();
        Setup {
            pg: match backend {
                Backend::Postgres => Some(PgDb::create().await),
                Backend::Sqlite => None,
            },
            catalogs: catalogs(),
        }
    }

    /// `inlet serve --auth required` over the test catalogs and this backend.
    fn start(&self, envs: &[(&str, &str)]) -> InletServer {
        let mut envs = envs.to_vec();
        envs.push(("INLET_RELOAD_INTERVAL_SECS", "1"));
        let envs = envs.as_slice();
        let dir = self.catalogs.path().to_string_lossy().into_owned();
        let mut args = vec!["--catalog", dir.as_str(), "--auth", "required"];
        if let Some(pg) = &self.pg {
            args.extend(["--database-url", pg.url.as_str()]);
        }
        InletServer::start(&args, envs)
    }

    /// The database arguments of the CLI for the database `server` uses.
    fn db_args(&self, server: &InletServer) -> Vec<String> {
        match &self.pg {
            Some(pg) => vec!["--database-url".into(), pg.url.clone()],
            None => vec![
                "--state-dir".into(),
                server.state_dir.path().to_string_lossy().into_owned(),
            ],
        }
    }

    /// The same database, opened in-process.
    async fn store(&self, server: &InletServer) -> Store {
        let url = self.pg.as_ref().map(|p| p.url.as_str());
        Store::open(url, server.state_dir.path())
            .await
            .expect("open the server's database")
    }

    /// `inlet token ...` against the server's database.
    fn token_cli(&self, server: &InletServer, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_inlet"))
            .arg("token")
            .args(args)
            .args(self.db_args(server))
            .env_remove("INLET_DATABASE_URL")
            .env_remove("INLET_STATE_DIR")
            .env_remove("INLET_CONFIG")
            .output()
            .expect("run inlet token")
    }

    /// Makes a token with the CLI: (id, token).
    fn token(&self, server: &InletServer, name: &str, scopes: &[&str]) -> (String, String) {
        let mut args = vec!["create", "--name", name, "--format", "json"];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        let out = self.token_cli(server, &args);
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: J = serde_json::from_slice(&out.stdout).expect("json");
        (
            v["id"].as_str().expect("id").to_string(),
            v["token"].as_str().expect("token").to_string(),
        )
    }

    fn revoke(&self, server: &InletServer, id: &str) {
        let out = self.token_cli(server, &["revoke", id]);
        assert!(
            out.status.success(),
            "token revoke: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn get(url: &str, token: Option<&str>) -> (StatusCode, J) {
    let mut r = Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("request");
    let status = r.status();
    let bytes = r.bytes().await.expect("body");
    (status, serde_json::from_slice(&bytes).unwrap_or(J::Null))
}

/// A 401 problem+json with a `WWW-Authenticate: Bearer` challenge.
async fn refused(url: &str, token: Option<&str>) -> String {
    let mut r = Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{url}");
    assert!(r
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(
        r.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let p: J = r.json().await.expect("problem");
    assert_eq!(p["type"], "/problems/unauthenticated");
    p["detail"].as_str().unwrap_or_default().to_string()
}

fn names(results: &J) -> Vec<String> {
    let mut n: Vec<String> = results
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect();
    n.sort();
    n
}

/// Waits until background discovery of the current revision is complete.
async fn discovered(server: &InletServer) {
    let start = Instant::now();
    loop {
        let (_, h) = get(&server.url("/readyz"), None).await;
        assert_eq!(h["database"], "ok", "{h}");
        let d = h["discovery"].as_str().unwrap_or_default().to_string();
        if let Some((done, total)) = d
            .strip_prefix("discovered ")
            .and_then(|p| p.split_once('/'))
        {
            if done == total {
                return;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "discovery: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn flight(server: &InletServer) -> FlightServiceClient<Channel> {
    let uri = server.flight.replace("grpc://", "http://");
    let channel = Channel::from_shared(uri)
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    FlightServiceClient::new(channel)
}

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    r
}

async fn tokens_decide_what_a_caller_sees_and_reads(backend: Backend) {
    let setup = Setup::new(backend).await;
    let server = setup.start(&[]);
    let (_, climate) = setup.token(&server, "climate", &["catalog:climate.*:read"]);
    let (_, all) = setup.token(&server, "all", &["catalog:*:read"]);
    let (revoked_id, revoked) = setup.token(&server, "gone", &["catalog:*:read"]);
    setup.revoke(&server, &revoked_id);
    let store = setup.store(&server).await;
    let expired = store
        .create_token("old", &["catalog:*:read".into()], Some(1))
        .await
        .expect("expired token");

    // Probes and the API description are open; everything else needs a valid token.
    for open in ["/livez", "/readyz", "/openapi.json", "/docs"] {
        let r = reqwest::get(server.url(open)).await.expect("request");
        assert_eq!(r.status(), StatusCode::OK, "{open}");
    }
    let catalogs = server.url("/api/v1/catalogs");
    for path in [
        "/api/v1/catalogs",
        "/api/v1/search?q=wind",
        "/api/v1/sources/climate.era5.wind/data",
        "/metrics",
        "/no/such/route",
    ] {
        refused(&server.url(path), None).await;
    }
    let (id, _) = inlet::store::tokens::split(&all).expect("shape");
    let wrong_secret = format!("inlet_{id}_{}", "A".repeat(43));
    for bad in [wrong_secret.as_str(), "garbage", ""] {
        refused(&catalogs, Some(bad)).await;
    }
    assert!(refused(&catalogs, Some(&revoked)).await.contains("revoked"));
    assert!(refused(&catalogs, Some(&expired.token))
        .await
        .contains("expired"));

    // A scoped token lists, describes and reads only its catalogs.
    let (status, list) = get(&catalogs, Some(&climate)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list["catalogs"]), ["climate.cmip6", "climate.era5"]);
    let (_, everything) = get(&catalogs, Some(&all)).await;
    assert_eq!(
        names(&everything["catalogs"]),
        ["climate.cmip6", "climate.era5", "finance"]
    );
    for path in [
        "/api/v1/catalogs/finance",
        "/api/v1/sources/finance.prices",
        "/api/v1/sources/finance.prices/schema",
        "/api/v1/sources/finance.prices/data",
        "/api/v1/sources/finance.prices/usage",
        "/api/v1/sources/finance.pricez",
    ] {
        let (status, p) = get(&server.url(path), Some(&climate)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {p}");
        let detail = p["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.contains("did you mean") && !detail.contains("prices`?"),
            "a 404 names nothing else: {detail}"
        );
    }
    let (status, _) = get(&server.url("/metrics"), Some(&climate)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "metrics name every source");
    let r = Client::new()
        .get(server.url("/metrics"))
        .bearer_auth(&all)
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let plan = Client::new()
        .post(server.url("/api/v1/sources/finance.prices/plan"))
        .bearer_auth(&climate)
        .send()
        .await
        .expect("plan");
    assert_eq!(plan.status(), StatusCode::NOT_FOUND);
    let r = Client::new()
        .get(server.url("/api/v1/sources/climate.cmip6.tas/data?format=csv"))
        .bearer_auth(&climate)
        .send()
        .await
        .expect("data");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("csv").contains("275"));
    let (status, _) = get(&server.url("/api/v1/sources/finance.prices"), Some(&all)).await;
    assert_eq!(status, StatusCode::OK);

    // Flight: the same tokens, the same scopes.
    let mut c = flight(&server).await;
    let err = c
        .list_flights(Criteria::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let err = c
        .list_flights(with_token(Criteria::default(), &revoked))
        .await
        .expect_err("revoked");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let listed: Vec<FlightInfo> = c
        .list_flights(with_token(Criteria::default(), &climate))
        .await
        .expect("list")
        .into_inner()
        .try_collect()
        .await
        .expect("infos");
    let mut paths: Vec<String> = listed
        .iter()
        .filter_map(|i| i.flight_descriptor.as_ref().map(|d| d.path.join(".")))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "climate.cmip6.tas",
            "climate.cmip6.trips",
            "climate.era5.wind"
        ]
    );
    let err = c
        .get_flight_info(with_token(
            arrow_flight::FlightDescriptor::new_path(vec!["finance".into(), "prices".into()]),
            &climate,
        ))
        .await
        .expect_err("out of scope");
    assert_eq!(err.code(), tonic::Code::NotFound);

    // The token table holds hashes only: no column of any row contains a secret.
    let rows = store.list_tokens().await.expect("list");
    assert_eq!(rows.len(), 4);
    let secrets: Vec<&str> = [&climate, &all, &revoked, &expired.token]
        .iter()
        .map(|t| inlet::store::tokens::split(t).expect("shape").1)
        .collect();
    let dump = dump_tokens(&setup, &server).await;
    for s in &secrets {
        assert!(!dump.contains(s), "a secret is stored in the clear");
    }
    assert!(dump.len() > 4 * 64, "the dump has the hashes: {dump}");
    store.close().await;
}

/// Every column of every row of `tokens`, as text.
async fn dump_tokens(setup: &Setup, server: &InletServer) -> String {
    use sqlx::Connection;
    let sql = "SELECT id || '|' || name || '|' || secret_hash || '|' || scopes || '|' || CAST(created_at AS TEXT) || '|' || COALESCE(CAST(expires_at AS TEXT), '') || '|' || COALESCE(CAST(revoked_at AS TEXT), '') FROM tokens";
    let rows: Vec<String> = match &setup.pg {
        Some(pg) => {
            let mut c = sqlx::PgConnection::connect(&pg.url).await.expect("pg");
            sqlx::query_scalar(sql)
                .fetch_all(&mut c)
                .await
                .expect("dump")
        }
        None => {
            let path: PathBuf = server.state_dir.path().join("inlet.db");
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                .await
                .expect("sqlite");
            sqlx::query_scalar(sql)
                .fetch_all(&mut c)
                .await
                .expect("dump")
        }
    };
    rows.join("\n")
}

async fn tickets_stop_working_when_their_token_is_revoked(backend: Backend) {
    let setup = Setup::new(backend).await;
    let server = setup.start(&[]);
    let (planner_id, planner) = setup.token(&server, "planner", &["catalog:climate.*:read"]);
    let (_, reader) = setup.token(&server, "reader", &["catalog:*:read"]);
    let plan = |token: String| {
        let url = server.url("/api/v1/sources/climate.cmip6.trips/plan");
        async move {
            let r = Client::new()
                .post(url)
                .bearer_auth(token)
                .body("{\"max_endpoints\": 2}")
                .send()
                .await
                .expect("plan");
            assert_eq!(r.status(), StatusCode::OK);
            let v: J = r.json().await.expect("json");
            v["endpoints"][0]["ticket"]
                .as_str()
                .expect("ticket")
                .to_string()
        }
    };
    let planned = plan(planner.clone()).await;
    let ticket_url = server.url(&format!("/api/v1/tickets/{planned}"));
    let ok = Client::new()
        .get(&ticket_url)
        .bearer_auth(&reader)
        .send()
        .await
        .expect("redeem");
    assert_eq!(ok.status(), StatusCode::OK, "a live token's ticket works");
    // Without a token the ticket route is closed too.
    refused(&ticket_url, None).await;

    setup.revoke(&server, &planner_id);
    let detail = refused(&ticket_url, Some(&reader)).await;
    assert!(
        detail.contains("planned this ticket") && detail.contains("revoked"),
        "{detail}"
    );
    let mut c = flight(&server).await;
    let err = c
        .do_get(with_token(
            arrow_flight::Ticket::new(planned.clone()),
            &reader,
        ))
        .await
        .expect_err("revoked planner");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    // The reader's own tickets still work.
    let own = plan(reader.clone()).await;
    let r = Client::new()
        .get(server.url(&format!("/api/v1/tickets/{own}")))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("redeem");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn search_is_ranked_filtered_scoped_and_injection_proof(backend: Backend) {
    let setup = Setup::new(backend).await;
    let server = setup.start(&[]);
    let (_, climate) = setup.token(&server, "climate", &["catalog:climate.*:read"]);
    let (_, all) = setup.token(&server, "all", &["catalog:*:read"]);
    discovered(&server).await;
    let search = |q: &str, token: &str| {
        let url = server.url(&format!("/api/v1/search?{q}"));
        let token = token.to_string();
        async move {
            let (status, v) = get(&url, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{url}: {v}");
            v
        }
    };

    // Ranked: a name match first; highlights mark the words; facets count every match.
    let v = search("q=temperature", &all).await;
    assert_eq!(
        names(&v["results"]),
        ["climate.cmip6.tas", "finance.prices"]
    );
    assert_eq!(v["total"], 2);
    assert_eq!(v["facets"]["tags"]["temperature"], 2);
    let first = &v["results"][0];
    assert_eq!(first["name"], "climate.cmip6.tas", "{v}");
    assert!(
        first["rank"].as_f64().expect("rank") > v["results"][1]["rank"].as_f64().expect("rank")
    );
    assert!(first["highlights"]["description"]
        .as_str()
        .expect("highlight")
        .contains("<mark>temperature</mark>"));
    // Word prefixes, every word.
    assert_eq!(
        names(&search("q=reanal%2010", &all).await["results"]),
        ["climate.era5.wind"]
    );
    assert_eq!(search("q=reanalysis%20prices", &all).await["total"], 0);
    // Columns (names and types) are searchable once discovered, and filter.
    assert_eq!(
        names(&search("q=speed", &all).await["results"]),
        ["climate.era5.wind"]
    );
    assert_eq!(
        names(&search("column=TICKER", &all).await["results"]),
        ["finance.prices"]
    );
    assert_eq!(
        names(&search("driver=parquet", &all).await["results"]),
        ["climate.cmip6.trips"]
    );
    assert_eq!(
        names(&search("catalog=climate", &all).await["results"]),
        [
            "climate.cmip6.tas",
            "climate.cmip6.trips",
            "climate.era5.wind"
        ]
    );
    assert_eq!(
        names(&search("tag=markets&q=prices", &all).await["results"]),
        ["finance.prices"]
    );

    // Scoped: out-of-scope sources are not results, and not counted in facets or totals.
    let v = search("q=temperature", &climate).await;
    assert_eq!(names(&v["results"]), ["climate.cmip6.tas"]);
    assert_eq!(v["total"], 1);
    assert_eq!(v["facets"]["tags"]["temperature"], 1);
    assert!(v["facets"]["tags"].get("markets").is_none(), "{v}");
    assert!(v["facets"]["catalog"].get("finance").is_none(), "{v}");
    let v = search("", &climate).await;
    assert_eq!(v["total"], 3);
    assert!(!v.to_string().contains("finance"), "{v}");
    assert_eq!(search("q=secret%20portfolio", &climate).await["total"], 0);

    // Pages follow the cursor and add up to the total.
    let mut seen = vec![];
    let mut next: Option<String> = None;
    loop {
        let q = match &next {
            Some(t) => format!("page_size=1&page_token={t}"),
            None => "page_size=1".to_string(),
        };
        let v = search(&q, &all).await;
        assert_eq!(v["total"], 4);
        seen.extend(names(&v["results"]));
        match v["next_page_token"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "climate.cmip6.tas",
            "climate.cmip6.trips",
            "climate.era5.wind",
            "finance.prices"
        ]
    );

    // SQL in any field is only ever data.
    for hostile in [
        "q='%3B%20drop%20table%20tokens%3B%20--",
        "q=%25_%5C",
        "column=%25_%5C",
        "catalog=%25",
        "catalog=%25_%5C",
        "tag='%20OR%201%3D1%20--",
        "driver='%20OR%20''%3D'",
        "q=%22%20OR%20*",
        "q=zz%3A*%20%7C%20yy",
    ] {
        let v = search(hostile, &all).await;
        assert_eq!(v["total"], 0, "{hostile}: {v}");
    }
    let (status, _) = get(&server.url("/api/v1/catalogs"), Some(&all)).await;
    assert_eq!(status, StatusCode::OK, "the tokens table is still there");
    let store = setup.store(&server).await;
    assert_eq!(store.list_tokens().await.expect("tokens").len(), 2);
    store.close().await;
    let (status, _) = get(&server.url("/api/v1/search?page_token=bogus"), Some(&all)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The index follows catalog edits (hot reload).
    std::fs::write(
        setup.catalogs.path().join("climate/era5.yaml"),
        format!(
            "{ERA5}  gusts:\n    description: Maximum gust speed\n    driver: csv\n    args: {{urlpath: '{{{{ CATALOG_DIR }}}}/wind.csv'}}\n"
        ),
    )
    .expect("edit");
    let start = Instant::now();
    loop {
        let v = search("q=gust", &climate).await;
        if v["total"] == 1 {
            assert_eq!(names(&v["results"]), ["climate.era5.gusts"]);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not reindexed: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn the_cli_searches_the_same_index() {
    let state = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args([
            "search",
            "transport",
            "--format",
            "json",
            "--catalog",
            "catalogs",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("INLET_DATABASE_URL")
        .env_remove("INLET_CATALOGS")
        .output()
        .expect("inlet search");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: J = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        names(&v["results"]),
        ["example.ride_events", "example.stations", "example.trips"]
    );
    assert_eq!(v["facets"]["tags"]["transport"], 3);
    assert!(state.path().join("inlet.db").is_file());
    let out = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args([
            "search",
            "--tag",
            "transport",
            "--driver",
            "csv",
            "--catalog",
            "catalogs",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("INLET_DATABASE_URL")
        .env_remove("INLET_CATALOGS")
        .output()
        .expect("inlet search");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("example.stations"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

async fn usage_is_counted_per_source_and_token(backend: Backend) {
    let setup = Setup::new(backend).await;
    let server = setup.start(&[]);
    let (a_id, a) = setup.token(&server, "a", &["catalog:climate.*:read"]);
    let (_, b) = setup.token(&server, "b", &["catalog:*:read"]);
    let data = server.url("/api/v1/sources/climate.cmip6.trips/data");
    let mut bytes = 0;
    for _ in 0..2 {
        let r = Client::new()
            .get(&data)
            .bearer_auth(&a)
            .send()
            .await
            .expect("data");
        assert_eq!(r.status(), StatusCode::OK);
        bytes += r.bytes().await.expect("body").len() as i64;
    }
    let usage = server.url("/api/v1/sources/climate.cmip6.trips/usage");
    let start = Instant::now();
    let v = loop {
        let (status, v) = get(&usage, Some(&a)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["requests"] == 2 {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(v["rows"], 40_000, "{v}");
    assert_eq!(v["bytes"], bytes, "{v}");
    assert_eq!(v["by_day"][0]["token_id"], a_id.as_str());
    // Another token sees only its own usage (none), not a's.
    let (_, other) = get(&usage, Some(&b)).await;
    assert_eq!(other["requests"], 0, "{other}");
    assert_eq!(other["by_day"].as_array().map(Vec::len), Some(0));

    // Popular sources rank first among equals: with no text every rank is 0, so the one that
    // was read leads (by name, `climate.cmip6.tas` would).
    let search = server.url("/api/v1/search");
    let start = Instant::now();
    loop {
        let (status, v) = get(&search, Some(&b)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        if v["results"][0]["name"] == "climate.cmip6.trips" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "usage does not rank: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn a_database_with_a_newer_schema_is_refused(backend: Backend) {
    let pg = match backend {
        Backend::Postgres => Some(PgDb::create().await),
        Backend::Sqlite => None,
    };
    let dir = tempfile::tempdir().expect("tmp");
    let url = pg.as_ref().map(|p| p.url.as_str());
    let store = Store::open(url, dir.path())
        .await
        .expect("first open migrates");
    let version = store
        .schema_version()
        .await
        .expect("version")
        .expect("migrated");
    assert!(version > 0);
    store.close().await;
    // A newer Inlet migrated the database further.
    let future = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)";
    {
        use sqlx::Connection;
        match &pg {
            Some(pg) => {
                let mut c = sqlx::PgConnection::connect(&pg.url).await.expect("pg");
                sqlx::query(future).execute(&mut c).await.expect("insert");
            }
            None => {
                let path = dir.path().join("inlet.db");
                let mut c = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                    .await
                    .expect("sqlite");
                sqlx::query(&future.replace("'\\x00'", "X'00'"))
                    .execute(&mut c)
                    .await
                    .expect("insert");
            }
        }
    }
    let err = Store::open(url, dir.path())
        .await
        .expect_err("newer schema");
    assert!(
        err.to_string().contains("newer than this inlet knows"),
        "{err}"
    );
    // And the server says so on start.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_inlet"));
    cmd.args(["serve", "--http", "127.0.0.1:0", "--no-flight", "--catalog"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs"))
        .env("INLET_STATE_DIR", dir.path())
        .env_remove("INLET_DATABASE_URL");
    if let Some(u) = url {
        cmd.args(["--database-url", u]);
    }
    let out = cmd.output().expect("serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer than this inlet knows"), "{stderr}");
}

/// Two replicas on one PostgreSQL, sharing the ticket key: a token made through one works on
/// the other, a ticket planned on one is redeemed on the other, and a revocation reaches both.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_tokens_and_tickets_through_postgres() {
    let setup = Setup::new(Backend::Postgres).await;
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let one = setup.start(&[("INLET_TICKET_KEY", key)]);
    let two = setup.start(&[("INLET_TICKET_KEY", key)]);
    let (id, token) = setup.token(&one, "shared", &["catalog:climate.*:read"]);
    for server in [&one, &two] {
        let (status, list) = get(&server.url("/api/v1/catalogs"), Some(&token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(names(&list["catalogs"]), ["climate.cmip6", "climate.era5"]);
    }
    let r = Client::new()
        .post(one.url("/api/v1/sources/climate.cmip6.trips/plan"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("plan");
    assert_eq!(r.status(), StatusCode::OK);
    let plan: J = r.json().await.expect("json");
    let ticket = plan["endpoints"][0]["ticket"].as_str().expect("ticket");
    let r = Client::new()
        .get(two.url(&format!("/api/v1/tickets/{ticket}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("redeem on the other replica");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.bytes().await.expect("body").is_empty());
    // Both replicas search the one index.
    for server in [&one, &two] {
        let (_, v) = get(&server.url("/api/v1/search?q=wind"), Some(&token)).await;
        assert_eq!(names(&v["results"]), ["climate.era5.wind"]);
    }
    setup.revoke(&one, &id);
    for server in [&one, &two] {
        refused(&server.url("/api/v1/catalogs"), Some(&token)).await;
        refused(
            &server.url(&format!("/api/v1/tickets/{ticket}")),
            Some(&token),
        )
        .await;
    }
}

/// `/readyz` reports the database: 503 and why once it cannot be reached.
#[tokio::test(flavor = "multi_thread")]
async fn readyz_reports_an_unreachable_database() {
    let setup = Setup::new(Backend::Postgres).await;
    let server = setup.start(&[]);
    let (status, h) = get(&server.url("/readyz"), None).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["database"], "ok");
    assert_eq!(h["database_backend"], "postgres");
    let Setup {
        pg,
        catalogs: _kept,
    } = setup;
    drop(pg); // drops the database, and with it the server's connections
    let start = Instant::now();
    loop {
        let (status, h) = get(&server.url("/readyz"), None).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            assert!(
                h["database"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("unreachable"),
                "{h}"
            );
            assert_eq!(h["status"], "degraded");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{h}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn auth_off_refuses_to_listen_beyond_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_inlet"))
        .args(["serve", "--http", "0.0.0.0:0", "--no-flight"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "INLET_STATE_DIR",
            std::env::temp_dir().join("inlet-never-used"),
        )
        .output()
        .expect("serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("without authentication") && stderr.contains("--insecure-no-auth"),
        "{stderr}"
    );
}

/// The real Parquet driver over a local store that records every GET, so a test sees which
/// files' bytes (footers included) a server read.
#[derive(Default)]
struct RecordedParquet {
    logs: std::sync::Mutex<Vec<inlet_driver::testing::GetLog>>,
}

impl RecordedParquet {
    fn paths(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .logs
            .lock()
            .expect("logs")
            .iter()
            .flat_map(|l| l.paths())
            .collect();
        p.sort();
        p.dedup();
        p
    }
}

struct RecordedDriver(std::sync::Arc<RecordedParquet>);

#[async_trait::async_trait]
impl inlet_driver::Driver for RecordedDriver {
    fn name(&self) -> &'static str {
        "recorded_parquet"
    }

    async fn open(
        &self,
        args: &serde_json::Map<String, J>,
        ctx: &inlet_driver::OpenContext,
    ) -> inlet_driver::Result<std::sync::Arc<dyn inlet_driver::Source>> {
        use object_store::ObjectStoreExt;
        let file = args.get("file").and_then(J::as_str).unwrap_or_default();
        let local = object_store::local::LocalFileSystem::new_with_prefix(&ctx.catalog_dir)
            .map_err(|e| inlet_driver::DriverError::Io(e.to_string()))?;
        // The listing (HEAD) is not recorded: it is what fingerprints the file.
        let meta = local
            .head(&object_store::path::Path::from(file))
            .await
            .map_err(|e| inlet_driver::DriverError::Io(e.to_string()))?;
        let (store, log) = inlet_driver::testing::RecordingStore::wrap(std::sync::Arc::new(local));
        self.0.logs.lock().expect("logs").push(log);
        let files = inlet_driver::storage::Files::new(store, "", vec![meta]);
        Ok(inlet_parquet::ParquetDriver::source(
            files,
            None,
            &ctx.limits,
            vec![],
        ))
    }
}

async fn discovery_is_cached_across_restarts(backend: Backend) {
    use std::sync::Arc;
    let pg = match backend {
        Backend::Postgres => Some(PgDb::create().await),
        Backend::Sqlite => None,
    };
    let state = tempfile::tempdir().expect("tmp");
    let dir = tempfile::tempdir().expect("tmp");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs/data");
    std::fs::copy(data.join("trips.parquet"), dir.path().join("a.parquet")).expect("copy");
    std::fs::copy(data.join("trips.parquet"), dir.path().join("b.parquet")).expect("copy");
    std::fs::write(
        dir.path().join("c.yaml"),
        "sources:\n  a: {driver: recorded_parquet, args: {file: a.parquet}}\n  b: {driver: recorded_parquet, args: {file: b.parquet}}\n",
    )
    .expect("catalog");
    let config = inlet::config::ServeConfig {
        catalogs: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    // One server start: discover in the background, wait until done, report what was read.
    let start = |recorded: Arc<RecordedParquet>| {
        let (config, url) = (config.clone(), pg.as_ref().map(|p| p.url.clone()));
        let state = state.path().to_path_buf();
        async move {
            let store = Store::open(url.as_deref(), &state).await.expect("store");
            let mut drivers = inlet::service::builtin_drivers();
            drivers.register(Arc::new(RecordedDriver(recorded)));
            let core = Arc::new(inlet::service::Core::new(
                config,
                Arc::new(drivers),
                inlet::service::tickets::TicketKey::new(vec![1u8; 32]),
                store,
            ));
            core.start();
            let t = Instant::now();
            while core.health().await.discovery != "discovered 2/2" {
                assert!(
                    t.elapsed() < Duration::from_secs(30),
                    "discovery did not finish"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            core
        }
    };

    let first = Arc::new(RecordedParquet::default());
    let core = start(first.clone()).await;
    assert_eq!(
        first.paths(),
        ["a.parquet", "b.parquet"],
        "the first start reads both footers"
    );
    // Columns found by discovery are searchable.
    let found = core
        .search(
            &inlet::service::Caller::everything(),
            &inlet::service::SearchRequest {
                columns: vec!["fare".into()],
                ..Default::default()
            },
        )
        .await
        .expect("search");
    assert_eq!(found.total, 2, "{found:?}");
    drop(core);

    let second = Arc::new(RecordedParquet::default());
    let core = start(second.clone()).await;
    assert!(
        second.paths().is_empty(),
        "a restart with unchanged files reads nothing: {:?}",
        second.paths()
    );
    // Reading still works: the footer is fetched when the data is.
    let read = core
        .read(
            &inlet::service::Caller::everything(),
            "c.a",
            &Default::default(),
            inlet_driver::ReadRequest::default(),
        )
        .await
        .expect("read");
    let rows: usize = read
        .try_collect::<Vec<_>>()
        .await
        .expect("batches")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 20_000);
    assert_eq!(second.paths(), ["a.parquet"]);
    drop(core);

    // A changed file re-discovers its source only.
    std::fs::copy(
        data.join("monthly/trips_2024-02.parquet"),
        dir.path().join("b.parquet"),
    )
    .expect("replace b");
    let third = Arc::new(RecordedParquet::default());
    let core = start(third.clone()).await;
    assert_eq!(third.paths(), ["b.parquet"]);
    drop(core);
}
