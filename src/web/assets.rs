//! The page's two assets, embedded in the binary and served under a name that carries a hash of
//! their content (`/assets/web.1a2b3c4d.css`), so they can be cached for a year.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/web.css");
const JS: &str = include_str!("assets/web.js");

fn fnv(s: &str) -> String {
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    format!("{:08x}", h & 0xffff_ffff)
}

static CSS_NAME: LazyLock<String> = LazyLock::new(|| format!("web.{}.css", fnv(CSS)));
static JS_NAME: LazyLock<String> = LazyLock::new(|| format!("web.{}.js", fnv(JS)));

pub fn css_url() -> String {
    format!("/assets/{}", *CSS_NAME)
}

pub fn js_url() -> String {
    format!("/assets/{}", *JS_NAME)
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, media) = if file == *CSS_NAME {
        (CSS, "text/css; charset=utf-8")
    } else if file == *JS_NAME {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "no such asset",
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, media),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn asset_names_change_with_their_content() {
        assert_ne!(super::fnv("a"), super::fnv("b"));
        assert!(super::css_url().starts_with("/assets/web.") && super::css_url().ends_with(".css"));
        assert!(super::js_url().ends_with(".js"));
    }
}
