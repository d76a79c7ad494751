//! `/status`: the revision and its last reload, discovery, streams open now, recent errors and
//! what was served per source. The live part is also served alone (`/status/live`), which the
//! page's script fetches every two seconds; without script, the page is reloaded by hand.

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::layout::{self, badge};
use super::{url, Viewer};
use crate::api::AppState;
use crate::service::status::StatusReport;

pub async fn page(State(st): State<AppState>, Extension(viewer): Extension<Viewer>) -> Response {
    let report = match st.status(&viewer.caller).await {
        Ok(r) => r,
        Err(e) => return super::error_page(&viewer, &e),
    };
    let body = html! {
        div.title {
            h1 { "Status" }
            span.muted #live-note { "refreshed every 2 s" }
        }
        div #live data-live="/status/live" data-interval="2000" aria-live="polite" {
            (live_markup(&report))
        }
        p {
            "Also as JSON: " a href="/api/v1/status" { code { "/api/v1/status" } }
            @if viewer.caller.sees_everything() {
                " · " a href="/metrics" { code { "/metrics" } } " (Prometheus)"
            }
        }
    };
    layout::page(&viewer, "Status", "status", body).into_response()
}

/// The part of the page that refreshes.
pub async fn live(State(st): State<AppState>, Extension(viewer): Extension<Viewer>) -> Response {
    match st.status(&viewer.caller).await {
        Ok(r) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            Html(live_markup(&r).into_string()),
        )
            .into_response(),
        Err(e) => super::error_page(&viewer, &e),
    }
}

fn live_markup(r: &StatusReport) -> Markup {
    let kind = if r.status == "ok" { "ok" } else { "error" };
    html! {
        dl.facts.tiles {
            div { dt { "Status" } dd { (badge(kind, &r.status)) " " (r.status) } }
            div { dt { "Revision" } dd { code #revision { (r.revision) } } }
            div { dt { "Loaded" } dd { (layout::time(r.reload.loaded_at)) } }
            div { dt { "Discovery" } dd {
                (r.discovery.text)
                @if r.discovery.total > 0 {
                    " " progress max=(r.discovery.total) value=(r.discovery.done) { (r.discovery.done) "/" (r.discovery.total) }
                }
            } }
            div { dt { "Streams" } dd #stream-count { (r.capacity.streams) " / " (r.capacity.max_streams) } }
            div { dt { "Stream memory" } dd { (layout::bytes(r.capacity.inflight_bytes)) " / " (layout::bytes(r.capacity.budget_bytes)) } }
            div { dt { "Served" } dd { (layout::count(r.totals.requests)) " reads · " (layout::count(r.totals.rows)) " rows · " (layout::bytes(r.totals.bytes)) } }
            div { dt { "Database" } dd { (r.database) } }
            div { dt { "Up" } dd { (uptime(r.uptime_secs)) } }
        }
        @if let Some(at) = r.reload.refused_at {
            div.error-box role="alert" {
                p { strong { "The last catalog edit was refused" } " (" (layout::time(at)) "): the revision above keeps serving. Fix these errors:" }
                ul { @for e in &r.reload.errors { li { code { (e) } } } }
            }
        }
        @if !r.catalog_errors.is_empty() {
            div.warn-box {
                p { strong { "Catalog files that did not load:" } }
                ul { @for e in &r.catalog_errors { li { code { (e) } } } }
            }
        }
        section {
            h2 { "Active streams" }
            @if r.streams.is_empty() {
                p.muted #no-streams { "No stream is open." }
            } @else {
                div.scroll { table #streams {
                    thead { tr { th { "Source" } th { "Rows so far" } th { "Bytes so far" } th { "Open for" } } }
                    tbody { @for s in &r.streams {
                        tr data-source=(s.source) {
                            td { a href=(url::source(&s.source)) { (s.source) } }
                            td { (layout::count(s.rows)) }
                            td { (layout::bytes(s.bytes)) }
                            td { (uptime(s.seconds)) }
                        }
                    } }
                } }
            }
        }
        section {
            h2 { "Recent errors" }
            @if r.errors.is_empty() {
                p.muted { "None." }
            } @else {
                div.scroll { table #errors {
                    thead { tr { th { "When" } th { "Source" } th { "Kind" } th { "During" } th { "Message" } } }
                    tbody { @for e in &r.errors {
                        tr {
                            td { (layout::time(e.at)) }
                            td { @if let Some(s) = &e.source { a href=(url::source(s)) { (s) } } }
                            td { code { (e.kind) } }
                            td { (e.during) }
                            td { (e.message) }
                        }
                    } }
                } }
            }
        }
        section {
            h2 { "Served per source (since start)" }
            @if r.served.is_empty() {
                p.muted { "Nothing yet." }
            } @else {
                div.scroll { table #served {
                    thead { tr { th { "Source" } th { "Reads" } th { "Rows" } th { "Bytes" } } }
                    tbody { @for s in &r.served {
                        tr {
                            td { a href=(url::source(&s.source)) { (s.source) } }
                            td { (layout::count(s.requests)) }
                            td { (layout::count(s.rows)) }
                            td { (layout::bytes(s.bytes)) }
                        }
                    } }
                } }
            }
        }
    }
}

fn uptime(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_short() {
        assert_eq!(super::uptime(5), "5 s");
        assert_eq!(super::uptime(125), "2 min 5 s");
        assert_eq!(super::uptime(7300), "2 h 1 min");
        assert_eq!(super::uptime(90_000), "1 d 1 h");
    }
}
