//! A real `inlet serve` for the web page's tests: the example catalogs, a catalog whose texts
//! try to inject HTML (`evil`), and a big CSV source to hold a slow stream open (`slow.big`).

use std::path::Path;
use std::time::{Duration, Instant};

use super::InletServer;

/// Texts of the `evil` catalog: they must show as text, never as markup.
pub const SCRIPT: &str = "<script>alert(1)</script>";
pub const IMG: &str = "\"><img src=x onerror=alert(1)>";

/// Rows of `slow.big`: far more bytes than socket buffers hold, so a client that stops
/// reading keeps the stream open.
pub const BIG_ROWS: usize = 1_000_000;

pub struct Site {
    pub server: InletServer,
    pub dir: tempfile::TempDir,
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).expect("json string")
}

fn write_catalogs(dir: &Path) {
    let evil = format!(
        "description: {d}\nmetadata:\n  owner: {img}\n  note: {script}\nsources:\n  xss:\n    description: {d}\n    driver: csv\n    args:\n      urlpath: '{{{{ CATALOG_DIR }}}}/small.csv'\n    metadata:\n      tags: [{script}]\n      html: {img}\n",
        d = yaml_str(&format!("{SCRIPT} and {IMG}")),
        img = yaml_str(IMG),
        script = yaml_str(SCRIPT),
    );
    std::fs::write(dir.join("evil.yaml"), evil).expect("write evil.yaml");
    std::fs::write(
        dir.join("small.csv"),
        "n,\"<img src=x onerror=alert(2)>\"\n1,\"<script>alert(3)</script>\"\n2,b\n",
    )
    .expect("write small.csv");
    std::fs::write(
        dir.join("slow.yaml"),
        "sources:\n  big:\n    description: A big CSV to hold a stream open\n    driver: csv\n    args:\n      urlpath: '{{ CATALOG_DIR }}/big.csv'\n  missing:\n    description: Its file is not there\n    driver: csv\n    args:\n      urlpath: '{{ CATALOG_DIR }}/missing.csv'\n  raster:\n    description: A driver this server does not have\n    driver: intake_sql.SQLSource\n    args:\n      uri: 'sqlite:///x.db'\n      sql_expr: 'select 1'\n",
    )
    .expect("write slow.yaml");
    // About 50 MB: several times what loopback socket buffers hold, even grown.
    let mut big = String::with_capacity(BIG_ROWS * 48);
    big.push_str("n,label\n");
    for i in 0..BIG_ROWS {
        big.push_str(&format!("{i},row-{i:07}-abcdefghijklmnopqrstuvwxyz0123\n"));
    }
    std::fs::write(dir.join("big.csv"), big).expect("write big.csv");
}

impl Site {
    /// The server, with `--auth required` when `auth`.
    pub fn start(auth: bool) -> Site {
        // reqwest's rustls needs a crypto provider before the first client.
        inlet_driver::storage::ensure_tls_provider();
        let dir = tempfile::tempdir().expect("tmp");
        write_catalogs(dir.path());
        let mut args = vec![
            "--catalog".to_string(),
            "catalogs".to_string(),
            "--catalog".to_string(),
            dir.path().to_string_lossy().into_owned(),
        ];
        if auth {
            args.extend(["--auth".to_string(), "required".to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = InletServer::start(
            &args,
            &[
                ("INLET_BATCH_SIZE", "1000"),
                ("INLET_RELOAD_INTERVAL_SECS", "0"),
            ],
        );
        Site { server, dir }
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// `inlet token create` against the server's database: the token.
    pub fn token(&self, scopes: &[&str]) -> String {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_inlet"));
        cmd.args(["token", "create", "--name", "web", "--format", "json"]);
        for s in scopes {
            cmd.args(["--scope", s]);
        }
        let out = cmd
            .arg("--state-dir")
            .arg(self.server.state_dir.path())
            .env_remove("INLET_DATABASE_URL")
            .env_remove("INLET_STATE_DIR")
            .env_remove("INLET_CONFIG")
            .output()
            .expect("run inlet token create");
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// Waits until background discovery has seen every source (columns become searchable).
    pub async fn discovered(&self) {
        let start = Instant::now();
        loop {
            let v: serde_json::Value = reqwest::get(self.url("/readyz"))
                .await
                .expect("readyz")
                .json()
                .await
                .expect("json");
            let text = v["discovery"].as_str().unwrap_or("").to_string();
            if let Some((done, total)) = text
                .strip_prefix("discovered ")
                .and_then(|t| t.split_once('/'))
            {
                if done == total {
                    // The index learns columns right after; a search confirms it.
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "discovery did not finish: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts reading `slow.big` and stops after the first chunk: the stream stays open (and
    /// listed by the status) while the returned response is held.
    pub async fn slow_stream(&self, token: Option<&str>) -> reqwest::Response {
        let mut req = reqwest::Client::new().get(self.url("/api/v1/sources/slow.big/data"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let mut resp = req.send().await.expect("start the slow stream");
        assert_eq!(resp.status(), 200, "slow stream");
        let first = resp.chunk().await.expect("first chunk");
        assert!(first.is_some(), "the stream sent its first chunk");
        resp
    }
}

/// Every `href="/..."` of a page (HTML-unescaped), for crawling.
pub fn local_links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .map(unescape)
        .collect()
}

/// The few entities maud writes.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text of the element with `id` (its inner HTML, tags removed, unescaped).
pub fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</")?;
    Some(unescape(&html[open_end..close]))
}
