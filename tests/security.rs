//! What a caller (or a careless catalog) can no longer do to a running server: choose where data
//! is read from, read secrets in any answer, poison plan locations or metrics, or turn bad input
//! into 5xx; and a server that refuses to start with a weak key.

mod common;

use common::{HttpServer, InletServer};
use inlet_driver::testing::fixtures;
use reqwest::{Client, Method, StatusCode};
use serde_json::Value as J;

const SECRETS: [&str; 6] = [
    "hunter2pw",
    "sigsecret",
    "credsecret",
    "pwdsecret",
    "envsecret",
    "sassecret",
];

fn catalog(web: &str) -> String {
    format!(
        "sources:
  anywhere:
    driver: csv
    parameters:
      p: {{type: str, default: '{fx}/csv/plain.csv'}}
    args: {{urlpath: '{{{{ p }}}}'}}
  chosen:
    driver: csv
    parameters:
      p: {{type: str, default: plain, allowed: [plain, '{web}/plain.csv']}}
    args: {{urlpath: '{{{{ p }}}}'}}
  named:
    driver: csv
    parameters:
      name: {{type: str, default: plain}}
    args: {{urlpath: '{fx}/csv/{{{{ name }}}}.csv'}}
  nested:
    driver: parquet
    args: {{urlpath: '{fx}/parquet/types.parquet'}}
  with_password:
    driver: csv
    args: {{urlpath: 'http://user:hunter2pw@127.0.0.1:9/x.csv'}}
  presigned:
    driver: csv
    args: {{urlpath: 'http://127.0.0.1:9/x.csv?X-Amz-Credential=credsecret&X-Amz-Signature=sigsecret'}}
  sas:
    driver: csv
    args: {{urlpath: 'http://127.0.0.1:9/c/x.csv?sv=2020-01-01&sp=r&sig=sassecret'}}
  from_env:
    driver: csv
    args: {{urlpath: \"{{{{ env('INLET_SEC_TEST_URL') }}}}\"}}
  secret_param:
    driver: csv
    parameters:
      db_password: {{type: str, default: pwdsecret}}
    args: {{urlpath: '{fx}/csv/plain.csv'}}
  metadata_service:
    driver: csv
    args: {{urlpath: 'http://169.254.169.254/latest/meta-data/x.csv'}}
",
        fx = fixtures().display()
    )
}

struct Fx {
    server: InletServer,
    web: HttpServer,
    _dir: tempfile::TempDir,
}

async fn start(extra: &[&str]) -> Fx {
    inlet_driver::storage::ensure_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    let web_root = dir.path().join("web");
    std::fs::create_dir(&web_root).expect("mkdir");
    std::fs::copy(fixtures().join("csv/plain.csv"), web_root.join("plain.csv")).expect("copy");
    std::fs::write(web_root.join("secret.csv"), "a\nprivate\n").expect("secret");
    let web = HttpServer::start(&web_root).await;
    std::fs::write(dir.path().join("sec.yaml"), catalog(&web.base)).expect("yaml");
    let fx = fixtures();
    let mut args = vec![
        "--catalog".to_string(),
        dir.path().join("sec.yaml").display().to_string(),
        "--allow-path".to_string(),
        fx.display().to_string(),
        "--allow-env".to_string(),
        "INLET_SEC_TEST_URL".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = InletServer::start(
        &args,
        &[(
            "INLET_SEC_TEST_URL",
            "http://127.0.0.1:9/e.csv?token=envsecret&x=1",
        )],
    );
    Fx {
        server,
        web,
        _dir: dir,
    }
}

async fn get(c: &Client, url: &str) -> (StatusCode, String) {
    let r = c.get(url).send().await.expect("request");
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

fn problem(body: &str) -> J {
    serde_json::from_str(body).unwrap_or(J::Null)
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_values_cannot_choose_scheme_host_or_patterns() {
    let fx = start(&[]).await;
    let c = Client::new();
    let s = &fx.server;
    let secret_url = format!("{}/secret.csv", fx.web.base);
    for value in [
        secret_url.as_str(),
        "s3://bucket/x.parquet",
        "//127.0.0.1/x",
    ] {
        let url = s.url(&format!(
            "/api/v1/sources/sec.anywhere/data?format=csv&param.p={}",
            urlencode(value)
        ));
        let (status, body) = get(&c, &url).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}: {body}");
        let p = problem(&body);
        assert_eq!(p["errors"][0]["name"], "p", "{body}");
        assert!(
            !body.contains("private"),
            "the other service's file was read"
        );
    }
    // The default (the catalog's own text) still reads.
    let (status, _) = get(&c, &s.url("/api/v1/sources/sec.anywhere/data?format=csv")).await;
    assert_eq!(status, StatusCode::OK);
    // A URL the catalog's author listed in `allowed` may be chosen.
    let allowed = format!("{}/plain.csv", fx.web.base);
    let (status, body) = get(
        &c,
        &s.url(&format!(
            "/api/v1/sources/sec.chosen/data?format=csv&param.p={}",
            urlencode(&allowed)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Glob characters are literal, so refused; a plain name reads.
    let (status, body) = get(&c, &s.url("/api/v1/sources/sec.named/data?param.name=pl*")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("glob"), "{body}");
    let (status, _) = get(
        &c,
        &s.url("/api/v1/sources/sec.named/data?param.name=plain"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Link-local and metadata addresses are refused before any connection.
    let (status, body) = get(&c, &s.url("/api/v1/sources/sec.metadata_service/data")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("link-local"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_hosts_restricts_remote_reads() {
    let fx = start(&["--allow-host", "data.example.com"]).await;
    let c = Client::new();
    let allowed = format!("{}/plain.csv", fx.web.base);
    let (status, body) = get(
        &c,
        &fx.server.url(&format!(
            "/api/v1/sources/sec.chosen/data?param.p={}",
            urlencode(&allowed)
        )),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("allow_hosts"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_shows_a_planted_secret() {
    let fx = start(&[]).await;
    let c = Client::new();
    let s = &fx.server;
    // Storage behind these sources is unreachable and retried: ask everything at once.
    let names = [
        "with_password",
        "presigned",
        "sas",
        "from_env",
        "secret_param",
    ];
    let gets = names.iter().flat_map(|name| {
        ["", "/schema", "/data", "/data?format=csv"]
            .map(|route| s.url(&format!("/api/v1/sources/sec.{name}{route}")))
    });
    let gets = futures::future::join_all(gets.map(|url| {
        let c = c.clone();
        async move { get(&c, &url).await.1 }
    }));
    let plans = futures::future::join_all(names.iter().map(|name| {
        let c = c.clone();
        let url = s.url(&format!("/api/v1/sources/sec.{name}/plan"));
        async move {
            let r = c.post(url).body("{}").send().await.expect("plan");
            r.text().await.unwrap_or_default()
        }
    }));
    let (gets, plans) = futures::join!(gets, plans);
    let mut seen: String = gets.concat();
    seen.push_str(&plans.concat());
    for route in [
        "/api/v1/catalogs",
        "/api/v1/catalogs/sec",
        "/api/v1/search?q=sec",
        "/readyz",
        "/metrics",
    ] {
        seen.push_str(&get(&c, &s.url(route)).await.1);
    }
    for secret in SECRETS {
        assert!(!seen.contains(secret), "`{secret}` was shown by some route");
    }
    // The redaction is visible, not a silent drop.
    assert!(seen.contains("***"), "no redaction marker at all");
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_show_paths_relative_to_the_catalog_root() {
    let fx = start(&[]).await;
    let c = Client::new();
    let s = &fx.server;
    let (_, described) = get(&c, &s.url("/api/v1/sources/sec.nested")).await;
    let (_, missing) = get(&c, &s.url("/api/v1/sources/sec.named/data?param.name=nope")).await;
    let (_, ready) = get(&c, &s.url("/readyz")).await;
    let all = format!("{described}{missing}{ready}");
    let fixtures = fixtures().canonicalize().expect("fixtures");
    assert!(!all.contains(&fixtures.display().to_string()), "{all}");
    assert!(
        !all.contains(&fx._dir.path().display().to_string()),
        "{all}"
    );
    assert!(
        described.contains("[allowed]/parquet/types.parquet"),
        "{described}"
    );
    assert!(missing.contains("[allowed]/csv/nope.csv"), "{missing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_input_gets_4xx_not_5xx() {
    let fx = start(&[]).await;
    let c = Client::new();
    let s = &fx.server;
    for (route, field) in [
        ("/api/v1/sources/sec.named/data?param.name=", "name"),
        ("/api/v1/sources/sec.named/data?param.name=a%00b", "name"),
        ("/api/v1/sources/sec.nested/data?columns=", "columns"),
        ("/api/v1/sources/sec.nested/data?format=csv", "format"),
    ] {
        let (status, body) = get(&c, &s.url(route)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{route}: {body}");
        assert_eq!(
            problem(&body)["errors"][0]["name"],
            field,
            "{route}: {body}"
        );
    }
    let r = c
        .post(s.url("/api/v1/sources/sec.nested/plan"))
        .body(r#"{"columns": []}"#)
        .send()
        .await
        .expect("plan");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_header_and_methods_cannot_poison_locations_or_metrics() {
    let fx = start(&[]).await;
    let c = Client::new();
    let s = &fx.server;
    let plan: J = c
        .post(s.url("/api/v1/sources/sec.nested/plan"))
        .header("Host", "a@evil.example.com")
        .body("{}")
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    let location = plan["endpoints"][0]["locations"][0]
        .as_str()
        .expect("location");
    assert!(!location.contains("evil"), "{location}");
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    for i in 0..20 {
        let m = Method::from_bytes(format!("BREW{i}").as_bytes()).expect("method");
        let _ = c.request(m, s.url("/api/v1/catalogs")).send().await;
    }
    let (_, metrics) = get(&c, &s.url("/metrics")).await;
    assert!(!metrics.contains("BREW"), "methods became labels");
    assert!(
        metrics.contains("method=\"other\""),
        "unknown methods count as `other`"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hot_reloaded_yaml_bomb_or_deep_file_is_refused_and_the_last_version_serves() {
    inlet_driver::storage::ensure_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    let fx = fixtures();
    let good = format!(
        "sources:\n  one:\n    driver: csv\n    args: {{urlpath: '{}/csv/plain.csv'}}\n",
        fx.display()
    );
    let path = dir.path().join("live.yaml");
    std::fs::write(&path, &good).expect("write");
    let server = InletServer::start(
        &[
            "--catalog",
            dir.path().to_str().expect("utf8"),
            "--allow-path",
            fx.to_str().expect("utf8"),
        ],
        &[("INLET_RELOAD_INTERVAL_SECS", "1")],
    );
    let c = Client::new();
    // 9 levels of 9 aliases: ~387 million nodes if expanded.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (i, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
        let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
        let refs = vec![format!("*{prev}"); 9].join(", ");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    bomb.push_str("sources: {}\n");
    let deep = format!(
        "sources:\n  x:\n{}",
        (0..1500)
            .map(|i| format!("{}k:\n", " ".repeat(4 + i)))
            .collect::<String>()
    );
    for (what, text) in [("alias", bomb), ("deeper than", deep)] {
        std::fs::write(&path, text).expect("edit");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, ready) = get(&c, &server.url("/readyz")).await;
            let ready = problem(&ready);
            if ready["status"] == "degraded" && ready["reload_errors"].to_string().contains(what) {
                assert!(
                    ready["reload_errors"][0]
                        .as_str()
                        .unwrap_or("")
                        .contains("live.yaml:"),
                    "{ready}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {ready}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        let (status, _) = get(&c, &server.url("/api/v1/sources/live.one/data")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the last good version keeps serving"
        );
        std::fs::write(&path, &good).expect("restore");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
}

#[test]
fn a_weak_or_exposed_ticket_key_stops_the_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("ticket.key");
    std::fs::write(&key, "").expect("empty key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let run = |envs: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_inlet"));
        c.args(["serve", "--http", "127.0.0.1:0", "--no-flight"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("INLET_TICKET_KEY");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().expect("run")
    };
    let out = run(&[("INLET_TICKET_KEY_FILE", key.to_str().expect("utf8"))]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32"), "{err}");
    let out = run(&[("INLET_TICKET_KEY", "c2hvcnQ")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
