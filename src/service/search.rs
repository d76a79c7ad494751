//! Search over sources: every word must appear in the name, description or tags. One copy for
//! HTTP (`/api/v1/search`), Flight (`ListFlights` criteria) and the web page.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as J;

use crate::catalog::view::{self, EntrySummary};
use crate::catalog::{CatalogNode, Library};

pub struct Hit {
    pub entry: EntrySummary,
    /// Lower-cased tags from the entry's `metadata.tags`.
    pub tags: Vec<String>,
}

/// Counts of hits by `driver`, `catalog` and `tags`.
pub type Facets = BTreeMap<String, BTreeMap<String, usize>>;

/// Sources whose text contains every word of `text` (case-insensitive; empty text: all of
/// them), sorted by name. Nested catalogs that cannot be opened are skipped.
pub fn sources(lib: &Library, text: &str) -> Vec<Hit> {
    let text = text.to_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut hits = vec![];
    let mut stack: Vec<Arc<CatalogNode>> = lib.roots().to_vec();
    while let Some(node) = stack.pop() {
        for (idx, e) in node.file.entries.iter().enumerate() {
            if e.is_catalog() {
                if let Ok(child) = lib.child(&node, idx) {
                    stack.push(child);
                }
                continue;
            }
            let tags: Vec<String> =
                e.metadata
                    .get("tags")
                    .and_then(J::as_array)
                    .map_or(vec![], |t| {
                        t.iter()
                            .filter_map(|v| v.as_str().map(str::to_lowercase))
                            .collect()
                    });
            let hay = format!(
                "{}.{} {} {}",
                node.name,
                e.name,
                e.description.as_deref().unwrap_or(""),
                tags.join(" ")
            )
            .to_lowercase();
            if words.iter().all(|w| hay.contains(w)) {
                hits.push(Hit {
                    entry: view::summary(&node, e),
                    tags,
                });
            }
        }
    }
    hits.sort_by(|a, b| a.entry.name.cmp(&b.entry.name));
    hits
}

pub fn facets(hits: &[Hit]) -> Facets {
    let mut facets = Facets::new();
    let mut count = |facet: &str, value: String| {
        *facets
            .entry(facet.to_string())
            .or_default()
            .entry(value)
            .or_default() += 1;
    };
    for h in hits {
        count("driver", h.entry.driver.clone());
        let catalog = h.entry.name.rsplit_once('.').map_or("", |(c, _)| c);
        count("catalog", catalog.to_string());
        for t in &h.tags {
            count("tags", t.clone());
        }
    }
    facets
}
