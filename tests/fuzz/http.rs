//! The real axum router in-process (`tower::ServiceExt::oneshot` over `inlet::api::router`),
//! serving the example catalogs and a catalog made for fuzzing, and the one check every
//! HTTP answer must pass: a non-5xx status or a well-formed problem+json, with a 5xx only where
//! storage or a driver is involved, and bodies that are what their content type says.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use inlet::api::{router, AppState};
use inlet::config::ServeConfig;
use inlet::service::tickets::TicketKey;
use inlet::service::{builtin_drivers, Core};
use serde_json::Value as J;
use tower::ServiceExt;

use crate::engine::Verdict;
use crate::template::INTERESTING;

/// The key the fuzzed server signs tickets with: the fuzzer forges "genuine" tickets with it.
pub const KEY: [u8; 32] = [7u8; 32];

/// Sources whose data is broken on purpose: 502 (or 501) is the right answer for them.
pub const BROKEN: &[&str] = &["fuzz.missing", "fuzz.corrupt", "fuzz.unsupported"];

/// The fuzzing catalog: every parameter type over real data, a source whose file name the
/// caller chooses, and broken sources.
fn fuzz_catalog(data: &Path) -> String {
    format!(
        "\
name: fuzz
description: sources made for the fuzzer
sources:
  typed:
    description: stations, with every parameter type (checked, not used by the args)
    driver: csv
    parameters:
      n: {{type: int, default: 1, min: 0, max: 9}}
      f: {{type: float, default: 0.5, min: -1.5, max: 1e6}}
      b: {{type: bool, default: true}}
      d: {{type: datetime, default: '2020-01-01'}}
      l: {{type: list, default: [a]}}
      m: {{type: mlist, default: [x], allowed: [x, y]}}
      s: {{type: str, default: eu, allowed: [eu, us]}}
    args:
      urlpath: '{data}/stations.csv'
      csv_kwargs:
        comment: '#'
        na_values: ['NA', '-']
  by_name:
    description: a CSV file of the data directory, chosen by name
    driver: csv
    parameters:
      file: {{type: str, default: stations}}
    args:
      urlpath: '{data}/{{{{ file }}}}.csv'
      csv_kwargs:
        comment: '#'
  month_pad:
    description: one monthly file, the month formatted the Intake way
    driver: parquet
    parameters:
      month: {{type: int, default: 2, min: 1, max: 3}}
    args:
      urlpath: \"{data}/monthly/trips_2024-{{{{ '%02d' % month }}}}.parquet\"
  missing:
    driver: parquet
    args:
      urlpath: '{data}/no_such_file.parquet'
  corrupt:
    driver: parquet
    args:
      urlpath: '{data}/stations.csv'
  unsupported:
    driver: intake_sql.SQLSource
    args:
      uri: 'sqlite:///x.db'
      sql_expr: 'select 1'
",
        data = data.display()
    )
}

/// What the fuzzer knows of one source (from its description over HTTP).
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub name: String,
    pub columns: Vec<String>,
    /// Has struct, list or map columns (CSV cannot hold them).
    pub nested: bool,
    pub partitions: usize,
    /// Declared parameters: name and valid values (the default first).
    pub params: Vec<(String, Vec<String>)>,
    pub broken: bool,
}

pub struct Server {
    pub app: Router,
    pub rt: tokio::runtime::Runtime,
    pub key: TicketKey,
    pub sources: Vec<SourceInfo>,
    pub catalogs: Vec<String>,
    pub revision: String,
    _dir: tempfile::TempDir,
}

/// A request as the fuzzer builds it (and shows it in a report).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the request is about (a source name, for the checks), not sent.
    pub source: Option<String>,
    /// Built from valid values only: anything but success is a failure.
    pub valid: bool,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Req {
        Req {
            method: Method::GET,
            path: path.into(),
            query: None,
            headers: vec![],
            body: vec![],
            source: None,
            valid: false,
        }
    }

    pub fn uri(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The query's pairs as the server decodes them (empty when it cannot).
    pub fn pairs(&self) -> Vec<(String, String)> {
        serde_urlencoded::from_str(self.query.as_deref().unwrap_or("")).unwrap_or_default()
    }

    /// The source a request is about: as generated, or the one its ticket names.
    pub fn source_name(&self) -> Option<String> {
        self.source
            .clone()
            .or_else(|| ticket_claims(self).and_then(|c| c["source"].as_str().map(str::to_string)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Shows a request as a regression test would write it.
pub fn show(r: &Req) -> String {
    let mut s = format!("{} {}", r.method, r.uri());
    for (k, v) in &r.headers {
        s.push_str(&format!("\n{k}: {v}"));
    }
    if !r.body.is_empty() {
        s.push_str(&format!("\nbody: {}", crate::mutate::show_bytes(&r.body)));
    }
    s
}

/// Smaller requests: fewer query pairs, shorter values, shorter bodies, fewer headers.
pub fn shrink(r: &Req) -> Vec<Req> {
    let mut out = vec![];
    if let Some(q) = &r.query {
        let parts: Vec<&str> = q.split('&').collect();
        if parts.len() > 1 {
            for i in 0..parts.len() {
                let mut p = parts.clone();
                p.remove(i);
                out.push(Req {
                    query: Some(p.join("&")),
                    ..r.clone()
                });
            }
        }
        for smaller in crate::mutate::shrink_string(q).into_iter().take(400) {
            // Cut anywhere, the values are no longer the valid ones.
            out.push(Req {
                query: Some(smaller),
                valid: false,
                ..r.clone()
            });
        }
    }
    for i in 0..r.headers.len() {
        let mut h = r.headers.clone();
        h.remove(i);
        out.push(Req {
            headers: h,
            ..r.clone()
        });
    }
    for b in crate::mutate::shrink_bytes(&r.body).into_iter().take(400) {
        out.push(Req {
            body: b,
            valid: false,
            ..r.clone()
        });
    }
    out.retain(|c| axum::http::Uri::try_from(c.uri()).is_ok());
    out
}

/// An answer, its body read to the end (or the error that ended it).
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Result<bytes::Bytes, String>,
}

impl Server {
    pub fn start() -> Server {
        inlet_driver::storage::ensure_tls_provider();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs");
        let data = repo.join("data");
        let dir = tempfile::tempdir().expect("tmp");
        let fuzz_yaml = dir.path().join("fuzz.yaml");
        std::fs::write(&fuzz_yaml, fuzz_catalog(&data)).expect("write");
        let config = ServeConfig {
            catalogs: vec![repo.clone(), fuzz_yaml],
            allow_paths: vec![data],
            max_streams: 64,
            ..ServeConfig::default()
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // The engine counts panics on threads named `fuzz*`: spawned tasks run here.
            .thread_name("fuzz-http")
            .enable_all()
            .build()
            .expect("runtime");
        // The SQL state lives on the runtime that serves: an in-memory SQLite.
        let store = rt.block_on(inlet::store::Store::memory()).expect("store");
        let core = Core::new(
            config,
            Arc::new(builtin_drivers()),
            TicketKey::new(KEY.to_vec()),
            store,
        );
        let problems = core.snapshot().problems.clone();
        assert!(
            problems.is_empty(),
            "the fuzzed catalogs load: {problems:?}"
        );
        let app = router(AppState::new(Arc::new(core), None));
        let mut server = Server {
            app,
            rt,
            key: TicketKey::new(KEY.to_vec()),
            sources: vec![],
            catalogs: vec![],
            revision: String::new(),
            _dir: dir,
        };
        server.discover();
        server
    }

    /// Learns the catalogs, sources, columns, partitions and parameters over HTTP.
    fn discover(&mut self) {
        let list = self.json(&Req::get("/api/v1/catalogs"));
        self.revision = list["revision"].as_str().expect("revision").to_string();
        let mut queue: Vec<String> = list["catalogs"]
            .as_array()
            .expect("catalogs")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_string())
            .collect();
        while let Some(cat) = queue.pop() {
            self.catalogs.push(cat.clone());
            let detail = self.json(&Req::get(format!("/api/v1/catalogs/{cat}")));
            for e in detail["entries"].as_array().expect("entries") {
                let name = e["name"].as_str().expect("name").to_string();
                if e["kind"] == "catalog" {
                    queue.push(name);
                    continue;
                }
                let d = self.json(&Req::get(format!("/api/v1/sources/{name}")));
                let fields = d["discovery"]["schema"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let columns = fields
                    .iter()
                    .map(|f| f["name"].as_str().unwrap_or("").to_string())
                    .collect();
                let nested = fields.iter().any(|f| {
                    let t = f["type"].as_str().unwrap_or("");
                    t.contains("Struct") || t.contains("List") || t.contains("Map")
                });
                let partitions = d["discovery"]["partitions"].as_array().map_or(0, Vec::len);
                let params = d["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| {
                                let text = |v: &J| match v {
                                    J::String(s) => s.clone(),
                                    J::Array(items) => items
                                        .iter()
                                        .map(|i| i.as_str().map_or(i.to_string(), str::to_string))
                                        .collect::<Vec<_>>()
                                        .join(","),
                                    other => other.to_string(),
                                };
                                let mut values: Vec<String> =
                                    p.get("default").map(text).into_iter().collect();
                                for key in ["min", "max"] {
                                    values.extend(p.get(key).map(text));
                                }
                                if let Some(J::Array(allowed)) = p.get("allowed") {
                                    values.extend(allowed.iter().map(text));
                                }
                                (p["name"].as_str().unwrap_or("").to_string(), values)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let broken = BROKEN.contains(&name.as_str());
                assert!(
                    broken || d.get("discovery").is_some(),
                    "`{name}` is discovered: {d}"
                );
                self.sources.push(SourceInfo {
                    name,
                    columns,
                    nested,
                    partitions,
                    params,
                    broken,
                });
            }
        }
        self.sources.sort_by(|a, b| a.name.cmp(&b.name));
        assert!(self.sources.len() >= 12, "{:?}", self.sources);
    }

    fn json(&self, req: &Req) -> J {
        let a = self.send(req).expect("answer");
        assert_eq!(a.status, StatusCode::OK, "{}", show(req));
        serde_json::from_slice(&a.body.expect("body")).expect("json")
    }

    pub fn source(&self, name: &str) -> Option<&SourceInfo> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Sends `req` through the router and reads the whole body, within 20 s.
    pub fn send(&self, req: &Req) -> Result<Answer, String> {
        let mut builder = Request::builder().method(req.method.clone()).uri(req.uri());
        for (k, v) in &req.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Body::from(req.body.clone()))
            .map_err(|e| format!("unsendable request (a fuzzer bug): {e}"))?;
        let app = self.app.clone();
        self.rt.block_on(async move {
            let work = async move {
                let response = app.oneshot(request).await.map_err(|e| e.to_string())?;
                let status = response.status();
                let content_type = response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let encoding = response
                    .headers()
                    .get(header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let body = axum::body::to_bytes(response.into_body(), 256 << 20)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| decode(&encoding, b));
                Ok::<_, String>(Answer {
                    status,
                    content_type,
                    body,
                })
            };
            tokio::time::timeout(Duration::from_secs(20), work)
                .await
                .map_err(|_| "no complete answer within 20 s (a hang)".to_string())?
        })
    }

    /// Sends and checks.
    pub fn check(&self, req: &Req) -> Result<Verdict, String> {
        let answer = self.send(req)?;
        check_answer(self, req, &answer).map(|(v, _)| v)
    }
}

/// The body without its content encoding.
fn decode(encoding: &str, body: bytes::Bytes) -> Result<bytes::Bytes, String> {
    use std::io::Read;
    match encoding {
        // Answers to HEAD keep the encoding of the body they do not have.
        _ if body.is_empty() => Ok(body),
        "" | "identity" => Ok(body),
        "gzip" => {
            let mut out = vec![];
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .map_err(|e| format!("a gzip body that does not decode: {e}"))?;
            Ok(out.into())
        }
        "zstd" => zstd::decode_all(&body[..])
            .map(Into::into)
            .map_err(|e| format!("a zstd body that does not decode: {e}")),
        other => Err(format!("an unexpected content-encoding `{other}`")),
    }
}

/// The claims of the ticket a request redeems (read without checking the signature).
fn ticket_claims(req: &Req) -> Option<J> {
    use base64::Engine;
    let ticket = req.path.strip_prefix("/api/v1/tickets/")?;
    let body = ticket.split_once('.')?.0;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks a problem+json body; returns its `type`.
fn check_problem(req: &Req, a: &Answer) -> Result<String, String> {
    let body = a
        .body
        .as_ref()
        .map_err(|e| format!("the problem body failed: {e}"))?;
    if a.content_type != "application/problem+json" {
        return Err(format!(
            "status {} is not problem+json (content-type `{}`)\nbody: {}",
            a.status.as_u16(),
            a.content_type,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    if req.method == Method::HEAD {
        // The server drops the body of an answer to HEAD.
        return Ok(String::new());
    }
    let p: J =
        serde_json::from_slice(body).map_err(|e| format!("problem+json is not JSON: {e}"))?;
    let kind = p["type"].as_str().unwrap_or("");
    let well_formed = kind.starts_with("/problems/")
        && p["title"].is_string()
        && p["status"].as_u64() == Some(u64::from(a.status.as_u16()))
        && p["detail"].as_str().is_some_and(|d| !d.trim().is_empty())
        && p.get("errors").is_none_or(|e| {
            e.as_array().is_some_and(|es| {
                es.iter()
                    .all(|e| e["name"].is_string() && e["message"].is_string())
            })
        });
    if !well_formed {
        return Err(format!(
            "status {} with a malformed problem: {p}",
            a.status.as_u16()
        ));
    }
    Ok(kind.to_string())
}

/// What a 200 Arrow stream held: its rows and column names.
pub type Seen = (usize, Vec<String>);

/// The body of a 200 is what its content type says.
fn check_success(req: &Req, a: &Answer) -> Result<Option<Seen>, String> {
    let body = a
        .body
        .as_ref()
        .map_err(|e| format!("status 200, then the body failed: {e}"))?;
    if req.method == Method::HEAD {
        return Ok(None);
    }
    let ct = a.content_type.as_str();
    if ct.starts_with("application/json") {
        serde_json::from_slice::<J>(body).map_err(|e| format!("200 with bad JSON: {e}"))?;
        return Ok(None);
    }
    if ct.starts_with("application/vnd.apache.arrow.stream") {
        let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(body), None)
            .map_err(|e| format!("200 with a bad Arrow stream: {e}"))?;
        let columns: Vec<String> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut rows = 0;
        for b in reader {
            rows += b
                .map_err(|e| format!("200 with a bad Arrow batch: {e}"))?
                .num_rows();
        }
        return Ok(Some((rows, columns)));
    }
    if ct.starts_with("application/vnd.apache.parquet") {
        if body.len() < 8 || &body[..4] != b"PAR1" || &body[body.len() - 4..] != b"PAR1" {
            return Err("200 with a body that is not a Parquet file".into());
        }
        return Ok(None);
    }
    if ct.starts_with("application/x-ndjson") {
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            serde_json::from_slice::<J>(line)
                .map_err(|e| format!("200 with a bad NDJSON line: {e}"))?;
        }
        return Ok(None);
    }
    if ct.starts_with("text/csv") || ct.starts_with("text/plain") || ct.starts_with("text/html") {
        return Ok(None);
    }
    Err(format!("200 with an unexpected content type `{ct}`"))
}

/// The rule every answer follows; returns the verdict and, for a 200 Arrow stream, its rows and
/// columns.
pub fn check_answer(
    server: &Server,
    req: &Req,
    a: &Answer,
) -> Result<(Verdict, Option<Seen>), String> {
    let status = a.status.as_u16();
    let mut problem_type = if status >= 400 {
        check_problem(req, a)?
    } else {
        String::new()
    };
    if req.method == Method::HEAD && status >= 400 {
        // HEAD answers without a body: the same request as GET tells the problem, and must
        // fail the same way.
        let twin = Req {
            method: Method::GET,
            ..req.clone()
        };
        let g = server.send(&twin)?;
        if g.status != a.status {
            return Err(format!(
                "HEAD answered {status}, GET {} (HEAD checks what GET would answer)",
                g.status.as_u16()
            ));
        }
        problem_type = check_problem(&twin, &g)?;
    }
    let source = req.source_name().and_then(|s| server.source(&s));
    let broken = source.is_some_and(|s| s.broken);
    // The caller names the file of `fuzz.by_name`: storage answers for it.
    let caller_path = req.source_name().as_deref() == Some("fuzz.by_name");
    let fail = |why: &str| {
        Err(format!(
            "{status} {problem_type}: {why}\n{}",
            a.body
                .as_ref()
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(600)]).into_owned())
                .unwrap_or_default()
        ))
    };
    match status {
        200 => {
            let seen = check_success(req, a)?;
            return Ok((Verdict::Pass, seen));
        }
        304 if req.header("if-none-match").is_some() => {}
        304 => return fail("304 without If-None-Match"),
        400..=499 => {
            if req.valid {
                return fail("a request made of valid values was refused");
            }
        }
        500 => return fail("500 for caller input"),
        502 if broken => {}
        502 if caller_path
            && matches!(
                problem_type.as_str(),
                "/problems/data-not-found" | "/problems/corrupt-data"
            ) => {}
        502 => return fail("502 from a source whose data is fine"),
        501 if broken || problem_type == "/problems/unsupported" => {}
        _ => return fail("unexpected status"),
    }
    if req.valid && status != 304 {
        return fail("a request made of valid values did not succeed");
    }
    Ok((Verdict::Pass, None))
}

/// A query-string value as it may arrive: valid, interesting, or random text.
pub fn value(rng: &mut fastrand::Rng, valid: &[String]) -> String {
    match rng.u8(..8) {
        0..=2 if !valid.is_empty() => valid[rng.usize(..valid.len())].clone(),
        3 | 4 => INTERESTING[rng.usize(..INTERESTING.len())].to_string(),
        5 => rng.i64(-3..40).to_string(),
        6 => (0..rng.usize(0..10)).map(|_| rng.char(..)).collect(),
        _ => (0..rng.usize(0..6))
            .map(|_| ["a", ",", " ", "%", "+", "=", "&", ".", "0", "9"][rng.usize(..10)])
            .collect(),
    }
}

/// Encodes one key or value the way clients do (form encoding), or less carefully.
pub fn encode(rng: &mut fastrand::Rng, s: &str) -> String {
    let form = || serde_urlencoded::to_string([("", s)]).unwrap_or_default()[1..].to_string();
    match rng.u8(..10) {
        0..=6 => form(),
        // Every byte escaped, in upper or lower case hex.
        7 => s
            .bytes()
            .map(|b| {
                if rng.bool() {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect(),
        // Raw, with only what a URI cannot hold escaped: `&`, `=`, `+`, `%` stay as they are.
        8 => uri_safe(s),
        // Broken escapes.
        _ => {
            let mut v = form();
            let i = rng.usize(..=v.len());
            if v.is_char_boundary(i) {
                v.insert_str(
                    i,
                    ["%", "%G", "%F", "%FF", "%C3", "%00", "%ZZ", "%%"][rng.usize(..8)],
                );
            }
            v
        }
    }
}

/// `s` with the bytes a URI cannot hold percent-encoded, everything else kept.
pub fn uri_safe(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path segment made from a name, possibly mangled.
pub fn segment(rng: &mut fastrand::Rng, name: &str) -> String {
    match rng.u8(..12) {
        0 => uri_safe(INTERESTING[rng.usize(..INTERESTING.len())]),
        1 => format!(
            "{name}{}",
            ["%FF", "%00", "%2F", "..", ".", "%2e", "x", "%20", "%C3"][rng.usize(..9)]
        ),
        2 => uri_safe(&name.to_uppercase()),
        3 => name
            .rsplit_once('.')
            .map_or(name.to_string(), |(a, _)| a.to_string()),
        _ => name.to_string(),
    }
}

/// Header variations: Accept (formats and codecs), conditional requests, encodings.
pub fn headers(rng: &mut fastrand::Rng) -> Vec<(String, String)> {
    let mut h = vec![];
    if rng.u8(..3) == 0 {
        let accept = [
            "application/vnd.apache.arrow.stream",
            "application/vnd.apache.arrow.stream; codecs=\"zstd\"",
            "application/vnd.apache.arrow.stream;codecs=lz4",
            "application/vnd.apache.arrow.stream; codecs=\"brotli, lz4_frame\"",
            "application/vnd.apache.parquet",
            "text/csv",
            "application/x-ndjson",
            "application/json",
            "*/*",
            "text/html, */*;q=0.1",
            "image/png",
            "",
            ";;;,,,",
        ][rng.usize(..13)];
        h.push(("accept".to_string(), accept.to_string()));
    }
    if rng.u8(..8) == 0 {
        h.push((
            "if-none-match".to_string(),
            ["*", "\"x\"", "W/\"x\"", ""][rng.usize(..4)].to_string(),
        ));
    }
    if rng.u8(..6) == 0 {
        h.push((
            "accept-encoding".to_string(),
            ["gzip", "zstd", "br", "gzip;q=0, identity"][rng.usize(..4)].to_string(),
        ));
    }
    if rng.u8(..10) == 0 {
        h.push((
            "authorization".to_string(),
            ["Bearer x", "Basic Zm9vOmJhcg==", "", "Bearer"][rng.usize(..4)].to_string(),
        ));
    }
    h
}
