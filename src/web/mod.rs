//! The web page: server-rendered HTML (maud, escaped by default) over the service core, with a
//! little progressive JavaScript. Pages parse the request, call the core and render; every
//! rule (scopes, search, reads, status) lives in `service/`.
//!
//! Routes: `/` (search, facets, the catalog tree), `/catalogs/{name}`, `/sources/{name}`,
//! `/status` (and `/status/live`, the part the page refreshes), `/signin`, `/signout`, and
//! `/assets/{file}` (one CSS and one JS file, embedded, named by a hash of their content).

mod assets;
mod catalog;
mod cells;
mod home;
mod layout;
mod signin;
pub mod snippets;
mod source;
mod status;
pub mod url;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use tower_http::timeout::TimeoutLayer;

use crate::api::AppState;
use crate::config::AuthMode;
use crate::service::{Caller, ServiceError};

/// The Content-Security-Policy of every page: no inline script or style, nothing from
/// elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The cookie that holds a signed-in token (the API reads it too, for GET and HEAD).
pub use crate::api::SESSION_COOKIE as COOKIE;

/// What the page knows beyond the core: where Flight listens (for snippets).
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// `grpc://host:port` of this server's Flight listener (the first advertised one), if on.
    pub flight: Option<String>,
}

/// Who is asking, and whether they signed in (for the header's sign-out button).
#[derive(Clone)]
pub struct Viewer {
    pub caller: Caller,
    pub signed_in: bool,
    pub auth_on: bool,
}

/// The page routes, to merge with the API (`api::router_with`).
pub fn router(state: AppState, config: WebConfig) -> Router<AppState> {
    let timeout = Duration::from_secs(state.config.metadata_timeout_secs.max(1));
    let pages = Router::new()
        .route("/", get(home::page))
        .route("/catalogs/{name}", get(catalog::page))
        .route("/sources/{name}", get(source::page))
        .route("/status", get(status::page))
        .route("/status/live", get(status::live))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::GATEWAY_TIMEOUT,
            timeout,
        ));
    let open = Router::new()
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", axum::routing::post(signin::signout))
        .route("/assets/{file}", get(assets::serve));
    pages
        .merge(open)
        .layer(Extension(Arc::new(config)))
        .layer(middleware::from_fn(security_headers))
}

/// Headers of every page and asset: the CSP, no sniffing, no referrer beyond this origin, no
/// framing; pages (which may show what a token grants) are not stored by caches.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/assets/");
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// The token a request carries: `Authorization: Bearer` (scripts), else the sign-in cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return Caller::from_authorization(Some(v)).token;
    }
    crate::api::session_token(headers)
}

/// Resolves the caller through the core (as the API does); without a valid token, when auth
/// is on, pages answer with the sign-in form (401).
async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = token_of(req.headers());
    let auth_on = st.config.auth == AuthMode::Required;
    let bearer = token.as_ref().map(|t| format!("Bearer {t}"));
    match st.core.authenticate(bearer.as_deref()).await {
        Ok(caller) => {
            req.extensions_mut().insert(Viewer {
                caller,
                signed_in: auth_on && token.is_some(),
                auth_on,
            });
            next.run(req).await
        }
        Err(e) => {
            let next_url = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string();
            let message = token.is_some().then(|| e.to_string());
            signin::render(StatusCode::UNAUTHORIZED, &next_url, message.as_deref())
        }
    }
}

/// An error as a page, with the status the API would answer.
pub fn error_page(viewer: &Viewer, e: &ServiceError) -> Response {
    let status = crate::api::error::status_of(e.kind());
    let body = layout::page(
        viewer,
        "Error",
        "",
        maud::html! {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p.error-box role="alert" { (crate::catalog::redact::redact_text(&e.to_string())) }
            p { a href="/" { "Back to the search" } }
        },
    );
    (status, body).into_response()
}
