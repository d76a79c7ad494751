//! Metadata routes: catalogs, sources, schemas, search, health.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value as J};
use utoipa::ToSchema;

use super::error::ApiError;
use super::query::{next_token, page_request, paginate, Query};
use super::state::AppState;
use crate::catalog::view::EntrySummary;
use crate::catalog::CatalogNode;
use crate::service::access::{authorize, not_found};
use crate::service::{describe, schema_json, Caller, ErrorKind, SearchRequest};

/// JSON with an ETag derived from the catalog revision (and the query); 304 when it matches.
pub fn etagged(
    headers: &HeaderMap,
    revision: &str,
    query: Option<&str>,
    body: &impl Serialize,
) -> Response {
    etagged_bytes(headers, revision, query, || {
        serde_json::to_vec(body).unwrap_or_default().into()
    })
}

/// [`etagged`] for a body already serialized (or produced only when needed).
pub fn etagged_bytes(
    headers: &HeaderMap,
    revision: &str,
    query: Option<&str>,
    body: impl FnOnce() -> bytes::Bytes,
) -> Response {
    let q = query
        .map(|q| format!(";{:x}", fxhash(q)))
        .unwrap_or_default();
    let etag = format!("\"{revision}{q}\"");
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let mut r = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body()).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// A small stable hash of a query string, to tell representations apart in ETags.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[derive(Serialize, ToSchema)]
pub struct CatalogSummary {
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: J,
    /// Entries that are data sources.
    pub sources: usize,
    /// Entries that are nested catalogs.
    pub catalogs: usize,
}

#[derive(Serialize, ToSchema)]
pub struct CatalogList {
    pub catalogs: Vec<CatalogSummary>,
    pub next_page_token: Option<String>,
    pub revision: String,
}

#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub name: String,
    /// `source` or `catalog`.
    pub kind: String,
    pub driver: String,
    pub description: String,
    pub status: String,
}

impl From<EntrySummary> for EntryView {
    fn from(e: EntrySummary) -> Self {
        EntryView {
            name: e.name,
            kind: e.kind.to_string(),
            driver: e.driver,
            description: e.description,
            // A status may quote a nested catalog's error, with its paths.
            status: crate::catalog::redact::redact_text(&e.status).into_owned(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CatalogDetail {
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: J,
    #[schema(value_type = Vec<Object>)]
    pub parameters: J,
    pub entries: Vec<EntryView>,
    pub next_page_token: Option<String>,
    pub revision: String,
}

/// A catalog as `caller` sees it: counts only of the entries in its scopes.
fn summary(node: &CatalogNode, caller: &Caller) -> CatalogSummary {
    let visible = |e: &&crate::catalog::Entry| caller.may_see(&format!("{}.{}", node.name, e.name));
    let catalogs = node
        .file
        .entries
        .iter()
        .filter(visible)
        .filter(|e| e.is_catalog())
        .count();
    let sources = node
        .file
        .entries
        .iter()
        .filter(visible)
        .filter(|e| !e.is_catalog())
        .count();
    CatalogSummary {
        name: node.name.clone(),
        description: node.file.description.clone(),
        metadata: crate::catalog::redact::redact(&node.file.metadata),
        sources,
        catalogs,
    }
}

/// ETags of answers that depend on the caller's scopes differ per token.
fn caller_key(caller: &Caller, raw: Option<&str>) -> String {
    match caller.token_id() {
        Some(id) => format!("{}&token={id}", raw.unwrap_or("")),
        None => raw.unwrap_or("").to_string(),
    }
}

/// List the root catalogs.
#[utoipa::path(get, path = "/api/v1/catalogs", tag = "catalogs",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("page_size" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "1..1000, default 100"),
           ("page_token" = Option<String>, Query, pattern = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$", description = "`next_page_token` of the previous page")),
    responses((status = 404, description = "No such `ref`", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 200, body = CatalogList), (status = 304, description = "Not modified (ETag)"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn list_catalogs(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let (size, token) = (q.usize("page_size")?, q.one("page_token"));
    q.finish(&["page_size", "page_token"])?;
    let snap = st.snapshot_for(&caller);
    let all: Vec<CatalogSummary> = snap
        .service
        .library
        .roots()
        .iter()
        .filter(|n| caller.may_see(&n.name))
        .map(|n| summary(n, &caller))
        .collect();
    let (catalogs, next_page_token) = paginate(all, |c| &c.name, size, token)?;
    let body = CatalogList {
        catalogs,
        next_page_token,
        revision: snap.revision.clone(),
    };
    let key = caller_key(&caller, raw.as_deref());
    Ok(etagged(&headers, &snap.revision, Some(&key), &body))
}

/// One catalog (root or nested, by dotted name) and its entries.
#[utoipa::path(get, path = "/api/v1/catalogs/{catalog}", tag = "catalogs",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("catalog" = String, Path, description = "Dotted catalog name"),
           ("page_size" = Option<usize>, Query, minimum = 1, maximum = 1000), ("page_token" = Option<String>, Query, pattern = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$")),
    responses((status = 200, body = CatalogDetail), (status = 304, description = "Not modified (ETag)"),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn get_catalog(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let (size, token) = (q.usize("page_size")?, q.one("page_token"));
    q.finish(&["page_size", "page_token"])?;
    if !caller.may_see(&name) {
        return Err(not_found(&name).into());
    }
    let snap = st.snapshot_for(&caller);
    let lib = &snap.service.library;
    let node = describe::catalog(lib, &name).map_err(|e| caller.conceal(e))?;
    let page = page_request(size, token)?;
    let (rows, more) = describe::entries_page(&node, page.after.as_deref(), page.size, |name| {
        caller.may_see(name)
    });
    let entries: Vec<EntryView> = rows.into_iter().map(EntryView::from).collect();
    let next_page_token = entries.last().filter(|_| more).map(|e| next_token(&e.name));
    let body = CatalogDetail {
        name: node.name.clone(),
        description: node.file.description.clone(),
        metadata: crate::catalog::redact::redact(&node.file.metadata),
        parameters: crate::catalog::redact::redact(
            &serde_json::to_value(node.catalog_params()).unwrap_or_default(),
        ),
        entries,
        next_page_token,
        revision: snap.revision.clone(),
    };
    let key = caller_key(&caller, raw.as_deref());
    Ok(etagged(&headers, &snap.revision, Some(&key), &body))
}

/// A source: description, driver, metadata, parameters, schema, partitions, rows, sizes, status.
#[utoipa::path(get, path = "/api/v1/sources/{source}", tag = "sources",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path, description = "Dotted source name"),
           ("param.<name>" = Option<String>, Query, description = "A parameter value (repeat per parameter)")),
    responses((status = 200, description = "The source, with `discovery` (schema, partitions, rows, bytes, files, statistics) or `discovery_error`", body = Object),
              (status = 304, description = "Not modified (ETag)"),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn get_source(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Query::params_only(raw.as_deref())?;
    authorize(&caller, &name)?;
    let snap = st.snapshot_for(&caller);
    let key = format!("{name}?{}", raw.as_deref().unwrap_or(""));
    let body = snap
        .rendered(&key, || async {
            let v = describe::source(&snap, &name, &params)
                .await
                .map_err(|e| caller.conceal(e))?;
            let cacheable = v.get("discovery_error").is_none();
            Ok::<_, ApiError>((
                bytes::Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
                cacheable,
            ))
        })
        .await?;
    // Clients that accept gzip (browsers, python-requests) get a compressed body cached once per
    // snapshot, instead of the compression layer redoing it on every request.
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        });
    if !gzip {
        return Ok(etagged_bytes(
            &headers,
            &snap.revision,
            raw.as_deref(),
            || body,
        ));
    }
    let zipped = snap
        .rendered(&format!("{key}|gzip"), || async {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut enc, &body)
                .and_then(|()| enc.finish())
                .map(|z| (bytes::Bytes::from(z), true))
        })
        .await
        .map_err(|e| ApiError::of(ErrorKind::Internal, e.to_string()))?;
    let query = format!("{}|gzip", raw.as_deref().unwrap_or(""));
    let mut r = etagged_bytes(&headers, &snap.revision, Some(&query), || zipped);
    if r.status() == StatusCode::OK {
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Ok(r)
}

/// The Arrow schema: JSON fields, or an Arrow IPC schema message with
/// `Accept: application/vnd.apache.arrow.stream`.
#[utoipa::path(get, path = "/api/v1/sources/{source}/schema", tag = "sources",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("source" = String, Path), ("param.<name>" = Option<String>, Query)),
    responses((status = 200, description = "`{fields: [{name, type, nullable, metadata}]}`, or an IPC stream holding only the schema", body = Object),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 501, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 502, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn get_schema(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = Query::params_only(raw.as_deref())?;
    authorize(&caller, &name)?;
    let snap = st.snapshot_for(&caller);
    let opened = snap
        .open(&name, &params)
        .await
        .map_err(|e| caller.conceal(e))?;
    let discovery = opened.source.discover().await?;
    let wants_ipc = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/vnd.apache.arrow.stream"));
    if wants_ipc {
        let mut buf = vec![];
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &discovery.schema)
            .map_err(|e| ApiError::of(ErrorKind::Internal, e.to_string()))?;
        w.finish()
            .map_err(|e| ApiError::of(ErrorKind::Internal, e.to_string()))?;
        drop(w);
        return Ok((
            [(header::CONTENT_TYPE, "application/vnd.apache.arrow.stream")],
            buf,
        )
            .into_response());
    }
    let body =
        json!({"name": name, "fields": schema_json(&discovery.schema), "revision": snap.revision});
    Ok(etagged(&headers, &snap.revision, raw.as_deref(), &body))
}

/// One search result: an entry as listings show it, with its rank and highlights.
#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    pub name: String,
    /// Always `source`.
    pub kind: String,
    pub driver: String,
    /// The first line of the description.
    pub description: String,
    pub status: String,
    /// Relevance (higher is better; results come best first). 0 without search text.
    pub rank: f64,
    /// Matched words in `<mark>...</mark>`, by field (`description`); the text is the
    /// catalog's, not HTML-escaped.
    pub highlights: BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
    /// Counts by `driver`, `catalog` and `tags` over all matches (every page).
    #[schema(value_type = Object)]
    pub facets: BTreeMap<String, BTreeMap<String, usize>>,
    pub next_page_token: Option<String>,
    pub revision: String,
    /// Number of matches over all pages.
    pub total: usize,
}

/// Sources across catalogs, ranked: every word of `q` must match (as a word prefix) a name,
/// description, tag or column (names and types, once discovered). Filters narrow the matches;
/// facets count them. Only sources the caller's token may read are searched.
#[utoipa::path(get, path = "/api/v1/search", tag = "catalogs",
    params(("ref" = Option<String>, Query, description = "A catalog revision to serve: commit id, branch or tag of the catalogs' git repository (default: the current catalogs)"), ("q" = Option<String>, Query, description = "Words that must all match (word prefixes); empty: every source, by name"),
           ("driver" = Option<String>, Query, description = "Only this driver (as catalogs write it)"),
           ("catalog" = Option<String>, Query, description = "Only this catalog and those nested in it"),
           ("tag" = Option<Vec<String>>, Query, description = "Only sources with this tag (repeatable: all of them)"),
           ("column" = Option<Vec<String>>, Query, description = "Only sources with this column (repeatable: all of them)"),
           ("page_size" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "1..1000, default 100"),
           ("page_token" = Option<String>, Query, pattern = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$", description = "`next_page_token` of the previous page")),
    responses((status = 404, description = "No such `ref`", body = super::error::Problem, content_type = "application/problem+json"),
              (status = 200, body = SearchResults), (status = 304, description = "Not modified (ETag)"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn search(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let req = SearchRequest {
        text: q.one("q").unwrap_or_default(),
        driver: q.one("driver").filter(|d| !d.is_empty()),
        catalog: q.one("catalog").filter(|c| !c.is_empty()),
        tags: q.list("tag"),
        columns: q.list("column"),
        page_size: q.usize("page_size")?,
        page_token: q.one("page_token"),
    };
    q.finish(&[
        "q",
        "driver",
        "catalog",
        "tag",
        "column",
        "page_size",
        "page_token",
    ])?;
    let found = st.search(&caller, &req).await?;
    let body = SearchResults {
        results: found
            .hits
            .into_iter()
            .map(|h| SearchHit {
                name: h.name,
                kind: "source".into(),
                driver: h.driver,
                description: h.summary,
                status: h.status,
                rank: h.rank,
                highlights: h
                    .highlight
                    .map(|d| BTreeMap::from([("description".to_string(), d)]))
                    .unwrap_or_default(),
            })
            .collect(),
        facets: found.facets,
        next_page_token: found.next_page_token,
        total: found.total,
        revision: found.revision.clone(),
    };
    let key = caller_key(&caller, raw.as_deref());
    Ok(etagged(&headers, &found.revision, Some(&key), &body))
}

/// Usage of a source: requests, rows and bytes served, by day and token.
#[derive(Serialize, ToSchema)]
pub struct Usage {
    pub source: String,
    pub requests: i64,
    pub rows: i64,
    pub bytes: i64,
    /// Newest day first; `day` is days since 1970-01-01 (UTC), `token_id` null for reads
    /// without a token. A caller with a token sees only its own rows.
    #[schema(value_type = Vec<Object>)]
    pub by_day: Vec<crate::store::UsageRow>,
}

/// Rows and bytes served from a source (counts are written within seconds of a read ending).
#[utoipa::path(get, path = "/api/v1/sources/{source}/usage", tag = "sources",
    params(("source" = String, Path, description = "Dotted source name")),
    responses((status = 200, body = Usage),
              (status = 404, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn usage(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let u = st.source_usage(&caller, &name).await?;
    Ok(axum::Json(Usage {
        source: u.source,
        requests: u.requests,
        rows: u.rows,
        bytes: u.bytes,
        by_day: u.by_day,
    })
    .into_response())
}

/// What is running and what went wrong: the catalog revision and its last reload (or the
/// refused edit with its errors), discovery progress, the data streams open now with their
/// rows and bytes so far, recent errors that were not the callers', and what was served per
/// source since the server started. Lists that name sources hold only those the caller's token
/// may read.
#[utoipa::path(get, path = "/api/v1/status", tag = "operations",
    responses((status = 200, body = crate::service::status::StatusReport),
              (status = 401, body = super::error::Problem, content_type = "application/problem+json"),
              (status = 422, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn status(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let report = st.status(&caller).await?;
    Ok(axum::Json(report).into_response())
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200, description = "Alive")))]
pub async fn livez() -> &'static str {
    "ok"
}

/// Readiness: catalogs loaded (and the last reload's errors, if a broken edit was refused),
/// the database reachable, and how far background discovery got (`discovered N/M`).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready (`status` is `ok` or `degraded`)", body = Object), (status = 503, description = "Shutting down, or the database cannot be reached", body = Object)))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let health = st.health().await;
    let code = if st.is_draining() || health.database != "ok" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(health)).into_response()
}

/// Prometheus metrics (text format). They name every source, so with `--auth required` they
/// need a token that may read everything (`catalog:*:read`).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
    (status = 401, body = super::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = super::error::Problem, content_type = "application/problem+json")))]
pub async fn metrics(State(st): State<AppState>, Extension(caller): Extension<Caller>) -> Response {
    if !caller.sees_everything() {
        return ApiError::of(
            ErrorKind::AccessDenied,
            "metrics name every source: they need a token with the scope `catalog:*:read`",
        )
        .into_response();
    }
    metrics::gauge!("inlet_inflight_bytes").set(st.budget.in_use() as f64);
    metrics::gauge!("inlet_inflight_budget_bytes").set(st.budget.total() as f64);
    let text = st.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
