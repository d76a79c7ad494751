//! `/sources/{name}`: description and metadata, status, a form for the declared parameters
//! (a GET form: the page re-renders with the values), the schema with statistics, size and
//! partitions, the first rows (read through the data plane), and "load it" snippets.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use serde_json::Value as J;

use super::layout::{self, badge, json_text};
use super::snippets::{self, Target};
use super::{cells, url, Viewer, WebConfig};
use crate::api::AppState;
use crate::catalog::params::FieldError;
use crate::catalog::redact::redact_text;
use crate::encode::Format;
use crate::service::browse::Preview;
use crate::service::{ErrorKind, ServiceError};

/// Rows shown in the preview.
pub const PREVIEW_ROWS: usize = 50;

/// `param.<name>=value` pairs of the query (empty values mean "the default").
pub fn params_of(raw: Option<&str>) -> BTreeMap<String, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    pairs
        .into_iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("param.")?.to_string();
            let v = v.trim().to_string();
            (!v.is_empty() && !name.is_empty()).then_some((name, v))
        })
        .collect()
}

pub async fn page(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Extension(web): Extension<std::sync::Arc<WebConfig>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let chosen = params_of(raw.as_deref());
    let values: BTreeMap<String, J> = chosen
        .iter()
        .map(|(k, v)| (k.clone(), J::String(v.clone())))
        .collect();
    let caller = &viewer.caller;
    let (desc, field_errors, code) = match st.describe_source(caller, &name, &values).await {
        Ok(d) => (d, vec![], StatusCode::OK),
        Err(e) if is_bad_input(&e) && !values.is_empty() => {
            // Show the form again with what was wrong, the rest as the defaults make it.
            match st.describe_source(caller, &name, &BTreeMap::new()).await {
                Ok(d) => (d, bad_fields(&e), StatusCode::UNPROCESSABLE_ENTITY),
                Err(e) => return super::error_page(&viewer, &e),
            }
        }
        Err(e) => return super::error_page(&viewer, &e),
    };
    let readable = desc.get("status_kind").and_then(J::as_str) == Some("ok")
        && desc.get("discovery").is_some()
        && field_errors.is_empty();
    let preview = if readable {
        Some(st.preview(caller, &name, &values, PREVIEW_ROWS).await)
    } else {
        None
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let base = crate::service::urls::public_base(&st.config, host);
    // CSV holds no nested columns: snippets and links offer it only when the schema has none.
    let csv = match &preview {
        Some(Ok(p)) => Format::Csv.unsupported_columns(&p.schema).is_none(),
        _ => true,
    };
    let target = Target {
        base: &base,
        source: &name,
        params: &chosen,
        auth: viewer.auth_on,
        flight: web.flight.as_deref(),
        csv,
    };
    let body = body(
        &name,
        &desc,
        &chosen,
        &field_errors,
        preview.as_ref(),
        &target,
    );
    (code, layout::page(&viewer, &name, "", body)).into_response()
}

fn is_bad_input(e: &ServiceError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidParameters | ErrorKind::InvalidRequest
    )
}

fn bad_fields(e: &ServiceError) -> Vec<FieldError> {
    let errors = e.field_errors();
    if errors.is_empty() {
        vec![FieldError {
            name: String::new(),
            message: redact_text(&e.to_string()).into_owned(),
        }]
    } else {
        errors
    }
}

fn str_at<'a>(v: &'a J, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn u64_at(v: &J, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

fn body(
    name: &str,
    desc: &J,
    chosen: &BTreeMap<String, String>,
    field_errors: &[FieldError],
    preview: Option<&Result<Preview, ServiceError>>,
    target: &Target,
) -> Markup {
    let catalog = str_at(desc, &["catalog"]).unwrap_or("");
    let status = str_at(desc, &["status"]).unwrap_or("");
    let status_kind = str_at(desc, &["status_kind"]).unwrap_or("error");
    let discovery = desc.get("discovery");
    let api_query = url::query(
        &chosen
            .iter()
            .map(|(k, v)| (format!("param.{k}"), v.clone()))
            .collect::<Vec<_>>(),
    );
    let api = format!("/api/v1/sources/{}", url::segment(name));
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href="/" { "Catalogs" } " / "
            a href=(url::catalog(catalog)) { (catalog) } " / "
            span aria-current="page" { (name.rsplit_once('.').map_or(name, |(_, l)| l)) }
        }
        div.title {
            h1 { (name) }
            (badge(status_kind, status))
        }
        @if status_kind != "ok" {
            div.error-box role="alert" {
                p { strong { (status) } }
                p { "Declared at " code { (str_at(desc, &["location"]).unwrap_or("")) } }
            }
        }
        @if let Some(d) = str_at(desc, &["description"]) { p.description { (d) } }
        (facts(desc, catalog))
        (layout::metadata(desc.get("metadata").unwrap_or(&J::Null)))
        @if let Some(e) = str_at(desc, &["args_error"]) {
            p.warn-box { (e) }
        }
        (params_form(name, desc, chosen, field_errors))
        @if let Some(e) = str_at(desc, &["discovery_error"]) {
            div.error-box role="alert" {
                p { strong { "The data cannot be read: " } (e) }
                p { "Declared at " code { (str_at(desc, &["location"]).unwrap_or("")) } }
            }
        }
        @if let Some(d) = discovery {
            (schema_table(d))
        }
        (snippets_section(target))
        @if let Some(p) = preview {
            (preview_table(p))
        }
        @if let Some(d) = discovery {
            (partitions(d))
        }
        section.links {
            h2 { "Links" }
            ul {
                li { a href=(format!("{api}{api_query}")) { "Raw JSON" } }
                li { a href=(format!("{api}/schema{api_query}")) { "Schema (JSON)" } }
                @if target.csv {
                    li { a href=(target.data_url(&[("format", "csv"), ("limit", "50")]).trim_start_matches(target.base).to_string()) { "First 50 rows as CSV" } }
                }
                li { a href="/docs#tag/sources" { "API docs" } }
            }
        }
    }
}

fn facts(desc: &J, catalog: &str) -> Markup {
    let d = desc.get("discovery");
    let rows = d.and_then(|d| u64_at(d, &["total_rows"]));
    let bytes = d.and_then(|d| u64_at(d, &["total_bytes"]));
    let partitions = d
        .and_then(|d| d.get("partitions"))
        .and_then(J::as_array)
        .map(Vec::len);
    let files = d.and_then(|d| d.get("files")).and_then(J::as_array);
    let modified = files.and_then(|f| {
        f.iter()
            .filter_map(|f| f.get("last_modified").and_then(J::as_str))
            .max()
    });
    let written = desc
        .get("driver")
        .and_then(|d| d.get("written"))
        .map(json_text)
        .unwrap_or_default();
    let resolved = str_at(desc, &["driver", "resolved"]);
    html! {
        dl.facts {
            div { dt { "Catalog" } dd { a href=(url::catalog(catalog)) { (catalog) } } }
            div { dt { "Driver" } dd {
                (written)
                @if let Some(r) = resolved { @if r != written { " (" (r) ")" } }
            } }
            div { dt { "Rows" } dd #rows { (rows.map_or("unknown".into(), layout::count)) } }
            div { dt { "Size" } dd { (bytes.map_or("unknown".into(), layout::bytes)) } }
            @if let Some(p) = partitions { div { dt { "Partitions" } dd { (p) } } }
            @if let Some(f) = files { div { dt { "Files" } dd { (f.len()) } } }
            @if let Some(m) = modified { div { dt { "Last modified" } dd { (m) } } }
        }
    }
}

fn params_form(
    name: &str,
    desc: &J,
    chosen: &BTreeMap<String, String>,
    errors: &[FieldError],
) -> Markup {
    let params: &[J] = desc
        .get("parameters")
        .and_then(J::as_array)
        .map_or(&[], Vec::as_slice);
    html! {
        @if !params.is_empty() {
            section.params {
                h2 { "Parameters" }
                @if !errors.is_empty() {
                    div.error-box role="alert" {
                        p { strong { "These values cannot be used:" } }
                        ul { @for e in errors { li { @if !e.name.is_empty() { code { (e.name) } ": " } (e.message) } } }
                    }
                }
                form #params method="get" action=(url::source(name)) {
                    @for p in params { (param_input(p, chosen)) }
                    div.actions {
                        button type="submit" { "Apply" }
                        " " a href=(url::source(name)) { "Defaults" }
                    }
                }
            }
        }
    }
}

fn param_input(p: &J, chosen: &BTreeMap<String, String>) -> Markup {
    let name = str_at(p, &["name"]).unwrap_or("");
    let ptype = str_at(p, &["type"]).unwrap_or("str");
    let id = format!("param-{name}");
    let field = format!("param.{name}");
    let default = p.get("default").map(|d| match d {
        J::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(","),
        other => json_text(other),
    });
    let current = chosen.get(name).cloned().or_else(|| default.clone());
    let required = default.is_none();
    let num = |key: &str| p.get(key).map(json_text);
    let date = |v: Option<String>| v.map(|v| v.chars().take(10).collect::<String>());
    let allowed = p.get("allowed").and_then(J::as_array);
    html! {
        div.field {
            label for=(id) {
                code { (name) } " " span.muted { (ptype) }
                @if required { " " span.req { "(required)" } }
            }
            @if let Some(allowed) = allowed {
                select id=(id) name=(field) required[required] {
                    @if required { option value="" { "—" } }
                    @for a in allowed {
                        @let v = json_text(a);
                        option value=(v) selected[current.as_deref() == Some(v.as_str())] { (v) }
                    }
                }
            } @else {
                @match ptype {
                    "int" => {
                        input id=(id) type="number" step="1" name=(field) value=[current] min=[num("min")] max=[num("max")] required[required];
                    },
                    "float" => {
                        input id=(id) type="number" step="any" name=(field) value=[current] min=[num("min")] max=[num("max")] required[required];
                    },
                    "bool" => {
                        select id=(id) name=(field) {
                            @for v in ["true", "false"] {
                                option value=(v) selected[current.as_deref().map(str::to_ascii_lowercase).as_deref() == Some(v)] { (v) }
                            }
                        }
                    },
                    "datetime" => {
                        input id=(id) type="date" name=(field) value=[date(current)] min=[date(num("min"))] max=[date(num("max"))] required[required];
                    },
                    _ => {
                        input id=(id) type="text" name=(field) value=[current] required[required];
                    }
                }
            }
            @if let Some(d) = str_at(p, &["description"]) { small.muted { (d) } }
        }
    }
}

fn schema_table(d: &J) -> Markup {
    let fields: &[J] = d
        .get("schema")
        .and_then(J::as_array)
        .map_or(&[], Vec::as_slice);
    let stats: BTreeMap<&str, &J> = d
        .get("statistics")
        .and_then(J::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|s| Some((s.get("column")?.as_str()?, s)))
                .collect()
        })
        .unwrap_or_default();
    let has_stats = !stats.is_empty();
    html! {
        section.schema {
            h2 { "Schema" }
            div.scroll {
                table #schema {
                    thead { tr {
                        th { "Column" } th { "Arrow type" } th { "Nullable" }
                        @if has_stats { th { "Nulls" } th { "Min" } th { "Max" } }
                    } }
                    tbody {
                        @for f in fields {
                            @let col = str_at(f, &["name"]).unwrap_or("");
                            @let s = stats.get(col);
                            tr {
                                td { code { (col) } }
                                td { (str_at(f, &["type"]).unwrap_or("")) }
                                td { (if f.get("nullable").and_then(J::as_bool).unwrap_or(true) { "yes" } else { "no" }) }
                                @if has_stats {
                                    td { (s.and_then(|s| u64_at(s, &["null_count"])).map(layout::count).unwrap_or_default()) }
                                    td { (s.and_then(|s| str_at(s, &["min"])).unwrap_or("")) }
                                    td { (s.and_then(|s| str_at(s, &["max"])).unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn preview_table(p: &Result<Preview, ServiceError>) -> Markup {
    let rows = p
        .as_ref()
        .map_err(|e| redact_text(&e.to_string()).into_owned())
        .and_then(|p| cells::rows(&p.batches, PREVIEW_ROWS).map(|r| (p, r)));
    html! {
        section.preview {
            h2 { "First rows" }
            @match rows {
                Ok((pv, rows)) => {
                    p.muted { (rows.len()) " rows, read through the data API with " code { "limit=" (PREVIEW_ROWS) } }
                    div.scroll {
                        table #preview {
                            thead { tr { @for f in pv.schema.fields() { th { (f.name()) } } } }
                            tbody {
                                @for row in &rows {
                                    tr { @for cell in row {
                                        @match cell {
                                            Some(v) => { td { (v) } },
                                            None => { td.null { "null" } },
                                        }
                                    } }
                                }
                            }
                        }
                    }
                },
                Err(e) => {
                    div.error-box role="alert" { p { strong { "The preview failed: " } (e) } }
                }
            }
        }
    }
}

fn snippets_section(target: &Target) -> Markup {
    let all = snippets::snippets(target);
    html! {
        section.snippets {
            h2 { "Load it" }
            @if target.auth {
                p.muted { "Snippets read your token from the environment variable " code { "INLET_TOKEN" } "." }
            }
            // With script, the figures become tabs (one shown at a time); without, all show.
            div.tabs.js-only role="tablist" aria-label="Languages" {
                @for (i, s) in all.iter().enumerate() {
                    button type="button" role="tab" id=(format!("tab-{}", s.id)) data-tab=(format!("panel-{}", s.id))
                        aria-controls=(format!("panel-{}", s.id)) aria-selected=(if i == 0 { "true" } else { "false" })
                        tabindex=(if i == 0 { "0" } else { "-1" }) { (s.label) }
                }
            }
            @for s in &all {
                figure.snippet id=(format!("panel-{}", s.id)) role="tabpanel" aria-labelledby=(format!("tab-{}", s.id)) {
                    figcaption {
                        span { (s.label) }
                        button.copy.js-only type="button" data-copy=(format!("snippet-{}", s.id)) aria-label=(format!("Copy the {} snippet", s.label)) { "Copy" }
                    }
                    pre { code id=(format!("snippet-{}", s.id)) { (s.code) } }
                }
            }
        }
    }
}

fn partitions(d: &J) -> Markup {
    let parts: &[J] = d
        .get("partitions")
        .and_then(J::as_array)
        .map_or(&[], Vec::as_slice);
    html! {
        @if !parts.is_empty() {
            section.partitions {
                details {
                    summary { h2 { (layout::plural(parts.len(), "partition", "partitions")) } }
                    div.scroll {
                        table {
                            thead { tr { th { "Id" } th { "Label" } th { "Rows (est.)" } th { "Bytes (est.)" } } }
                            tbody {
                                @for p in parts.iter().take(1000) {
                                    tr {
                                        td { (u64_at(p, &["id"]).unwrap_or_default()) }
                                        td { (str_at(p, &["label"]).unwrap_or("")) }
                                        td { (u64_at(p, &["estimated_rows"]).map(layout::count).unwrap_or_default()) }
                                        td { (u64_at(p, &["estimated_bytes"]).map(layout::bytes).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_come_from_param_pairs_and_empty_ones_mean_the_default() {
        let p = params_of(Some(
            "param.month=2&param.region=&q=x&param.=1&param.d=2024-01-05",
        ));
        assert_eq!(p.len(), 2);
        assert_eq!(p["month"], "2");
        assert_eq!(p["d"], "2024-01-05");
    }

    #[test]
    fn inputs_are_typed() {
        let none = BTreeMap::new();
        let int =
            serde_json::json!({"name": "month", "type": "int", "default": 1, "min": 1, "max": 3});
        let html = param_input(&int, &none).into_string();
        assert!(
            html.contains(r#"type="number""#)
                && html.contains(r#"min="1""#)
                && html.contains(r#"max="3""#),
            "{html}"
        );
        let allowed = serde_json::json!({"name": "region", "type": "str", "default": "us", "allowed": ["eu", "us"]});
        let html =
            param_input(&allowed, &BTreeMap::from([("region".into(), "eu".into())])).into_string();
        assert!(
            html.contains("<select") && html.contains(r#"<option value="eu" selected>"#),
            "{html}"
        );
        let date = serde_json::json!({"name": "start", "type": "datetime", "default": "2024-01-01T00:00:00"});
        let html = param_input(&date, &none).into_string();
        assert!(
            html.contains(r#"type="date""#) && html.contains(r#"value="2024-01-01""#),
            "{html}"
        );
        let evil = serde_json::json!({"name": "x\"><script>", "type": "str", "description": "<img src=x onerror=alert(1)>"});
        let html = param_input(&evil, &none).into_string();
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
    }
}
