//! What the fuzzer found, minimised, one named test each. Each runs the target's own check on
//! the input, so it asserts every property the fuzzer does.

use inlet::catalog::template::Templater;

/// Runs the catalog target's checks on `bytes`.
fn catalog(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("cat.yaml");
    if let Err(e) = crate::catalog::check_catalog(&path, bytes, &Templater::default()) {
        panic!("{e}");
    }
}

/// yaml-rust2 marks some errors and events at the end of a file without a final line break
/// one line below the last: a syntax error was reported at 9:1 of an 8-line file, and an empty
/// entry at 4:1 of a 3-line one. Positions are now kept inside the file (src/catalog/yaml.rs).
#[test]
fn positions_at_the_end_of_a_file_without_a_final_line_break_stay_inside_it() {
    catalog(b":\n\n\n\n\n        description: B\n\nt");
    catalog(b"sources:\n :\n ");
    catalog(b"sources:\n  a:\n    driver: csv\n  :");
}

/// Sends `req` to the fuzzed router and runs the HTTP targets' check on the answer.
fn http(server: &crate::http::Server, req: crate::http::Req) {
    if let Err(e) = server.check(&req) {
        panic!("{}\n{e}", crate::http::show(&req));
    }
}

/// Sends `req`, asserts a 422 whose first per-field error names `field`; the problem document.
fn refused(server: &crate::http::Server, req: &crate::http::Req, field: &str) -> serde_json::Value {
    let answer = server.send(req).expect("answer");
    assert_eq!(answer.status, 422, "{}", crate::http::show(req));
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body.expect("body")).expect("problem+json");
    assert_eq!(body["errors"][0]["name"], field, "{body}");
    body
}

fn get(path: &str, source: Option<&str>) -> crate::http::Req {
    let mut r = crate::http::Req::get(path.split_once('?').map_or(path, |(p, _)| p));
    r.query = path.split_once('?').map(|(_, q)| q.to_string());
    r.source = source.map(str::to_string);
    r
}

/// A percent-escape that is not UTF-8 in a path segment was answered by axum's own rejection,
/// `400 text/plain` ("Invalid URL: Invalid UTF-8 in `source`"), on every route with a name in
/// its path. Every error is now problem+json (src/api/mod.rs, `problems_only`).
#[test]
fn a_name_that_is_not_utf8_is_a_problem_json_400() {
    let server = crate::http::Server::start();
    for path in [
        "/api/v1/sources/fuzz.missing%FF?0",
        "/api/v1/sources/example.trips%C3/data",
        "/api/v1/sources/%FF/schema",
        "/api/v1/catalogs/example%FE",
        "/api/v1/tickets/%FF.%FF",
    ] {
        http(&server, get(path, None));
    }
    let mut plan = get("/api/v1/sources/%FF/plan", None);
    plan.method = axum::http::Method::POST;
    http(&server, plan);
    // And what the router answers by itself: a method a route does not take.
    let mut delete = get("/api/v1/sources/example.trips", None);
    delete.method = axum::http::Method::DELETE;
    http(&server, delete);
}

/// `columns=fare,fare,pickup_at` made the Parquet driver index past the columns it had read
/// (it reads a repeated column once, then placed it by a binary search over the repeats): a
/// panic in the streaming task, after the 200. A column asked for twice is now a 422 for every
/// driver (drivers/api/src/model.rs, `projection_indices`), over HTTP and in plans.
#[test]
fn a_column_asked_for_twice_is_a_422_not_a_panic() {
    let server = crate::http::Server::start();
    let cases = [
        ("example.trips", "columns=fare,fare,pickup_at"),
        ("example.trips", "columns=fare%2cfare%2CpickUP_at&limit=3"),
        ("example.trips_monthly", "columns=fare,fare"),
        ("example.stations", "columns=name,name"),
        ("example.ride_events", "columns=kind,kind"),
        ("example.air_grid", "columns=lat,lat"),
        ("fuzz.typed", "columns=name,name"),
    ];
    for (source, query) in cases {
        for format in ["", "&format=csv", "&format=parquet"] {
            let req = get(
                &format!("/api/v1/sources/{source}/data?{query}{format}"),
                Some(source),
            );
            let answer = server.send(&req).expect("answer");
            if server.source(source).is_some_and(|s| {
                s.columns
                    .iter()
                    .any(|c| query.contains(&format!("={c},{c}")))
            }) {
                assert_eq!(answer.status, 422, "{}", crate::http::show(&req));
            }
            http(&server, req);
        }
        let mut plan = get(&format!("/api/v1/sources/{source}/plan"), Some(source));
        plan.method = axum::http::Method::POST;
        let cols: Vec<&str> = query.trim_start_matches("columns=").split(',').collect();
        plan.body = serde_json::to_vec(&serde_json::json!({ "columns": cols })).expect("json");
        http(&server, plan);
    }
}

mod panicking_driver {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use async_trait::async_trait;
    use futures::StreamExt;
    use inlet_driver::{
        BatchStream, Discovery, Driver, DriverNames, OpenContext, Partition, ReadRequest, Result,
        Source,
    };

    /// One good batch, then a panic: a bug in some driver, mid-stream.
    pub struct Panicky;

    struct PanickySource(SchemaRef);

    #[async_trait]
    impl Driver for Panicky {
        fn name(&self) -> &'static str {
            "panicky"
        }

        fn names(&self) -> DriverNames {
            DriverNames {
                aliases: &[],
                intake2_datatypes: &[],
            }
        }

        async fn open(
            &self,
            _args: &serde_json::Map<String, serde_json::Value>,
            _ctx: &OpenContext,
        ) -> Result<Arc<dyn Source>> {
            let schema = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
            Ok(Arc::new(PanickySource(Arc::new(schema))))
        }
    }

    #[async_trait]
    impl Source for PanickySource {
        async fn discover(&self) -> Result<Arc<Discovery>> {
            Ok(Arc::new(Discovery {
                schema: self.0.clone(),
                partitions: vec![Partition {
                    id: 0,
                    label: "all".into(),
                    file: 0,
                    estimated_rows: None,
                    estimated_bytes: None,
                }],
                total_rows: None,
                total_bytes: None,
                files: vec![],
                statistics: vec![],
                metadata: Default::default(),
                warnings: vec![],
            }))
        }

        async fn read(&self, _request: ReadRequest) -> Result<BatchStream> {
            let schema = self.0.clone();
            let batch = move |i: i64| {
                assert!(i < 2, "a driver bug");
                let values: Int64Array = vec![i; 1000].into();
                Ok(RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("batch"))
            };
            Ok(futures::stream::iter(0..3).map(batch).boxed())
        }
    }
}

/// A panic in the task that streams a body ended the body cleanly: a client got a 200 and a
/// short Arrow stream it could take for the whole data. The body is now aborted, as for any
/// error after the first byte (src/api/data.rs, `stream_response`).
#[test]
fn a_panic_while_streaming_aborts_the_body() {
    use std::sync::Arc;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("p.yaml"),
        "sources:\n  boom:\n    driver: panicky\n    args: {}\n",
    )
    .expect("write");
    let mut drivers = inlet::service::builtin_drivers();
    drivers.register(Arc::new(panicking_driver::Panicky));
    let config = inlet::config::ServeConfig {
        catalogs: vec![dir.path().to_path_buf()],
        batch_size: 1000,
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let store = rt.block_on(inlet::store::Store::memory()).expect("store");
    let core = inlet::service::Core::new(
        config,
        Arc::new(drivers),
        inlet::service::tickets::TicketKey::new(vec![7u8; 32]),
        store,
    );
    let app = inlet::api::router(inlet::api::AppState::new(Arc::new(core), None));
    rt.block_on(async {
        for format in ["arrow", "csv", "ndjson", "parquet"] {
            let req =
                axum::http::Request::get(format!("/api/v1/sources/p.boom/data?format={format}"))
                    .body(axum::body::Body::empty())
                    .expect("request");
            let response = app.clone().oneshot(req).await.expect("answer");
            assert_eq!(response.status(), 200, "{format}: the first batch is fine");
            let body = axum::body::to_bytes(response.into_body(), 1 << 30).await;
            assert!(
                body.is_err(),
                "{format}: the body ends as if complete after a panic"
            );
        }
    });
}

/// Open (reported to the lead, same class as `param.p=` giving 500): a caller's value that
/// makes a rendered arg invalid is answered 500 catalog-args-invalid, as if the catalog were
/// wrong. `{...}` in a urlpath is Intake's path pattern, so `param.file={:1}` turns the path
/// into a pattern that does not parse. Expected: 422 naming the parameter. Un-ignore when fixed.
#[test]
fn a_caller_value_that_breaks_a_rendered_arg_is_a_422() {
    let server = crate::http::Server::start();
    for q in ["param.file=%7B%3A1%7D", "param.file=%7Ba%7D%7B%3A%7D"] {
        let req = get(
            &format!("/api/v1/sources/fuzz.by_name/data?{q}"),
            Some("fuzz.by_name"),
        );
        let answer = server.send(&req).expect("answer");
        assert!(answer.status.is_client_error(), "{q}: {}", answer.status);
    }
}

/// A template with a syntax error past column 65,535 overflowed minijinja's 16-bit column
/// counter: a panic (`attempt to add with overflow`, minijinja lexer.rs) in builds with overflow
/// checks, which the loader hit while checking a catalog. Templates over 60,000 bytes are now
/// refused before they are compiled (src/catalog/template.rs, `MAX_TEMPLATE_BYTES`).
#[test]
fn a_template_longer_than_minijinja_counts_is_refused_not_a_panic() {
    let digits = "9".repeat(70_000);
    let yaml = format!(
        "sources:\n  e:\n    driver: csv\n    args:\n      urlpath: '{{{{ CATALOG_DIR }}}}/entry1_{{{{ {digits}'\n"
    );
    catalog(yaml.as_bytes());
    let t = Templater::default();
    let long = format!("{{{{ x }}}}{}{{{{", " ".repeat(70_000));
    assert!(t.inspect(&long).is_err());
    let vars = [("x".to_string(), serde_json::json!("v"))].into();
    assert!(t
        .render_str(&long, &vars, &inlet::catalog::EnvPolicy::default())
        .is_err());
}

/// CSV of a source with nested columns was a 200 that aborted at the first nested value; it is
/// now refused up front with a 422 naming `format`, and CSV of its flat columns still works.
/// (The query fuzzer then counted the 422 as "a valid request refused" until it learnt that
/// CSV of a nested source is not a valid request.)
#[test]
fn csv_of_nested_columns_is_a_422_before_the_first_byte() {
    let server = crate::http::Server::start();
    let source = "example.ride_events";
    let csv = get(
        &format!("/api/v1/sources/{source}/data?format=csv"),
        Some(source),
    );
    refused(&server, &csv, "format");
    let flat = get(
        &format!("/api/v1/sources/{source}/data?format=csv&columns=kind"),
        Some(source),
    );
    let answer = server.send(&flat).expect("answer");
    assert_eq!(answer.status, 200, "{}", crate::http::show(&flat));
    let text = String::from_utf8(answer.body.expect("body").to_vec()).expect("utf-8");
    assert!(text.starts_with("kind\n"), "{text}");
}

/// `partition=0` given 1,500 times streamed the partition 1,500 times (13 GB): a partition named
/// twice is now a 422 naming `partition`, for every driver (drivers/api, `Discovery::select`),
/// like a column named twice.
#[test]
fn a_partition_asked_for_twice_is_a_422() {
    let server = crate::http::Server::start();
    for source in [
        "example.trips",
        "example.trips_monthly",
        "example.stations",
        "example.ride_events",
        "example.air_grid",
    ] {
        let req = get(
            &format!("/api/v1/sources/{source}/data?partition=0&partition=0"),
            Some(source),
        );
        let body = refused(&server, &req, "partition");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("more than once")),
            "{body}"
        );
        let once = get(
            &format!("/api/v1/sources/{source}/data?partition=0"),
            Some(source),
        );
        assert_eq!(server.send(&once).expect("answer").status, 200);
    }
}

/// `example.trips.` and `example..trips` described `example.trips` (dots were trimmed in runs):
/// a name has exactly one dot between its parts.
#[test]
fn names_with_extra_dots_name_nothing() {
    let server = crate::http::Server::start();
    for name in [
        "example.trips.",
        "example.trips...",
        "example..trips",
        "example.",
    ] {
        let req = get(&format!("/api/v1/sources/{name}"), None);
        let answer = server.send(&req).expect("answer");
        assert_eq!(answer.status, 404, "{}", crate::http::show(&req));
    }
    let ok = get("/api/v1/sources/example.trips", None);
    assert_eq!(server.send(&ok).expect("answer").status, 200);
}

/// `q=a,a,a,...` (thousands of words) took 2.4 s: every word was a full-text term. A word given
/// twice now counts once, and more than 32 different words is a 422 naming `q`.
#[test]
fn a_search_of_thousands_of_words_is_quick_or_refused() {
    let server = crate::http::Server::start();
    let repeated = format!("/api/v1/search?q={}", "a%2C".repeat(3000));
    let started = std::time::Instant::now();
    let answer = server.send(&get(&repeated, None)).expect("answer");
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let many: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    let req = get(&format!("/api/v1/search?q={}", many.join("+")), None);
    refused(&server, &req, "q");
}
