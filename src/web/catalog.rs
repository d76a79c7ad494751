//! `/catalogs/{name}`: one catalog (root or nested), its description, metadata and entries.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::html;

use super::layout::{self, badge};
use super::{url, Viewer};
use crate::api::AppState;
use crate::catalog::redact::redact_text;

pub async fn page(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(name): Path<String>,
) -> Response {
    let view = match st.catalog(&viewer.caller, &name) {
        Ok(v) => v,
        Err(e) => return super::error_page(&viewer, &e),
    };
    let parent = view.name.rsplit_once('.').map(|(p, _)| p.to_string());
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
        h2 { (view.entries.len()) " entries" }
        div.scroll {
            table.entries {
                thead { tr { th { "Name" } th { "Kind" } th { "Driver" } th { "Description" } th { "Status" } } }
                tbody {
                    @for e in &view.entries {
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
    };
    layout::page(&viewer, &view.name, "", body).into_response()
}
