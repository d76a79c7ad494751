//! Discovery, cached and in the background.
//!
//! A source opened by a snapshot is wrapped in a [`CachedSource`]: when its driver knows its
//! files' fingerprints without reading them ([`Source::files`]: locations, sizes, ETags,
//! modification times from the listing), a discovery stored under the source name + rendered
//! args + that fingerprint is handed back to it ([`Source::restore`]) and no metadata is read;
//! otherwise the first discovery is stored for next time. A changed file changes the
//! fingerprint, so only its source is discovered again.
//!
//! After a (re)load, [`discover_all`] discovers every source with its default parameters,
//! a few at a time, and records the columns it finds in the search index; `/readyz` shows the
//! progress (`discovered N/M`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::StreamExt;
use inlet_driver::{
    BatchStream, ColumnStatistics, Discovery, FileInfo, Partition, ReadRequest, Source,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Core, Snapshot};
use crate::store::Store;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache key of a source opened with these rendered args.
pub fn cache_key(name: &str, args: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(serde_json::to_vec(args).unwrap_or_default());
    hex(&h.finalize())
}

fn fingerprint(files: &[FileInfo]) -> String {
    hex(&Sha256::digest(
        serde_json::to_vec(files).unwrap_or_default(),
    ))
}

/// A discovery as stored: the schema as an Arrow IPC message (exact, metadata included).
#[derive(Serialize, Deserialize)]
struct Stored {
    schema_ipc: String,
    partitions: Vec<Partition>,
    total_rows: Option<u64>,
    total_bytes: Option<u64>,
    files: Vec<FileInfo>,
    statistics: Vec<ColumnStatistics>,
    metadata: serde_json::Map<String, serde_json::Value>,
    warnings: Vec<String>,
}

pub fn encode(d: &Discovery) -> Option<String> {
    let mut buf = vec![];
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut buf, &d.schema).ok()?;
        w.finish().ok()?;
    }
    serde_json::to_string(&Stored {
        schema_ipc: B64.encode(buf),
        partitions: d.partitions.clone(),
        total_rows: d.total_rows,
        total_bytes: d.total_bytes,
        files: d.files.clone(),
        statistics: d.statistics.clone(),
        metadata: d.metadata.clone(),
        warnings: d.warnings.clone(),
    })
    .ok()
}

pub fn decode(text: &str) -> Option<Discovery> {
    let s: Stored = serde_json::from_str(text).ok()?;
    let ipc = B64.decode(s.schema_ipc).ok()?;
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).ok()?;
    Some(Discovery {
        schema: reader.schema(),
        partitions: s.partitions,
        total_rows: s.total_rows,
        total_bytes: s.total_bytes,
        files: s.files,
        statistics: s.statistics,
        metadata: s.metadata,
        warnings: s.warnings,
    })
}

/// Counts of discovery work, for logs and `/metrics`.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicUsize,
    pub misses: AtomicUsize,
}

/// The discovery cache of a server, shared by its snapshots.
pub struct DiscoveryCache {
    store: Store,
    pub stats: CacheStats,
}

impl DiscoveryCache {
    pub fn new(store: Store) -> Self {
        DiscoveryCache {
            store,
            stats: CacheStats::default(),
        }
    }

    /// `source` with its discovery restored from the cache when its files are unchanged, else
    /// a wrapper that stores its first discovery.
    pub async fn wrap(
        self: &Arc<Self>,
        name: &str,
        key: String,
        source: Arc<dyn Source>,
    ) -> Arc<dyn Source> {
        let Some(files) = source.files() else {
            return source;
        };
        let fingerprint = fingerprint(&files);
        match self.store.cached_discovery(&key, &fingerprint).await {
            Ok(Some(text)) => {
                if let Some(d) = decode(&text) {
                    if source.restore(Arc::new(d)) {
                        self.stats.hits.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("inlet_discovery_cache_total", "result" => "hit")
                            .increment(1);
                        return source;
                    }
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(source = name, error = %e, "discovery cache unavailable"),
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("inlet_discovery_cache_total", "result" => "miss").increment(1);
        Arc::new(CachedSource {
            inner: source,
            cache: self.clone(),
            name: name.to_string(),
            key,
            fingerprint,
            stored: tokio::sync::OnceCell::new(),
        })
    }
}

/// A source whose first successful discovery is written to the cache.
struct CachedSource {
    inner: Arc<dyn Source>,
    cache: Arc<DiscoveryCache>,
    name: String,
    key: String,
    fingerprint: String,
    stored: tokio::sync::OnceCell<()>,
}

#[async_trait]
impl Source for CachedSource {
    async fn discover(&self) -> inlet_driver::Result<Arc<Discovery>> {
        let d = self.inner.discover().await?;
        // The files discovery saw must be the ones fingerprinted at open.
        if fingerprint(&d.files) == self.fingerprint {
            self.stored
                .get_or_init(|| async {
                    if let Some(text) = encode(&d) {
                        if let Err(e) = self
                            .cache
                            .store
                            .put_discovery(&self.key, &self.name, &self.fingerprint, &text)
                            .await
                        {
                            tracing::warn!(source = %self.name, error = %e, "discovery not cached");
                        }
                    }
                })
                .await;
        }
        Ok(d)
    }

    async fn read(&self, request: ReadRequest) -> inlet_driver::Result<BatchStream> {
        self.inner.read(request).await
    }

    fn files(&self) -> Option<Vec<FileInfo>> {
        self.inner.files()
    }

    fn restore(&self, discovery: Arc<Discovery>) -> bool {
        self.inner.restore(discovery)
    }

    fn whole_files(&self) -> Option<inlet_driver::storage::Files> {
        self.inner.whole_files()
    }

    fn batch_count(
        &self,
        discovery: &Discovery,
        partition: usize,
        batch_size: usize,
    ) -> Option<u64> {
        self.inner.batch_count(discovery, partition, batch_size)
    }
}

/// Background discovery of one revision: how far it got.
#[derive(Debug, Default)]
pub struct Progress {
    revision: Mutex<String>,
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    fn start(&self, revision: &str, total: usize) {
        if let Ok(mut r) = self.revision.lock() {
            revision.clone_into(&mut r);
        }
        self.done.store(0, Ordering::SeqCst);
        self.total.store(total, Ordering::SeqCst);
    }

    /// Sources discovered and to discover for `revision`; None before it started.
    fn progress(&self, revision: &str) -> Option<(usize, usize)> {
        let same = self
            .revision
            .lock()
            .map(|r| r.as_str() == revision)
            .unwrap_or(false);
        same.then(|| {
            (
                self.done.load(Ordering::SeqCst),
                self.total.load(Ordering::SeqCst),
            )
        })
    }

    /// Sources discovered and to discover for `revision` (0/0 before it started).
    pub fn counts(&self, revision: &str) -> (usize, usize) {
        self.progress(revision).unwrap_or((0, 0))
    }

    /// `discovered N/M` for `revision` (`pending` before it started).
    pub fn describe(&self, revision: &str) -> String {
        match self.progress(revision) {
            Some((done, total)) => format!("discovered {done}/{total}"),
            None => "pending".into(),
        }
    }
}

/// Discovers every readable source of `snap` with default parameters, a few at a time, and
/// records their columns in the search index. A newer snapshot stops it.
pub async fn discover_all(core: Arc<Core>, snap: Arc<Snapshot>) {
    let s = snap.clone();
    let names: Vec<String> = match tokio::task::spawn_blocking(move || {
        super::search::index_docs(&s.service.library, &Default::default())
            .into_iter()
            .filter(|d| d.status == "ok")
            .map(|d| d.name)
            .collect()
    })
    .await
    {
        Ok(n) => n,
        Err(_) => return,
    };
    let total = names.len();
    core.progress.start(&snap.index_key, total);
    let started = Instant::now();
    let concurrency = core.config.discovery_concurrency.max(1);
    let step = (total / 10).max(1);
    let failed = AtomicUsize::new(0);
    futures::stream::iter(names)
        .for_each_concurrent(concurrency, |name| {
            let (core, snap, failed) = (&core, &snap, &failed);
            async move {
                if core.snapshot().index_key != snap.index_key {
                    return; // a reload replaced this snapshot; its own discovery takes over
                }
                match discover_one(core, snap, &name).await {
                    Ok(()) => {}
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        core.errors.record(Some(name.as_str()), "discovery", &e);
                        tracing::debug!(source = %name, error = %e, "background discovery failed");
                    }
                }
                let done = core.progress.done.fetch_add(1, Ordering::SeqCst) + 1;
                if done % step == 0 || done == total {
                    tracing::info!(revision = %snap.revision, "discovered {done}/{total}");
                }
            }
        })
        .await;
    let (hits, misses) = snap.cache.as_ref().map_or((0, 0), |c| {
        (
            c.stats.hits.load(Ordering::Relaxed),
            c.stats.misses.load(Ordering::Relaxed),
        )
    });
    tracing::info!(
        revision = %snap.revision,
        sources = total,
        failed = failed.load(Ordering::Relaxed),
        cache_hits = hits,
        cache_misses = misses,
        ms = started.elapsed().as_millis() as u64,
        "background discovery finished"
    );
}

async fn discover_one(
    core: &Core,
    snap: &Arc<Snapshot>,
    name: &str,
) -> Result<(), super::ServiceError> {
    let opened = snap.open(name, &BTreeMap::new()).await?;
    let d = opened.source.discover().await?;
    if let Ok(mut figures) = core.known_figures.lock() {
        figures.insert(
            name.to_string(),
            super::browse::Figures {
                rows: d.total_rows,
                bytes: d.total_bytes,
                partitions: d.partitions.len(),
            },
        );
    }
    let columns: Vec<(String, String)> = d
        .schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    let changed = core
        .known_columns
        .lock()
        .map(|mut k| k.insert(name.to_string(), columns.clone()).as_ref() != Some(&columns))
        .unwrap_or(true);
    if changed {
        let live = core.ensure_indexed(snap).await?;
        // Recorded already when the index was built from what the store held (a restart).
        if live.index.set_columns(name, &columns) {
            core.store
                .set_columns(&snap.index_key, name, &columns)
                .await?;
        }
    }
    Ok(())
}
