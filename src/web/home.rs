//! `/`: one search box, results as cards, facet filters with counts, pages, and the catalog
//! tree. A plain GET form: it works without JavaScript (which only submits filters on change).

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::layout::{self, badge};
use super::{url, Viewer};
use crate::api::AppState;
use crate::service::browse::{Card, CatalogView, Found};
use crate::service::search::{page_token, SearchRequest};

/// Results per page.
pub const PAGE: usize = 20;
/// Entries shown per catalog in the tree (the catalog page lists them all).
const TREE_ENTRIES: usize = 50;

/// What the search form holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Form {
    pub q: String,
    pub driver: Option<String>,
    pub catalog: Option<String>,
    pub tags: Vec<String>,
    pub columns: Vec<String>,
    /// 1-based.
    pub page: usize,
}

impl Form {
    pub fn parse(raw: Option<&str>) -> Form {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
        let mut f = Form {
            page: 1,
            ..Form::default()
        };
        for (k, v) in pairs {
            let v = v.trim().to_string();
            match k.as_str() {
                "q" => f.q = v,
                "driver" if !v.is_empty() => f.driver = Some(v),
                "catalog" if !v.is_empty() => f.catalog = Some(v),
                "tag" if !v.is_empty() && !f.tags.contains(&v) => f.tags.push(v),
                "column" if !v.is_empty() && !f.columns.contains(&v) => f.columns.push(v),
                "page" => f.page = v.parse().unwrap_or(1).clamp(1, 100_000),
                _ => {}
            }
        }
        f
    }

    /// The query string of this form at `page` (page 1 is left out).
    pub fn href(&self, page: usize) -> String {
        let mut pairs: Vec<(String, String)> = vec![];
        if !self.q.is_empty() {
            pairs.push(("q".into(), self.q.clone()));
        }
        if let Some(d) = &self.driver {
            pairs.push(("driver".into(), d.clone()));
        }
        if let Some(c) = &self.catalog {
            pairs.push(("catalog".into(), c.clone()));
        }
        pairs.extend(self.tags.iter().map(|t| ("tag".to_string(), t.clone())));
        pairs.extend(
            self.columns
                .iter()
                .map(|c| ("column".to_string(), c.clone())),
        );
        if page > 1 {
            pairs.push(("page".into(), page.to_string()));
        }
        format!("/{}", url::query(&pairs))
    }

    fn request(&self) -> SearchRequest {
        SearchRequest {
            text: self.q.clone(),
            driver: self.driver.clone(),
            catalog: self.catalog.clone(),
            tags: self.tags.clone(),
            columns: self.columns.clone(),
            page_size: Some(PAGE),
            page_token: (self.page > 1).then(|| page_token((self.page - 1) * PAGE)),
        }
    }

    fn filtered(&self) -> bool {
        self.driver.is_some()
            || self.catalog.is_some()
            || !self.tags.is_empty()
            || !self.columns.is_empty()
    }
}

pub async fn page(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let form = Form::parse(raw.as_deref());
    let found = match st.find(&viewer.caller, &form.request()).await {
        Ok(f) => f,
        Err(e) => return super::error_page(&viewer, &e),
    };
    let tree = st.catalog_tree(&viewer.caller, TREE_ENTRIES);
    let title = if form.q.is_empty() {
        "Datasets".to_string()
    } else {
        format!("{} — search", form.q)
    };
    layout::page(&viewer, &title, "home", body(&form, &found, &tree)).into_response()
}

fn body(form: &Form, found: &Found, tree: &[CatalogView]) -> Markup {
    html! {
        form #search.search action="/" method="get" role="search" data-autosubmit {
            div.searchbar {
                label for="q" { "Search names, descriptions, tags and column names" }
                div.searchrow {
                    input #q type="search" name="q" value=(form.q) placeholder="e.g. fare, transport, climate" autocomplete="off" autofocus;
                    button type="submit" { "Search" }
                }
            }
            @for c in &form.columns {
                input type="hidden" name="column" value=(c);
            }
            div.columns {
                aside.facets aria-label="Filters" {
                    h2 { "Filters" }
                    (facet_radio("Driver", "driver", form.driver.as_deref(), found.facets.get("driver")))
                    (facet_radio("Catalog", "catalog", form.catalog.as_deref(), found.facets.get("catalog")))
                    (facet_tags(&form.tags, found.facets.get("tags")))
                    button.apply type="submit" { "Apply filters" }
                    @if form.filtered() {
                        p { a href=(Form { q: form.q.clone(), page: 1, ..Form::default() }.href(1)) { "Clear filters" } }
                    }
                }
                section.results aria-labelledby="results-title" {
                    h2 #results-title { (results_title(form, found)) }
                    @if found.cards.is_empty() {
                        p.empty { "Nothing matches. Try fewer words, or clear the filters." }
                    }
                    @for card in &found.cards {
                        (card_markup(card))
                    }
                    (pager(form, found))
                }
                aside.tree aria-label="Catalogs" {
                    h2 { "Catalogs" }
                    (tree_markup(tree))
                }
            }
        }
    }
}

fn results_title(form: &Form, found: &Found) -> String {
    let n = found.total;
    let noun = if n == 1 { "dataset" } else { "datasets" };
    if n == 0 {
        return "No datasets".into();
    }
    let first = (form.page - 1) * PAGE + 1;
    let last = first + found.cards.len().saturating_sub(1);
    if n <= PAGE && form.page == 1 {
        format!("{n} {noun}")
    } else {
        format!("{first}–{last} of {n} {noun}")
    }
}

fn facet_radio(
    legend: &str,
    name: &str,
    selected: Option<&str>,
    counts: Option<&BTreeMap<String, usize>>,
) -> Markup {
    let mut values: Vec<(String, Option<usize>)> = counts
        .map(|c| c.iter().map(|(k, v)| (k.clone(), Some(*v))).collect())
        .unwrap_or_default();
    if let Some(s) = selected {
        if !values.iter().any(|(k, _)| k == s) {
            values.push((s.to_string(), None));
        }
    }
    html! {
        fieldset.facet data-facet=(name) {
            legend { (legend) }
            label {
                input type="radio" name=(name) value="" checked[selected.is_none()];
                " any"
            }
            @for (value, n) in &values {
                label {
                    input type="radio" name=(name) value=(value) checked[selected == Some(value.as_str())];
                    " " (value)
                    @if let Some(n) = n { " " span.count { (n) } }
                }
            }
        }
    }
}

fn facet_tags(selected: &[String], counts: Option<&BTreeMap<String, usize>>) -> Markup {
    let mut values: Vec<(String, Option<usize>)> = counts
        .map(|c| c.iter().map(|(k, v)| (k.clone(), Some(*v))).collect())
        .unwrap_or_default();
    for s in selected {
        if !values.iter().any(|(k, _)| k == s) {
            values.push((s.clone(), None));
        }
    }
    html! {
        fieldset.facet data-facet="tag" {
            legend { "Tags" }
            @if values.is_empty() { p.muted { "No tags" } }
            @for (value, n) in &values {
                label {
                    input type="checkbox" name="tag" value=(value) checked[selected.contains(value)];
                    " " (value)
                    @if let Some(n) = n { " " span.count { (n) } }
                }
            }
        }
    }
}

/// Text with `<mark>` around matched words, as the search index returns it: everything is
/// escaped except the marks, which become elements.
pub fn highlighted(text: &str) -> Markup {
    let mut parts: Vec<(bool, &str)> = vec![];
    let mut rest = text;
    while let Some(start) = rest.find("<mark>") {
        let (before, after) = rest.split_at(start);
        let after = &after["<mark>".len()..];
        let (marked, tail) = match after.find("</mark>") {
            Some(end) => (&after[..end], &after[end + "</mark>".len()..]),
            None => (after, ""),
        };
        parts.push((false, before));
        parts.push((true, marked));
        rest = tail;
    }
    parts.push((false, rest));
    html! {
        @for (marked, part) in parts {
            @if marked { mark { (part) } } @else { (part) }
        }
    }
}

fn card_markup(card: &Card) -> Markup {
    html! {
        article.card data-source=(card.name) {
            h3 { a href=(url::source(&card.name)) { (card.name) } }
            p.card-meta {
                "in " a href=(url::catalog(&card.catalog)) { (card.catalog) }
                " · " span.driver { (card.driver) } " "
                (badge(card.status_kind.label(), &card.status))
            }
            p.desc {
                @if let Some(h) = &card.highlight {
                    (highlighted(h.lines().next().unwrap_or("")))
                } @else {
                    (card.summary)
                }
            }
            @if let Some(f) = card.figures {
                p.figures {
                    @if let Some(rows) = f.rows { span { (layout::count(rows)) " rows" } }
                    @if let Some(b) = f.bytes { span { (layout::bytes(b)) } }
                    @if f.partitions > 0 { span { (layout::plural(f.partitions, "partition", "partitions")) } }
                }
            }
        }
    }
}

fn pager(form: &Form, found: &Found) -> Markup {
    let pages = found.total.div_ceil(PAGE);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if form.page > 1 {
                    a rel="prev" href=(form.href(form.page - 1)) { "← Previous" }
                }
                span { "Page " (form.page) " of " (pages) }
                @if found.next_page_token.is_some() {
                    a rel="next" href=(form.href(form.page + 1)) { "Next →" }
                }
            }
        }
    }
}

fn tree_markup(tree: &[CatalogView]) -> Markup {
    html! {
        @if tree.is_empty() { p.muted { "No catalogs" } }
        ul.tree-roots {
            @for c in tree {
                li {
                    details open[tree.len() <= 8] {
                        summary {
                            a href=(url::catalog(&c.name)) { (c.name) }
                            " " span.count { (c.total_entries) }
                        }
                        ul {
                            @for e in &c.entries {
                                li {
                                    @if e.kind == "catalog" {
                                        a.nested href=(url::catalog(&e.name)) { (leaf(&e.name)) "/" }
                                    } @else {
                                        a href=(url::source(&e.name)) { (leaf(&e.name)) }
                                    }
                                }
                            }
                            @if c.total_entries > c.entries.len() {
                                li { a href=(url::catalog(&c.name)) { "all " (c.total_entries) " entries →" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn leaf(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, l)| l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_round_trips_through_its_links() {
        let f = Form::parse(Some(
            "q=fare&tag=transport&tag=sample&driver=parquet&page=2&x=1",
        ));
        assert_eq!(f.q, "fare");
        assert_eq!(f.tags, vec!["transport", "sample"]);
        assert_eq!(f.page, 2);
        assert_eq!(Form::parse(Some(&f.href(2)[2..])), f);
        assert_eq!(Form::parse(Some("page=-1")).page, 1);
        assert_eq!(Form::parse(None).href(1), "/");
    }

    #[test]
    fn highlights_escape_everything_but_their_marks() {
        let h = highlighted("a <mark>fare</mark> <script>x</script> <mark>b").into_string();
        assert_eq!(
            h,
            "a <mark>fare</mark> &lt;script&gt;x&lt;/script&gt; <mark>b</mark>"
        );
        assert_eq!(
            highlighted("plain & simple").into_string(),
            "plain &amp; simple"
        );
    }
}
