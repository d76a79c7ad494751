//! The web page without a browser (JavaScript off): a plain HTTP client follows the page's
//! links and GET forms against a real `inlet serve`; untrusted catalog text is escaped and the
//! CSP header forbids inline script; sign-in keeps the token in an HttpOnly cookie and scopes
//! filter the pages; the "load it" snippets run as copied (with the test venv's Python); the
//! status lists a slow stream.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::pages::{local_links, text_of, unescape, Site, IMG, SCRIPT};

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::get(url).await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.expect("body"))
}

/// Rows of the `#preview` table.
fn preview_rows(html: &str) -> Vec<String> {
    let Some(start) = html.find("id=\"preview\"") else {
        return vec![];
    };
    let table = &html[start..];
    let end = table.find("</table>").unwrap_or(table.len());
    let body = &table[..end];
    let body = &body[body.find("<tbody>").unwrap_or(0)..];
    body.split("<tr>").skip(1).map(unescape).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_source_pages_work_with_plain_links_and_forms() {
    let site = Site::start(false);
    site.discovered().await;

    // Home: cards, facets with counts, the catalog tree; no inline script; the CSP is set.
    let (status, headers, home) = get(&site.url("/")).await;
    assert_eq!(status, 200, "{home}");
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'self'"),
        "{csp}"
    );
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..])
    );
    for tag in home.split("<script").skip(1) {
        assert!(
            tag.trim_start().starts_with("src="),
            "inline script: <script{tag}"
        );
    }
    assert!(home.contains("data-source=\"example.trips\""), "{home}");
    assert!(home.contains("data-facet=\"driver\""), "facets: {home}");
    assert!(home.contains("href=\"/catalogs/example\""), "tree: {home}");

    // A column name finds its source; a facet filters; the form is a plain GET.
    let (status, _, found) = get(&site.url("/?q=fare")).await;
    assert_eq!(status, 200);
    assert!(found.contains("data-source=\"example.trips\""), "{found}");
    assert!(
        !found.contains("data-source=\"example.stations\""),
        "{found}"
    );
    let (_, _, csv_only) = get(&site.url("/?q=&driver=csv")).await;
    assert!(
        csv_only.contains("data-source=\"example.stations\""),
        "{csv_only}"
    );
    assert!(
        !csv_only.contains("data-source=\"example.trips\""),
        "{csv_only}"
    );

    // Every link of the home page answers (pages, assets, catalogs, sources, API).
    let links: BTreeSet<String> = local_links(&home).into_iter().collect();
    assert!(links.len() > 10, "{links:?}");
    for link in &links {
        let r = reqwest::get(site.url(link)).await.expect("link");
        assert!(r.status().is_success(), "{link}: {}", r.status());
        if link.starts_with("/assets/") {
            let cache = r
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(cache.contains("immutable"), "{link}: {cache}");
        }
    }

    // The source page: schema, size, 50 preview rows equal to the data, snippets, links.
    let (status, _, page) = get(&site.url("/sources/example.trips")).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("id=\"schema\"") && page.contains("<code>fare</code>"),
        "{page}"
    );
    assert_eq!(text_of(&page, "rows").as_deref(), Some("20,000"));
    let rows = preview_rows(&page);
    assert_eq!(rows.len(), 50, "preview rows");
    let csv = reqwest::get(
        site.url("/api/v1/sources/example.trips/data?format=csv&limit=50&columns=trip_id"),
    )
    .await
    .expect("csv")
    .text()
    .await
    .expect("text");
    let first_id = csv.lines().nth(1).expect("a row").to_string();
    assert!(
        rows[0].contains(&format!("<td>{first_id}</td>")),
        "{} vs {first_id}",
        rows[0]
    );
    for id in [
        "curl", "pyarrow", "polars", "duckdb", "pandas", "flight", "rust",
    ] {
        assert!(
            page.contains(&format!("id=\"snippet-{id}\"")),
            "snippet {id}"
        );
    }
    assert!(
        page.contains("href=\"/api/v1/sources/example.trips\""),
        "raw JSON link"
    );

    // Parameters: typed inputs; changing one changes the preview; a bad one is a 422 form.
    let (_, _, jan) = get(&site.url("/sources/example.trips_monthly")).await;
    assert!(
        jan.contains("type=\"number\"") && jan.contains("min=\"1\"") && jan.contains("max=\"3\""),
        "{jan}"
    );
    let (status, _, feb) = get(&site.url("/sources/example.trips_monthly?param.month=2")).await;
    assert_eq!(status, 200);
    assert_ne!(
        preview_rows(&jan),
        preview_rows(&feb),
        "the preview follows the parameter"
    );
    assert!(feb.contains("param.month=2"), "snippets carry the value");
    let (status, _, bad) = get(&site.url("/sources/example.trips_monthly?param.month=9")).await;
    assert_eq!(status, 422);
    assert!(bad.contains("above the maximum"), "{bad}");
    let (_, _, nested) = get(&site.url("/sources/regions.sales.sales")).await;
    assert!(
        nested.contains("<select") && nested.contains("value=\"eu\""),
        "allowed values: {nested}"
    );
    let (_, _, window) = get(&site.url("/sources/example.air_grid_window")).await;
    assert!(window.contains("type=\"date\""), "datetime: {window}");

    // Catalog and status pages, and a name that does not exist.
    let (status, _, cat) = get(&site.url("/catalogs/example")).await;
    assert_eq!(status, 200);
    assert!(cat.contains("href=\"/sources/example.stations\""), "{cat}");
    let (status, _, _) = get(&site.url("/sources/example.nope")).await;
    assert_eq!(status, 404);
    // Status: an unsupported driver, and data that cannot be read, each with where it is declared.
    let (status, _, raster) = get(&site.url("/sources/slow.raster")).await;
    assert_eq!(status, 200);
    assert!(
        raster.contains("class=\"badge warn\"")
            && raster.contains("unsupported driver: intake_sql.SQLSource"),
        "{raster}"
    );
    assert!(raster.contains("slow.yaml:"), "file:line:col: {raster}");
    let (status, _, missing) = get(&site.url("/sources/slow.missing")).await;
    assert_eq!(status, 200);
    assert!(
        missing.contains("The data cannot be read") && missing.contains("slow.yaml:"),
        "{missing}"
    );
    let (status, _, st) = get(&site.url("/status")).await;
    assert_eq!(status, 200);
    assert!(st.contains("id=\"revision\""), "{st}");
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_text_is_escaped_everywhere() {
    let site = Site::start(false);
    site.discovered().await;
    for path in ["/", "/?q=alert", "/catalogs/evil", "/sources/evil.xss"] {
        let (status, headers, html) = get(&site.url(path)).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(headers.contains_key("content-security-policy"), "{path}");
        assert!(!html.contains(SCRIPT), "{path}: raw <script> in {html}");
        assert!(!html.contains("<img"), "{path}: raw <img> in {html}");
        assert!(!html.contains("<script>alert"), "{path}");
    }
    let (_, _, source) = get(&site.url("/sources/evil.xss")).await;
    assert!(
        source.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{source}"
    );
    assert!(
        source.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{source}"
    );
    assert!(
        source.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "column names: {source}"
    );
    let (_, _, cat) = get(&site.url("/catalogs/evil")).await;
    assert!(
        cat.contains(
            &IMG.replace('"', "&quot;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ),
        "{cat}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_keeps_the_token_in_a_strict_cookie_and_scopes_filter_the_pages() {
    let site = Site::start(true);
    let token = site.token(&["catalog:example:read"]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let r = client.get(site.url("/")).send().await.expect("home");
    assert_eq!(r.status(), 401);
    let form = r.text().await.expect("body");
    assert!(
        form.contains("action=\"/signin\"") && form.contains("name=\"token\""),
        "{form}"
    );

    let r = client
        .post(site.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=inlet_0000000000000000_nope&next=%2F")
        .send()
        .await
        .expect("signin");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().await.expect("body").contains("not valid"));

    let r = client
        .post(site.url("/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}&next=%2Fcatalogs%2Fexample"))
        .send()
        .await
        .expect("signin");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").map(|v| v.as_bytes()),
        Some(&b"/catalogs/example"[..])
    );
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    let pair = cookie.split(';').next().expect("pair").to_string();

    let signed = |path: &str| {
        client
            .get(site.url(path))
            .header("cookie", pair.clone())
            .send()
    };
    let home = signed("/").await.expect("home").text().await.expect("body");
    assert!(home.contains("data-source=\"example.trips\""), "{home}");
    assert!(
        !home.contains("evil") && !home.contains("slow.big"),
        "only its catalogs: {home}"
    );
    assert!(home.contains("Sign out"), "{home}");
    assert_eq!(
        signed("/sources/evil.xss").await.expect("page").status(),
        404
    );
    assert_eq!(signed("/catalogs/slow").await.expect("page").status(), 404);
    assert_eq!(
        signed("/sources/example.stations")
            .await
            .expect("page")
            .status(),
        200
    );
    let (page, _) = (
        signed("/sources/example.stations")
            .await
            .expect("page")
            .text()
            .await
            .expect("body"),
        (),
    );
    assert!(
        page.contains("INLET_TOKEN"),
        "snippets say where the token goes"
    );

    // The page's links to the JSON work with the cookie (reads only); other catalogs stay hidden.
    let raw = signed("/api/v1/sources/example.trips").await.expect("json");
    assert_eq!(raw.status(), 200);
    assert_eq!(
        signed("/api/v1/sources/evil.xss")
            .await
            .expect("json")
            .status(),
        404
    );
    let plan = client
        .post(site.url("/api/v1/sources/example.trips/plan"))
        .header("cookie", pair.clone())
        .send()
        .await
        .expect("plan");
    assert_eq!(
        plan.status(),
        401,
        "a POST to the API needs the bearer header"
    );

    // The status page and its JSON list only the token's sources.
    let everything = site.token(&["catalog:*:read"]);
    let _held = site.slow_stream(Some(&everything)).await;
    let status = signed("/status")
        .await
        .expect("status")
        .text()
        .await
        .expect("body");
    assert!(!status.contains("slow.big"), "{status}");
    let json: serde_json::Value = client
        .get(site.url("/api/v1/status"))
        .bearer_auth(&everything)
        .send()
        .await
        .expect("status json")
        .json()
        .await
        .expect("json");
    assert!(
        json["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .any(|s| s["source"] == "slow.big"),
        "{json}"
    );

    let r = client
        .post(site.url("/signout"))
        .header("cookie", pair.clone())
        .send()
        .await
        .expect("signout");
    assert_eq!(r.status(), 303);
    assert!(r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("Max-Age=0")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_lists_a_slow_stream_with_its_rows_and_bytes() {
    let site = Site::start(false);
    let held = site.slow_stream(None).await;
    let json: serde_json::Value = reqwest::get(site.url("/api/v1/status"))
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    let stream = json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["source"] == "slow.big")
        .unwrap_or_else(|| panic!("slow.big is not listed: {json}"))
        .clone();
    assert!(stream["rows"].as_u64().unwrap_or(0) > 0, "{stream}");
    assert!(stream["bytes"].as_u64().unwrap_or(0) > 0, "{stream}");
    let (_, _, page) = get(&site.url("/status/live")).await;
    assert!(page.contains("data-source=\"slow.big\""), "{page}");
    drop(held);
    // Once the client goes away, the stream ends and is counted as served.
    let start = std::time::Instant::now();
    loop {
        let json: serde_json::Value = reqwest::get(site.url("/api/v1/status"))
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let open = json["streams"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["source"] == "slow.big"));
        let served = json["served"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["source"] == "slow.big" && s["requests"].as_u64() >= Some(1))
        });
        if !open && served {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the stream did not end: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_shows_recent_errors_and_a_refused_edit() {
    let site = Site::start(false);
    // A source whose file is missing: background discovery and a read fail on the server's side.
    let r = reqwest::get(site.url("/api/v1/sources/slow.missing/data"))
        .await
        .expect("read");
    assert_eq!(r.status(), 502);
    // A caller's mistake is not an error of the server's.
    let r = reqwest::get(site.url("/api/v1/sources/example.trips/data?columns=nope"))
        .await
        .expect("read");
    assert_eq!(r.status(), 422);
    let start = std::time::Instant::now();
    let json = loop {
        let json: serde_json::Value = reqwest::get(site.url("/api/v1/status"))
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let errors = json["errors"].as_array().cloned().unwrap_or_default();
        if errors
            .iter()
            .any(|e| e["source"] == "slow.missing" && e["during"] == "read")
            && errors
                .iter()
                .any(|e| e["source"] == "slow.missing" && e["during"] == "discovery")
        {
            break json;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "errors not listed: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let errors = json["errors"].as_array().expect("errors");
    assert!(
        errors.iter().all(|e| e["source"] != "example.trips"),
        "{json}"
    );
    assert!(
        errors.iter().all(|e| e["kind"] == "data-not-found"),
        "{json}"
    );
    let (_, _, page) = get(&site.url("/status")).await;
    assert!(
        page.contains("id=\"errors\"") && page.contains("data-not-found"),
        "{page}"
    );

    // A broken edit is refused: the page says so, with the error's place, and the last good
    // revision keeps serving.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("live.yaml");
    std::fs::write(
        &path,
        "sources:\n  one:\n    driver: csv\n    args: {urlpath: 'x.csv'}\n",
    )
    .expect("write");
    let server = common::InletServer::start(
        &["--catalog", dir.path().to_str().expect("utf8")],
        &[("INLET_RELOAD_INTERVAL_SECS", "1")],
    );
    std::fs::write(&path, "sources:\n  one: [unclosed\n").expect("break");
    let start = std::time::Instant::now();
    loop {
        let json: serde_json::Value = reqwest::get(server.url("/api/v1/status"))
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if json["reload"]["refused_at"].is_u64() {
            assert!(
                json["reload"]["errors"][0]
                    .as_str()
                    .unwrap_or("")
                    .contains("live.yaml:"),
                "{json}"
            );
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the refused edit is not reported: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (_, _, page) = get(&server.url("/status")).await;
    assert!(
        page.contains("The last catalog edit was refused") && page.contains("live.yaml:"),
        "{page}"
    );
}

/// The Python and curl snippets of a source page, run as copied (pyarrow, polars, pandas,
/// duckdb, pyarrow.flight; curl's Arrow file and CSV): each must read the same rows.
#[tokio::test(flavor = "multi_thread")]
async fn snippets_run_as_copied() {
    let python = common::python();
    let site = Site::start(false);
    // With a parameter (the Flight snippet then plans a command), and without (a path).
    for (page_path, api_path) in [
        (
            "/sources/example.trips_monthly?param.month=2",
            "/api/v1/sources/example.trips_monthly?param.month=2",
        ),
        ("/sources/example.trips", "/api/v1/sources/example.trips"),
    ] {
        let (status, _, page) = get(&site.url(page_path)).await;
        assert_eq!(status, 200, "{page}");
        let want: serde_json::Value = reqwest::get(site.url(api_path))
            .await
            .expect("describe")
            .json()
            .await
            .expect("json");
        let rows = want["discovery"]["total_rows"].as_u64().expect("rows");
        for (id, var) in [
            ("pyarrow", "table"),
            ("polars", "df"),
            ("pandas", "df"),
            ("duckdb", "df"),
            ("flight", "table"),
        ] {
            let code = text_of(&page, &format!("snippet-{id}"))
                .unwrap_or_else(|| panic!("no {id} snippet"));
            let program = format!("{code}\nprint('ROWS', len({var}))\n");
            let out = Command::new(&python)
                .arg("-c")
                .arg(&program)
                .output()
                .expect("python");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains(&format!("ROWS {rows}")),
                "{id} snippet of {page_path} failed ({}):\n{program}\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The curl lines, run by a shell as copied: the Arrow file and the CSV hold every row.
        let curl = text_of(&page, "snippet-curl").expect("no curl snippet");
        let dir = tempfile::tempdir().expect("tmp");
        for line in curl.lines() {
            let out = Command::new("sh")
                .args(["-c", line])
                .current_dir(dir.path())
                .output()
                .expect("sh");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{line}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if line.contains("# CSV") {
                assert_eq!(stdout.lines().count() as u64, rows + 1, "{line}");
            }
        }
        let out = Command::new(&python)
            .args([
                "-c",
                "import pyarrow.ipc as i; print('ROWS', i.open_stream(open('data.arrow', 'rb')).read_all().num_rows)",
            ])
            .current_dir(dir.path())
            .output()
            .expect("python");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("ROWS {rows}")),
            "curl's data.arrow: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
