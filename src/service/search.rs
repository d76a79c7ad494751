//! Search over sources, once for HTTP (`/api/v1/search`), Flight (`ListFlights` criteria), the
//! CLI (`inlet search`) and the web page: the catalogs of a snapshot are indexed in memory
//! (names, descriptions, tags, and column names and types as discovery finds them; the columns
//! and usage are kept in SQL so that a restart or another replica starts from them), and a query
//! returns ranked matches with facet counts, limited to what the caller may see.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::Value as J;

use super::access::Caller;
use super::{Core, ServiceError, Snapshot};
use crate::catalog::{CatalogNode, Library};
use crate::search::{IndexDoc, SearchHit, SearchIndex, SearchQuery};
use crate::store::Store;

/// Counts of matches by `driver`, `catalog` and `tags`.
pub type Facets = BTreeMap<String, BTreeMap<String, usize>>;

/// Columns (name, Arrow type) known from discovery, by source name.
pub type KnownColumns = HashMap<String, Vec<(String, String)>>;

/// How long the recorded columns of an index nobody serves are kept.
pub const KEEP_REVISIONS_SECS: i64 = 3 * 3600;

pub const MAX_PAGE: usize = 1000;
/// Different words a search may have: each is one more full-text term to match and rank (a
/// query of 2,000 words took seconds).
pub const MAX_WORDS: usize = 32;
pub const DEFAULT_PAGE: usize = 100;

/// A search as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    pub driver: Option<String>,
    pub catalog: Option<String>,
    pub tags: Vec<String>,
    pub columns: Vec<String>,
    pub page_size: Option<usize>,
    pub page_token: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub hits: Vec<SearchHit>,
    pub total: usize,
    pub facets: Facets,
    pub next_page_token: Option<String>,
    pub revision: String,
}

fn tags_of(metadata: &J) -> Vec<String> {
    metadata
        .get("tags")
        .and_then(J::as_array)
        .map_or(vec![], |t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_lowercase))
                .collect()
        })
}

/// What the index holds of every source of `lib` (nested catalogs that cannot be opened are
/// skipped), with columns where discovery knows them.
pub fn index_docs(lib: &Library, known: &KnownColumns) -> Vec<IndexDoc> {
    let mut docs = vec![];
    let mut stack: Vec<Arc<CatalogNode>> = lib.roots().to_vec();
    while let Some(node) = stack.pop() {
        for (idx, e) in node.file.entries.iter().enumerate() {
            if e.is_catalog() {
                if let Ok(child) = lib.child(&node, idx) {
                    stack.push(child);
                }
                continue;
            }
            let name = format!("{}.{}", node.name, e.name);
            docs.push(IndexDoc {
                columns: known.get(&name).cloned(),
                catalog: node.name.clone(),
                driver: e.driver.clone(),
                summary: e.summary().to_string(),
                description: e.description.clone().unwrap_or_default(),
                status: e.status.to_string(),
                tags: tags_of(&e.metadata),
                name,
            });
        }
    }
    docs
}

/// The `page_token` of the page that starts at `offset` (for front ends that number pages).
pub fn page_token(offset: usize) -> String {
    B64.encode(format!("o{offset}"))
}

fn offset_of(token: Option<&str>) -> Result<usize, ServiceError> {
    let Some(t) = token else { return Ok(0) };
    B64.decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('o').and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            ServiceError::invalid(
                "page_token",
                "`page_token` is not one this server issued: start again without it",
            )
        })
}

/// Reads of the last this many days make a source popular.
const POPULARITY_DAYS: i64 = 30;
/// How often a server reads popularity again and marks its index in use.
const REFRESH_SECS: i64 = 5;

/// The search index of one snapshot (`key` is its index key).
pub struct LiveIndex {
    pub key: String,
    pub index: SearchIndex,
    /// When popularity was last read (unix seconds).
    refreshed_at: AtomicI64,
}

impl LiveIndex {
    /// Reads popularity again and marks the index in use, at most every [`REFRESH_SECS`].
    async fn refresh(&self, store: &Store) -> Result<(), ServiceError> {
        let now = crate::store::now();
        let last = self.refreshed_at.load(Ordering::Relaxed);
        if now - last < REFRESH_SECS
            || self
                .refreshed_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Ok(());
        }
        store
            .touch_revision(&self.key, self.index.len(), KEEP_REVISIONS_SECS)
            .await?;
        let reads = store.popularity(now / 86_400 - POPULARITY_DAYS).await?;
        self.index.set_popularity(&reads);
        Ok(())
    }
}

/// Builds the search index of `snap`: its sources, with the columns discovery knows (`known`,
/// else what the store recorded earlier, by this server or another), and their popularity.
pub async fn build_index(
    store: &Store,
    snap: &Arc<Snapshot>,
    known: KnownColumns,
) -> Result<Arc<LiveIndex>, ServiceError> {
    let started = std::time::Instant::now();
    let recorded: HashMap<String, Vec<(String, String)>> =
        store.columns(&snap.index_key).await?.into_iter().collect();
    let s = snap.clone();
    let index = tokio::task::spawn_blocking(move || {
        let mut docs = index_docs(&s.service.library, &known);
        for d in &mut docs {
            if d.columns.is_none() {
                d.columns = recorded.get(&d.name).cloned();
            }
        }
        SearchIndex::build(docs)
    })
    .await
    .map_err(|e| ServiceError::Encoding(format!("indexing failed: {e}")))?;
    let live = Arc::new(LiveIndex {
        key: snap.index_key.clone(),
        index,
        refreshed_at: AtomicI64::new(i64::MIN / 2),
    });
    live.refresh(store).await?;
    tracing::info!(index = %snap.index_key, sources = live.index.len(), ms = started.elapsed().as_millis() as u64, "search index built");
    Ok(live)
}

/// One page of ranked matches of `req` in `live` (the index of `snap`), as `caller` may see them.
pub async fn query(
    store: &Store,
    live: &LiveIndex,
    snap: &Snapshot,
    caller: &Caller,
    req: &SearchRequest,
) -> Result<SearchResult, ServiceError> {
    let size = req.page_size.unwrap_or(DEFAULT_PAGE);
    if size == 0 || size > MAX_PAGE {
        return Err(ServiceError::invalid(
            "page_size",
            format!("`page_size` must be between 1 and {MAX_PAGE}"),
        ));
    }
    let words = crate::search::query_words(&req.text).len();
    if words > MAX_WORDS {
        return Err(ServiceError::invalid(
            "q",
            format!("`q` has {words} different words; search for at most {MAX_WORDS}"),
        ));
    }
    let offset = offset_of(req.page_token.as_deref())?;
    if let Err(e) = live.refresh(store).await {
        // Popularity is a tie-breaker: a database hiccup must not fail the search.
        tracing::warn!(error = %e, "search popularity not refreshed");
    }
    let page = live.index.search(&SearchQuery {
        text: req.text.clone(),
        driver: req.driver.clone(),
        catalog: req.catalog.clone(),
        tags: req.tags.clone(),
        columns: req.columns.clone(),
        visible: caller.visible(),
        offset,
        limit: size,
    });
    let next = offset + page.hits.len();
    Ok(SearchResult {
        next_page_token: (next < page.total).then(|| page_token(next)),
        hits: page.hits,
        total: page.total,
        facets: page.facets,
        revision: snap.revision.clone(),
    })
}

impl Core {
    /// Searches the current catalogs (indexing them first if this revision is new).
    pub async fn search(
        &self,
        caller: &Caller,
        req: &SearchRequest,
    ) -> Result<SearchResult, ServiceError> {
        if caller.visible().is_some_and(|v| v.is_empty()) {
            super::access::authorize(caller, "")?;
        }
        let live = match &caller.at {
            None => self.ensure_indexed(&self.snapshot()).await?,
            // A past revision's index lives with its snapshot.
            Some(at) => {
                at.0.pinned_index
                    .get_or_try_init(|| async {
                        let known = self
                            .known_columns
                            .lock()
                            .map(|k| k.clone())
                            .unwrap_or_default();
                        build_index(&self.store, &at.0, known).await
                    })
                    .await?
                    .clone()
            }
        };
        let snap = self.snapshot_for(caller);
        query(&self.store, &live, &snap, caller, req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(offset_of(Some(&page_token(200))).expect("token"), 200);
        assert_eq!(offset_of(None).expect("none"), 0);
        assert!(offset_of(Some("%%")).is_err());
        assert!(offset_of(Some(&B64.encode("x1"))).is_err());
    }
}
