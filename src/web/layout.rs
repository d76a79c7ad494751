//! The frame of every page (head, header, footer) and small rendering helpers.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};

use super::assets;
use super::Viewer;

/// A whole page: `title`, the header (its search box everywhere but on `home`), `body`.
pub fn page(viewer: &Viewer, title: &str, active: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Inlet" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::js_url()) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Inlet" }
                    @if active != "home" {
                        form.top-search action="/" method="get" role="search" {
                            label.visually-hidden for="top-q" { "Search datasets" }
                            input #top-q type="search" name="q" placeholder="Search datasets (press /)" autocomplete="off";
                        }
                    }
                    nav aria-label="Main" {
                        a href="/" aria-current=[(active == "home").then_some("page")] { "Search" }
                        a href="/status" aria-current=[(active == "status").then_some("page")] { "Status" }
                        a href="/docs" { "API docs" }
                        @if viewer.signed_in {
                            form.inline method="post" action="/signout" {
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer.foot {
                    "Inlet · " a href="/openapi.json" { "OpenAPI" } " · " a href="/api/v1/catalogs" { "JSON" }
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A status badge: `ok`, `unsupported` or `error` (the class), with `text` as its label.
pub fn badge(kind: &str, text: &str) -> Markup {
    let class = match kind {
        "ok" => "badge ok",
        "unsupported" => "badge warn",
        _ => "badge bad",
    };
    let label = match kind {
        "ok" | "unsupported" => kind,
        _ => "error",
    };
    html! { span class=(class) title=(text) { (label) } }
}

/// `1.5 MB`, `312 B` (decimal units).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// `20,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || secs.to_string(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

/// A JSON value as text: strings as they are, lists of scalars joined with commas, the rest as
/// JSON.
pub fn json_text(v: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match v {
        J::String(s) => s.clone(),
        J::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => {
            items.iter().map(json_text).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// `1 partition`, `4 partitions`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Metadata as a definition list (values as text; nested values as JSON).
pub fn metadata(meta: &serde_json::Value) -> Markup {
    html! {
        @if let Some(map) = meta.as_object().filter(|m| !m.is_empty()) {
            dl.meta {
                @for (k, v) in map {
                    dt { (k) }
                    dd { (json_text(v)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(bytes(312), "312 B");
        assert_eq!(bytes(1_500_000), "1.5 MB");
        assert_eq!(bytes(42_000), "42 kB");
        assert_eq!(count(20000), "20,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(json_text(&serde_json::json!(["a", 1])), "a, 1");
        assert_eq!(json_text(&serde_json::json!({"a": [1]})), r#"{"a":[1]}"#);
        assert_eq!(plural(1, "row", "rows"), "1 row");
    }

    #[test]
    fn metadata_is_escaped() {
        let m = serde_json::json!({"<b>": "<script>alert(1)</script>", "n": {"x": "\"><img>"}});
        let html = metadata(&m).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&lt;b&gt;"), "{html}");
    }
}
