//! Browsing, for front ends that show catalogs to people (the web page): search results with
//! what discovery knows of each source (rows, size), the catalog tree, one catalog's entries, a
//! source's description, and a preview of its first rows through the data plane's read path
//! (so admission, the memory budget and timeouts apply). Every function takes the caller and
//! shows only what its scopes allow, with the same checks as the API.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;
use inlet_driver::ReadRequest;
use serde_json::Value as J;

use super::access::{authorize, not_found, Caller};
use super::search::{Facets, SearchRequest};
use super::{describe, Core, ServiceError};
pub use crate::catalog::model::StatusKind;
use crate::catalog::view::EntrySummary;
use crate::catalog::{CatalogNode, Library};

/// What discovery found of a source's size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
    pub partitions: usize,
}

/// One search result as a card.
#[derive(Debug, Clone)]
pub struct Card {
    pub name: String,
    pub catalog: String,
    pub driver: String,
    /// The first line of the description.
    pub summary: String,
    /// `ok`, `unsupported driver: x`, `error: ...`.
    pub status: String,
    pub status_kind: StatusKind,
    /// Known once background discovery reached the source.
    pub figures: Option<Figures>,
    /// The description with the matched words in `<mark>...</mark>` (the catalog's text, not
    /// HTML-escaped), when the search text matched it.
    pub highlight: Option<String>,
}

/// A page of search results.
#[derive(Debug, Clone)]
pub struct Found {
    pub cards: Vec<Card>,
    pub total: usize,
    pub facets: Facets,
    pub next_page_token: Option<String>,
    pub revision: String,
}

/// A catalog with its entries, as the caller may see them.
#[derive(Debug, Clone)]
pub struct CatalogView {
    pub name: String,
    pub description: Option<String>,
    /// Secrets redacted.
    pub metadata: J,
    /// By name; for the tree, only the first ones (see [`Core::catalog_tree`]).
    pub entries: Vec<EntrySummary>,
    /// Entries the caller may see, shown or not.
    pub total_entries: usize,
}

/// A preview: the first rows of a read.
#[derive(Debug, Clone)]
pub struct Preview {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// The catalog part of a dotted source name.
pub fn catalog_of(source: &str) -> &str {
    source.rsplit_once('.').map_or("", |(c, _)| c)
}

/// The root catalogs the caller may see, by name.
pub fn visible_roots(lib: &Library, caller: &Caller) -> Vec<Arc<CatalogNode>> {
    let mut roots: Vec<Arc<CatalogNode>> = lib
        .roots()
        .iter()
        .filter(|n| caller.may_see(&n.name))
        .cloned()
        .collect();
    roots.sort_by(|a, b| a.name.cmp(&b.name));
    roots
}

/// The entries of `node` the caller may see, by name (nested catalogs are not opened).
pub fn visible_entries(
    lib: &Library,
    node: &Arc<CatalogNode>,
    caller: &Caller,
) -> Vec<EntrySummary> {
    let mut entries: Vec<EntrySummary> = describe::entries(lib, node, false)
        .into_iter()
        .filter(|e| caller.may_see(&e.name))
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries
}

fn catalog_view(lib: &Library, node: &Arc<CatalogNode>, caller: &Caller) -> CatalogView {
    let entries = visible_entries(lib, node, caller);
    CatalogView {
        name: node.name.clone(),
        description: node.file.description.clone(),
        metadata: crate::catalog::redact::redact(&node.file.metadata),
        total_entries: entries.len(),
        entries,
    }
}

/// The first `limit` visible entries of `node` in catalog order, and how many are visible: a
/// catalog of 100,000 entries costs a count, not 100,000 summaries.
fn catalog_head(node: &Arc<CatalogNode>, caller: &Caller, limit: usize) -> CatalogView {
    let mut entries = vec![];
    let mut total = 0;
    for entry in &node.file.entries {
        if !caller.may_see(&format!("{}.{}", node.name, entry.name)) {
            continue;
        }
        total += 1;
        if entries.len() < limit {
            entries.push(crate::catalog::view::summary(node, entry));
        }
    }
    CatalogView {
        name: node.name.clone(),
        description: node.file.description.clone(),
        metadata: crate::catalog::redact::redact(&node.file.metadata),
        entries,
        total_entries: total,
    }
}

impl Core {
    /// What discovery found of `source`'s size, if it got there.
    pub fn figures(&self, source: &str) -> Option<Figures> {
        self.known_figures
            .lock()
            .ok()
            .and_then(|f| f.get(source).copied())
    }

    /// A search, with each result's catalog, status kind and known size.
    pub async fn find(&self, caller: &Caller, req: &SearchRequest) -> Result<Found, ServiceError> {
        let result = self.search(caller, req).await?;
        let snap = self.snapshot_for(caller);
        let cards = result
            .hits
            .into_iter()
            .map(|h| {
                let status_kind = match snap.service.entry(&h.name) {
                    Ok((node, idx)) => StatusKind::of(&node.file.entries[idx].status),
                    Err(_) => StatusKind::Error,
                };
                Card {
                    catalog: catalog_of(&h.name).to_string(),
                    figures: self.figures(&h.name),
                    name: h.name,
                    driver: h.driver,
                    summary: h.summary,
                    status: crate::catalog::redact::redact_text(&h.status).into_owned(),
                    status_kind,
                    highlight: h.highlight,
                }
            })
            .collect();
        Ok(Found {
            cards,
            total: result.total,
            facets: result.facets,
            next_page_token: result.next_page_token,
            revision: result.revision,
        })
    }

    /// Every root catalog the caller may see, with its first `limit` visible entries in
    /// catalog order (nested catalogs are entries of kind `catalog`, browsed on their own).
    pub fn catalog_tree(&self, caller: &Caller, limit: usize) -> Vec<CatalogView> {
        let snap = self.snapshot_for(caller);
        visible_roots(&snap.service.library, caller)
            .iter()
            .map(|n| catalog_head(n, caller, limit))
            .collect()
    }

    /// One catalog (root or nested) and its visible entries; outside the caller's scopes it
    /// does not exist.
    pub fn catalog(&self, caller: &Caller, name: &str) -> Result<CatalogView, ServiceError> {
        if matches!(caller.grant, super::access::Grant::Nothing) {
            authorize(caller, name)?;
        }
        if !caller.may_see(name) {
            return Err(not_found(name));
        }
        let snap = self.snapshot_for(caller);
        let lib = &snap.service.library;
        let node = describe::catalog(lib, name).map_err(|e| caller.conceal(e))?;
        Ok(catalog_view(lib, &node, caller))
    }

    /// A source's description (as `GET /api/v1/sources/{source}` answers it: redacted, with
    /// `discovery` or `discovery_error`), for the caller.
    pub async fn describe_source(
        &self,
        caller: &Caller,
        name: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<J, ServiceError> {
        authorize(caller, name)?;
        let snap = self.snapshot_for(caller);
        let mut value = describe::source(&snap, name, params)
            .await
            .map_err(|e| caller.conceal(e))?;
        let kind = snap
            .service
            .entry(name)
            .map(|(node, idx)| StatusKind::of(&node.file.entries[idx].status))
            .unwrap_or(StatusKind::Error);
        if let Some(map) = value.as_object_mut() {
            map.insert("status_kind".into(), J::String(kind.label().into()));
        }
        Ok(value)
    }

    /// The first `limit` rows of `source` with `params`, read like any data stream (a stream
    /// slot, the memory budget, the first-byte timeout, usage counted).
    pub async fn preview(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        limit: usize,
    ) -> Result<Preview, ServiceError> {
        let request = ReadRequest {
            partitions: None,
            projection: None,
            limit: Some(limit),
            batch_size: self.config.batch_size.max(1),
        };
        let mut read = self.read(caller, source, params, request).await?;
        let schema = read.schema.clone();
        let mut batches = vec![];
        let mut rows = 0;
        while rows < limit {
            match read.next().await {
                Some(Ok(b)) => {
                    rows += b.num_rows();
                    batches.push(b);
                }
                Some(Err(e)) => return Err(e.into()),
                None => break,
            }
        }
        Ok(Preview { schema, batches })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogs_of_source_names() {
        assert_eq!(catalog_of("a.b.c"), "a.b");
        assert_eq!(catalog_of("x"), "");
    }
}
