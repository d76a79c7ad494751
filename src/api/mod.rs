//! The HTTP API: thin axum handlers over the service layer; one router, one state.

pub mod data;
pub mod error;
pub mod files;
pub mod meta;
pub mod openapi;
pub mod query;
pub mod ranges;
pub mod revisions;
pub mod state;

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::service::Caller;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request latency by route and status; 503 for everything while shutting down.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if st.is_draining() && req.uri().path() != "/livez" {
        return data::draining();
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // Known methods only: the method is the client's to invent, and labels must stay bounded.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("inlet_http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Errors that axum or a layer answers on its own (a path segment that is not UTF-8, a method a
/// route does not take, a metadata timeout) become problem+json like every other error, keeping
/// their status and headers (`Allow`, ...).
async fn problems_only(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    // Problems pass as they are, and so do JSON answers that carry their own status (a 503
    // from /readyz is the health document, not an error to wrap).
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/problem+json")
                || v.as_bytes().starts_with(b"application/json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let kind = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        s if s.is_client_error() => "invalid-request",
        _ => "internal",
    };
    let mut r = error::ApiError::new(status, kind, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            r.headers_mut().insert(name.clone(), value.clone());
        }
    }
    r
}

/// Routes anyone may call, whatever the auth mode: probes and the API description.
const OPEN_ROUTES: [&str; 5] = [
    "/livez",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/redoc.standalone.js",
];

/// Where files are served by their signed URLs (`/api/v1/files/{ticket}`).
const FILE_ROUTE: &str = "/api/v1/files/";

/// The cookie the web page keeps a signed-in token in (`HttpOnly; SameSite=Strict`).
pub const SESSION_COOKIE: &str = "inlet_token";

/// The token of the web page's sign-in cookie, if the request carries one.
pub fn session_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Resolves the caller once per request (the core decides; a refused token is a 401) and
/// hands it to the handlers as an extension. The token is the `Authorization: Bearer` header;
/// reads (GET, HEAD) without one may also use the web page's sign-in cookie, so that the
/// page's links to the JSON work for a signed-in person (the cookie is SameSite=Strict).
async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    // A file URL is its own credential (signed, expiring, tied to the token that listed it):
    // readers like Polars and DuckDB fetch it without headers.
    let path = req.uri().path();
    if OPEN_ROUTES.contains(&path) || path.starts_with(FILE_ROUTE) {
        return next.run(req).await;
    }
    let header_value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let value = header_value.or_else(|| {
        matches!(*req.method(), Method::GET | Method::HEAD)
            .then(|| session_token(req.headers()))
            .flatten()
            .map(|t| format!("Bearer {t}"))
    });
    match st.core.authenticate(value.as_deref()).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => error::ApiError::from(e).into_response(),
    }
}

/// Pins the caller to the catalog revision of `?ref=`. A route layer: it runs only for a
/// request that matched a route and method, so a wrong method is still a 405.
async fn pin_revision(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let name = match take_ref(&mut req) {
        Ok(None) => return next.run(req).await,
        Ok(Some(name)) => name,
        Err(e) => return e.into_response(),
    };
    let at = match st.core.snapshot_at(&name).await {
        Ok(at) => at,
        Err(e) => return error::ApiError::from(e).into_response(),
    };
    if let Some(caller) = req.extensions_mut().get_mut::<Caller>() {
        caller.at = Some(at);
    }
    next.run(req).await
}

/// Takes `ref` (a catalog revision: commit, branch or tag) out of the query string, so that
/// every route serves a past revision the same way and none has to know the key.
fn take_ref(req: &mut Request) -> Result<Option<String>, error::ApiError> {
    let Some(raw) = req.uri().query() else {
        return Ok(None);
    };
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(raw) else {
        // The route's own parsing reports a malformed query.
        return Ok(None);
    };
    let (refs, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(k, _)| k == "ref");
    let Some((_, name)) = refs.last() else {
        return Ok(None);
    };
    if refs.len() > 1 {
        return Err(error::ApiError::invalid(
            "ref",
            "`ref` is given more than once: give one revision",
        ));
    }
    if name.trim().is_empty() {
        return Err(error::ApiError::invalid(
            "ref",
            "`ref` is empty: give a commit id, branch or tag, or leave it out",
        ));
    }
    let name = name.clone();
    let query = serde_urlencoded::to_string(&rest).unwrap_or_default();
    let path = req.uri().path();
    let rebuilt = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    if let Ok(uri) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    Ok(Some(name))
}

async fn docs() -> Html<&'static str> {
    Html(include_str!("../../assets/redoc/index.html"))
}

async fn redoc_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/javascript"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../assets/redoc/redoc.standalone.js"),
    )
        .into_response()
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::spec_json(),
    )
        .into_response()
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such route: see /docs for the API",
    )
}

/// The API.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The API and `pages`, another front end's routes (the web page), under the same outer
/// layers (request ids, tracing, metrics, the drain, compression, body limit, CORS) but
/// outside the API's own (problem+json errors, bearer authentication): `pages` authenticates
/// and renders its errors itself.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let cfg = &state.config;
    let timeout = Duration::from_secs(cfg.metadata_timeout_secs.max(1));
    // `?ref=` pins a request to a catalog revision; a route layer of each method router, so
    // it runs only for a matched route and method (a wrong method stays a 405).
    let pin = middleware::from_fn_with_state(state.clone(), pin_revision);
    let pinned = |m: axum::routing::MethodRouter<AppState>| m.route_layer(pin.clone());
    // Metadata answers are bounded in time; data streams are not (they may legitimately be long).
    let metadata = Router::new()
        .route("/api/v1/catalogs", pinned(get(meta::list_catalogs)))
        .route("/api/v1/catalogs/{catalog}", pinned(get(meta::get_catalog)))
        .route("/api/v1/sources/{source}", pinned(get(meta::get_source)))
        .route(
            "/api/v1/sources/{source}/schema",
            pinned(get(meta::get_schema)),
        )
        .route("/api/v1/sources/{source}/plan", pinned(post(data::plan)))
        .route(
            "/api/v1/sources/{source}/files",
            pinned(get(files::list_files)),
        )
        .route(
            "/api/v1/sources/{source}/data.parquet",
            pinned(get(files::data_parquet)),
        )
        .route("/api/v1/sources/{source}/usage", pinned(get(meta::usage)))
        .route(
            "/api/v1/sources/{source}/history",
            pinned(get(revisions::source_history)),
        )
        .route("/api/v1/revisions", pinned(get(revisions::list_revisions)))
        .route("/api/v1/search", pinned(get(meta::search)))
        .route("/api/v1/status", get(meta::status))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ));
    let streams = Router::new()
        .route("/api/v1/sources/{source}/data", pinned(get(data::get_data)))
        .route("/api/v1/tickets/{ticket}", get(data::redeem))
        .route("/api/v1/files/{ticket}", get(files::get_file));
    let ops = Router::new()
        .route("/livez", get(meta::livez))
        .route("/readyz", get(meta::readyz))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs))
        .route("/docs/redoc.standalone.js", get(redoc_js));
    // Arrow IPC carries its own buffer compression (negotiated with `codecs=`); compress the rest.
    // Files go out byte for byte: their lengths and ranges are of the stored bytes.
    let verbatim =
        |_: StatusCode,
         _: axum::http::Version,
         _: &axum::http::HeaderMap,
         ext: &axum::http::Extensions| { ext.get::<files::Verbatim>().is_none() };
    let compress = CompressionLayer::new().compress_when(
        DefaultPredicate::new()
            .and(NotForContentType::const_new(
                "application/vnd.apache.arrow.stream",
            ))
            .and(verbatim),
    );
    let api = metadata
        .merge(streams)
        .merge(ops)
        .fallback(not_found)
        .layer(middleware::from_fn(problems_only))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let mut app = api
        .merge(pages)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(compress)
        .layer(axum::extract::DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    if !cfg.cors_origins.is_empty() {
        let origins = if cfg.cors_origins.iter().any(|o| o == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                cfg.cors_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok()),
            )
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::HEAD, Method::POST])
                .allow_headers([
                    header::ACCEPT,
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_NONE_MATCH,
                    header::IF_MATCH,
                    header::RANGE,
                    header::IF_RANGE,
                ])
                // Browser readers of file URLs (DuckDB-WASM) read these of range answers.
                .expose_headers([
                    header::ACCEPT_RANGES,
                    header::CONTENT_RANGE,
                    header::CONTENT_LENGTH,
                    header::ETAG,
                    HeaderName::from_static(data::DATA_VERSION),
                ]),
        );
    }
    app.with_state(state)
}
