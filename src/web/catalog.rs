//! `/catalogs/{name}`: one catalog (root or nested), its description, metadata and entries.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::html;

use super::layout::{self, badge};
use super::{url, Viewer};
use crate::api::AppState;
use crate::catalog::redact::redact_text;

/// Entries per page.
const PAGE: usize = 200;

pub async fn page(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let page = pairs
        .iter()
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let view = match st.catalog(&viewer.caller, &name) {
        Ok(v) => v,
        Err(e) => return super::error_page(&viewer, &e),
    };
    let parent = view.name.rsplit_once('.').map(|(p, _)| p.to_string());
    let pages = view.total_entries.div_ceil(PAGE).max(1);
    let page = page.min(pages);
    let shown = view.entries.iter().skip((page - 1) * PAGE).take(PAGE);
    let here = url::catalog(&view.name);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "Catalogs" }
            @if let Some(p) = &parent { " / " a href=(url::catalog(p)) { (p) } }
            " / " span aria-current="page" { (view.name) }
        }
        h1 { (view.name) }
        @if let Some(d) = &view.description { p.description { (d) } }
        (layout::metadata(&view.metadata))
        p { a href=(format!("/api/v1/catalogs/{}", url::segment(&view.name))) { "Raw JSON" } }
        h2 { (layout::plural(view.total_entries, "entry", "entries")) }
        div.scroll {
            table.entries {
                thead { tr { th { "Name" } th { "Kind" } th { "Driver" } th { "Description" } th { "Status" } } }
                tbody {
                    @for e in shown {
                        tr {
                            td {
                                @if e.kind == "catalog" {
                                    a href=(url::catalog(&e.name)) { (e.name) }
                                } @else {
                                    a href=(url::source(&e.name)) { (e.name) }
                                }
                            }
                            td { (e.kind) }
                            td { (e.driver) }
                            td { (e.description) }
                            td {
                                (badge(e.status_kind.label(), &redact_text(&e.status)))
                            }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(format!("{here}?page={}", page - 1)) { "← Previous" } }
                span { "Page " (page) " of " (pages) }
                @if page < pages { a rel="next" href=(format!("{here}?page={}", page + 1)) { "Next →" } }
            }
        }
    };
    layout::page(&viewer, &view.name, "", body).into_response()
}
