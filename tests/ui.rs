//! The web page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by scripts/test.sh) driven with fantoccini over chromedriver,
//! against a real `inlet serve` on loopback with the example catalogs. Screenshots of home, a
//! source page and /status are written to target/ui-screenshots/ on every run
//! (`INLET_UPDATE_DOCS_SCREENSHOT=1` also refreshes docs/source-page.png for the README).

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pages::{Site, SCRIPT};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value as J};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Every browser test ends within this, whatever hangs.
const TEST_LIMIT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(15);

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("mkdir target/ui-screenshots");
    dir
}

/// chromedriver on a free loopback port and a headless Chromium session; both end on drop.
struct Browser {
    client: Option<Client>,
    driver: Child,
}

impl Browser {
    async fn start() -> Browser {
        Browser::start_with(true).await
    }

    /// With `javascript` false, pages run no script at all (Chromium's content setting).
    async fn start_with(javascript: bool) -> Browser {
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's `{package}` package \
                 (scripts/test.sh installs it: apt-get install chromium chromium-driver)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                panic!("chromedriver exited: {status}");
            }
            assert!(start.elapsed() < WAIT, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut options = json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars"],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://{addr}"))
            .await
            .expect("a Chromium session");
        Browser {
            client: Some(client),
            driver,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("client")
    }

    async fn js(&self, script: &str) -> J {
        self.c()
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script `{script}` failed: {e}"))
    }

    /// Waits until `script` returns true.
    async fn until(&self, what: &str, script: &str) {
        let start = Instant::now();
        loop {
            if self.c().execute(script, vec![]).await.ok() == Some(J::Bool(true)) {
                return;
            }
            if start.elapsed() > WAIT {
                let url = self
                    .c()
                    .current_url()
                    .await
                    .map(|u| u.to_string())
                    .unwrap_or_default();
                let text = self
                    .js("return document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await;
                panic!("timed out waiting for {what} on {url}: {text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the URL contains `part` and `css` is on the page, without running script.
    async fn until_page(&self, part: &str, css: &str) {
        let start = Instant::now();
        loop {
            let url = self
                .c()
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            if url.contains(part) && self.c().find(Locator::Css(css)).await.is_ok() {
                return;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {part} and {css} (at {url})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn goto(&self, url: &str) {
        self.c()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.c()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.c().screenshot().await.expect("screenshot");
        std::fs::write(screenshots().join(name), &png).expect("write screenshot");
        png
    }

    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn texts(v: &J) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_searches_filters_opens_a_source_copies_a_snippet_and_watches_status() {
    tokio::time::timeout(TEST_LIMIT, browse())
        .await
        .expect("the browser test took too long");
}

async fn browse() {
    let site = Site::start(false);
    site.discovered().await;
    let b = Browser::start().await;

    // Home: type a column name in the one search box, press Enter, find its source.
    b.goto(&site.url("/")).await;
    b.until("the home page", "return !!document.querySelector('#q')")
        .await;
    let q = b.c().find(Locator::Css("#q")).await.expect("search box");
    q.send_keys("fare\u{E007}")
        .await
        .expect("type and press Enter");
    b.until("search results", "return location.search.includes('q=fare') && !!document.querySelector('article[data-source=\"example.trips\"]')").await;
    b.screenshot("home.png").await;

    // A facet filters the results, submitted on change (no button with script on).
    b.goto(&site.url("/")).await;
    b.until(
        "facets",
        "return !!document.querySelector('input[name=driver][value=csv]')",
    )
    .await;
    let apply_hidden = b
        .js("return getComputedStyle(document.querySelector('button.apply')).display === 'none'")
        .await;
    assert_eq!(
        apply_hidden,
        J::Bool(true),
        "the Apply button is hidden when script runs"
    );
    b.click("input[name=driver][value=csv]").await;
    b.until(
        "the csv filter",
        "return location.search.includes('driver=csv')",
    )
    .await;
    let drivers = texts(&b.js("return Array.from(document.querySelectorAll('article.card .driver')).map(e => e.textContent)").await);
    assert!(
        !drivers.is_empty() && drivers.iter().all(|d| d == "csv"),
        "{drivers:?}"
    );

    // Keyboard: `/` focuses the search box.
    b.goto(&site.url("/status")).await;
    b.until("status", "return !!document.querySelector('#revision')")
        .await;
    b.c()
        .find(Locator::Css("body"))
        .await
        .expect("body")
        .send_keys("/")
        .await
        .expect("type /");
    assert_eq!(
        b.js("return document.activeElement && document.activeElement.id")
            .await,
        json!("top-q")
    );

    // The source page: schema and 50 rows equal to the data.
    b.goto(&site.url("/?q=trips")).await;
    b.click("a[href='/sources/example.trips']").await;
    b.until(
        "the source page",
        "return !!document.querySelector('#preview')",
    )
    .await;
    let columns = texts(&b.js("return Array.from(document.querySelectorAll('#schema tbody td:first-child')).map(e => e.textContent)").await);
    assert!(
        columns.contains(&"fare".to_string()) && columns.contains(&"trip_id".to_string()),
        "{columns:?}"
    );
    // The preview's trip_id and fare columns, cell by cell, against the data API's CSV.
    let shown = b
        .js("const head = Array.from(document.querySelectorAll('#preview thead th')).map(e => e.textContent); \
             const id = head.indexOf('trip_id'), fare = head.indexOf('fare'); \
             return Array.from(document.querySelectorAll('#preview tbody tr')).map(r => r.cells[id].textContent + ',' + r.cells[fare].textContent)")
        .await;
    let shown = texts(&shown);
    let csv = reqwest::get(
        site.url("/api/v1/sources/example.trips/data?format=csv&limit=50&columns=trip_id,fare"),
    )
    .await
    .expect("csv")
    .text()
    .await
    .expect("text");
    let want: Vec<String> = csv.lines().skip(1).map(str::to_string).collect();
    assert_eq!(shown.len(), 50);
    assert_eq!(shown, want, "the preview shows the data");
    // The whole page (up to a bound), for the README.
    let height = b
        .js("return Math.min(document.documentElement.scrollHeight, 2400)")
        .await;
    let height = u32::try_from(height.as_u64().unwrap_or(900)).unwrap_or(900);
    b.c().set_window_size(1280, height).await.expect("resize");
    let png = b.screenshot("source.png").await;
    b.c().set_window_size(1280, 900).await.expect("resize");
    if std::env::var_os("INLET_UPDATE_DOCS_SCREENSHOT").is_some() {
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/source-page.png"),
            &png,
        )
        .expect("write docs/source-page.png");
    }

    // Snippets are tabs: pick pyarrow, copy it.
    let hidden = b
        .js("return document.querySelector('#panel-pyarrow').hidden")
        .await;
    assert_eq!(hidden, J::Bool(true), "one tab shows at a time");
    b.click("#tab-pyarrow").await;
    b.until("the pyarrow tab", "return !document.querySelector('#panel-pyarrow').hidden && document.querySelector('#panel-curl').hidden").await;
    b.click("button[data-copy='snippet-pyarrow']").await;
    b.until("the copy confirmation", "return document.querySelector(\"button[data-copy='snippet-pyarrow']\").textContent === 'Copied'").await;

    // Change a parameter: the page re-renders with another preview.
    b.goto(&site.url("/sources/example.trips_monthly")).await;
    b.until(
        "the form",
        "return !!document.querySelector('#param-month')",
    )
    .await;
    let before = b
        .js("return document.querySelector('#preview tbody').innerText")
        .await;
    b.js("document.querySelector('#param-month').value = '2'; return true")
        .await;
    b.click("#params button[type=submit]").await;
    b.until(
        "month 2",
        "return location.search.includes('param.month=2') && !!document.querySelector('#preview')",
    )
    .await;
    let after = b
        .js("return document.querySelector('#preview tbody').innerText")
        .await;
    assert_ne!(before, after, "the preview follows the parameter");
    let snippet = b
        .js("return document.querySelector('#snippet-pyarrow').textContent")
        .await;
    assert!(
        snippet.as_str().unwrap_or("").contains("param.month=2"),
        "{snippet}"
    );

    // Phone width: nothing overflows the page (wide tables scroll inside their box).
    b.c().set_window_size(390, 844).await.expect("resize");
    b.goto(&site.url("/sources/example.trips")).await;
    b.until(
        "the source page",
        "return !!document.querySelector('#preview')",
    )
    .await;
    let fits = b
        .js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(
        fits,
        J::Bool(true),
        "the source page overflows a phone's width"
    );
    b.screenshot("source-phone.png").await;
    b.c().set_window_size(1280, 900).await.expect("resize");

    // /status, refreshed live: a slow stream appears without reloading the page.
    b.goto(&site.url("/status")).await;
    b.until("status", "return !!document.querySelector('#live')")
        .await;
    let held = site.slow_stream(None).await;
    b.until(
        "the slow stream listed",
        "return !!document.querySelector('#streams tr[data-source=\"slow.big\"]')",
    )
    .await;
    b.screenshot("status.png").await;
    drop(held);

    // Untrusted catalog text stays text: no element made of it, no script run.
    for path in ["/catalogs/evil", "/sources/evil.xss", "/?q=alert"] {
        b.goto(&site.url(path)).await;
        b.until("the page", "return document.readyState === 'complete'")
            .await;
        let imgs = b.js("return document.querySelectorAll('img').length").await;
        assert_eq!(imgs, json!(0), "{path}: an <img> was made of catalog text");
        let inline = b
            .js("return document.querySelectorAll('script:not([src])').length")
            .await;
        assert_eq!(
            inline,
            json!(0),
            "{path}: an inline <script> was made of catalog text"
        );
        let shown = b
            .js(&format!(
                "return document.body.textContent.includes({})",
                json!(SCRIPT)
            ))
            .await;
        if path != "/?q=alert" {
            assert_eq!(shown, J::Bool(true), "{path}: the text is shown as text");
        }
    }
    let r = reqwest::get(site.url("/sources/evil.xss"))
        .await
        .expect("page");
    assert!(r.headers().contains_key("content-security-policy"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_with_a_token_shows_only_its_catalogs() {
    tokio::time::timeout(TEST_LIMIT, sign_in())
        .await
        .expect("the browser test took too long");
}

async fn sign_in() {
    let site = Site::start(true);
    let token = site.token(&["catalog:example:read"]);
    let b = Browser::start().await;
    b.goto(&site.url("/")).await;
    b.until(
        "the sign-in form",
        "return !!document.querySelector('#token')",
    )
    .await;
    let field = b
        .c()
        .find(Locator::Css("#token"))
        .await
        .expect("token field");
    field.send_keys(&token).await.expect("type the token");
    b.click("form[action='/signin'] button[type=submit]").await;
    b.until(
        "the home page",
        "return !!document.querySelector('article.card')",
    )
    .await;
    let names = texts(&b.js("return Array.from(document.querySelectorAll('article.card')).map(e => e.dataset.source)").await);
    assert!(names.contains(&"example.trips".to_string()), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("example.")),
        "only its catalogs: {names:?}"
    );
    let roots = texts(&b.js("return Array.from(document.querySelectorAll('.tree-roots > li summary a')).map(e => e.textContent)").await);
    assert_eq!(roots, vec!["example".to_string()]);
    assert_eq!(
        b.js("return document.cookie").await,
        json!(""),
        "the cookie is HttpOnly"
    );
    b.goto(&site.url("/sources/evil.xss")).await;
    b.until("a 404 page", "return document.title.startsWith('Error')")
        .await;
    b.goto(&site.url("/")).await;
    b.click("form[action='/signout'] button").await;
    b.until(
        "the sign-in form again",
        "return !!document.querySelector('#token')",
    )
    .await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_and_source_pages_work_with_javascript_disabled() {
    tokio::time::timeout(TEST_LIMIT, without_javascript())
        .await
        .expect("the browser test took too long");
}

async fn without_javascript() {
    let site = Site::start(false);
    site.discovered().await;
    let b = Browser::start_with(false).await;
    b.goto(&site.url("/")).await;
    b.until_page("/", "#q").await;
    let copy = b
        .c()
        .find(Locator::Css("button.apply"))
        .await
        .expect("apply button");
    assert!(
        copy.is_displayed().await.expect("displayed"),
        "without script, filters have a button"
    );
    let q = b.c().find(Locator::Css("#q")).await.expect("search box");
    q.send_keys("fare\u{E007}")
        .await
        .expect("type and press Enter");
    b.until_page("q=fare", "article[data-source='example.trips']")
        .await;
    b.click("input[name=driver][value=parquet]").await;
    b.click("button.apply").await;
    b.until_page("driver=parquet", "article[data-source='example.trips']")
        .await;
    assert!(
        b.c()
            .find(Locator::Css("article[data-source='example.trips_monthly']"))
            .await
            .is_err(),
        "the filter applies"
    );
    b.click("a[href='/sources/example.trips']").await;
    b.until_page("/sources/example.trips", "#preview").await;
    let rows = b
        .c()
        .find_all(Locator::Css("#preview tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 50);
    let copy = b
        .c()
        .find(Locator::Css("button[data-copy]"))
        .await
        .expect("copy button");
    assert!(
        !copy.is_displayed().await.expect("displayed"),
        "copy buttons need script: hidden"
    );
    let pyarrow = b
        .c()
        .find(Locator::Css("#snippet-pyarrow"))
        .await
        .expect("snippet");
    assert!(
        pyarrow.is_displayed().await.expect("displayed"),
        "every snippet shows without script"
    );
    b.goto(&site.url("/sources/example.trips_monthly")).await;
    b.until_page("trips_monthly", "#param-month").await;
    let month = b
        .c()
        .find(Locator::Css("#param-month"))
        .await
        .expect("month");
    month.clear().await.expect("clear");
    month.send_keys("3").await.expect("type");
    b.click("#params button[type=submit]").await;
    b.until_page("param.month=3", "#preview").await;
    b.close().await;
}
