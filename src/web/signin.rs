//! Signing in with a token (when the server requires one): `POST /signin` checks it through
//! the core and keeps it in an HttpOnly, SameSite=Strict cookie (`Secure` when the public URL
//! is https or a proxy says the request came over TLS); `POST /signout` clears it.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{layout, Viewer, COOKIE};
use crate::api::AppState;
use crate::config::AuthMode;
use crate::service::Caller;

/// Only a path of this site: `/x`, never `//host` or `https://...`.
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") {
        next
    } else {
        "/"
    }
}

/// The sign-in form, with `message` (why the last try failed).
pub fn render(status: StatusCode, next: &str, message: Option<&str>) -> Response {
    let viewer = Viewer {
        caller: Caller::default(),
        signed_in: false,
        auth_on: true,
    };
    let body = html! {
        section.signin {
            h1 { "Sign in" }
            p { "This server needs a token. An operator makes one with " code { "inlet token create" } "; it sees only the catalogs its scopes name." }
            @if let Some(m) = message {
                p.error-box role="alert" { (m) }
            }
            form method="post" action="/signin" {
                input type="hidden" name="next" value=(safe_next(next));
                div.field {
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus placeholder="inlet_…";
                }
                button type="submit" { "Sign in" }
            }
        }
    };
    (status, layout::page(&viewer, "Sign in", "signin", body)).into_response()
}

pub async fn form(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    if st.config.auth == AuthMode::Off {
        return Redirect::to("/").into_response();
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let next = pairs
        .iter()
        .find(|(k, _)| k == "next")
        .map_or("/", |(_, v)| v.as_str());
    render(StatusCode::OK, next, None)
}

/// Whether a form post comes from this site (an `Origin` that names another host is refused).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
    !host.is_empty() && authority == host
}

fn secure(st: &AppState, headers: &HeaderMap) -> bool {
    crate::service::urls::public_is_https(&st.config)
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that keeps `token` (or clears the cookie with `None`).
pub fn cookie(token: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match token {
        Some(t) => format!("{COOKIE}={t}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

pub async fn submit(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if st.config.auth == AuthMode::Off {
        return Redirect::to("/").into_response();
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let next = field("next").unwrap_or_else(|| "/".into());
    if !same_origin(&headers) {
        return render(
            StatusCode::FORBIDDEN,
            &next,
            Some("this form was sent from another site"),
        );
    }
    let token = field("token").unwrap_or_default();
    // A token is `inlet_<id>_<secret>`: letters, digits and `_` only, so it is a safe cookie value.
    let plausible = !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let checked = if plausible {
        st.core
            .authenticate(Some(&format!("Bearer {token}")))
            .await
            .map_err(|e| e.to_string())
    } else {
        Err("that is not a token: paste the whole `inlet_...` value".to_string())
    };
    match checked {
        Ok(_) => {
            let mut r = Redirect::to(safe_next(&next)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie(Some(&token), secure(&st, &headers))) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(message) => render(StatusCode::UNAUTHORIZED, &next, Some(&message)),
    }
}

pub async fn signout(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(None, secure(&st, &headers))) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let c = cookie(Some("inlet_ab_cd"), false);
        assert_eq!(
            c,
            "inlet_token=inlet_ab_cd; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(cookie(Some("t"), true).ends_with("; Secure"));
        assert!(cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn only_local_paths_are_followed_after_signing_in() {
        assert_eq!(safe_next("/sources/a.b?x=1"), "/sources/a.b?x=1");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin: a form post of an old browser");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
