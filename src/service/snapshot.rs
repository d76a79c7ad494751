//! One loaded version of the catalogs, with what was opened from it. A snapshot never changes:
//! a reload makes a new one and swaps it in (see [`super::Core`]), so a request sees one
//! revision from start to end.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use inlet_driver::{MemoryBudget, ReadRequest, Registry};
use serde_json::Value as J;

use super::admission::Permit;
use super::discovery::DiscoveryCache;
use super::read::Read;
use super::{Opened, Service, ServiceError};
use crate::catalog::fs::{CatalogFs, Disk};
use crate::catalog::{Diagnostic, EnvPolicy, Library, Severity};
use crate::config::ServeConfig;
use crate::git::{CommitId, GitError, Repo};
use crate::revision;

/// Opened sources kept per snapshot (they cache their discovery); cleared when full.
const OPENED_CACHE: usize = 4096;

pub struct Snapshot {
    pub service: Service,
    pub revision: String,
    /// The key of this snapshot's search index (see [`revision::index_key`]).
    pub index_key: String,
    pub(super) fingerprint: String,
    /// Errors of files that failed to load when this snapshot was made (those files are absent).
    pub problems: Vec<Diagnostic>,
    /// Opened sources with when they were opened.
    opened: Mutex<HashMap<String, (Arc<Opened>, Instant)>>,
    /// How long an opened source (its file listing) is reused; see `relist_secs`.
    pub relist_after: Duration,
    /// Rendered answers by key (descriptions): they only change with the snapshot.
    rendered: Mutex<HashMap<String, bytes::Bytes>>,
    /// The discovery cache (a server's snapshots share it; the CLI has none).
    pub cache: Option<Arc<DiscoveryCache>>,
    /// When it was loaded (Unix time, seconds).
    pub loaded_at: u64,
    /// The search index of a past revision's snapshot (the current one's lives in the core).
    pub(super) pinned_index: tokio::sync::OnceCell<Arc<super::search::LiveIndex>>,
}

/// The snapshot of a past revision a request asked for (`?ref=`).
#[derive(Clone)]
pub struct AtRevision(pub Arc<Snapshot>);

impl std::fmt::Debug for AtRevision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtRevision({})", self.0.revision)
    }
}

impl Snapshot {
    /// A snapshot of an already loaded service (the CLI's, or a test's).
    pub fn new(service: Service, revision: String) -> Snapshot {
        Snapshot {
            service,
            index_key: revision.clone(),
            revision,
            fingerprint: String::new(),
            problems: vec![],
            opened: Mutex::new(HashMap::new()),
            relist_after: Duration::MAX,
            rendered: Mutex::new(HashMap::new()),
            cache: None,
            loaded_at: super::tickets::now(),
            pinned_index: tokio::sync::OnceCell::new(),
        }
    }

    /// Loads the catalogs `config` names, resolving drivers through `drivers`.
    pub fn load(config: &ServeConfig, drivers: Arc<Registry>, budget: &MemoryBudget) -> Snapshot {
        let fingerprint = revision::fingerprint(&config.catalogs);
        let rev = revision::revision(&config.catalogs);
        let index_key = revision::index_key(&rev, &config.catalogs);
        let mut snap = Snapshot::load_from(Arc::new(Disk), config, drivers, budget, rev, index_key);
        snap.fingerprint = fingerprint;
        snap
    }

    /// The catalogs `config` names as they are in `commit` of their git repository.
    pub fn load_commit(
        repo: &Repo,
        commit: CommitId,
        config: &ServeConfig,
        drivers: Arc<Registry>,
        budget: &MemoryBudget,
    ) -> Result<Snapshot, GitError> {
        let fs = Arc::new(repo.tree_fs(commit)?);
        let rev = Repo::revision_of(commit);
        let index_key = format!("{rev}@{}", repo.content_key(commit)?);
        Ok(Snapshot::load_from(
            fs, config, drivers, budget, rev, index_key,
        ))
    }

    fn load_from(
        fs: Arc<dyn CatalogFs>,
        config: &ServeConfig,
        drivers: Arc<Registry>,
        budget: &MemoryBudget,
        rev: String,
        index_key: String,
    ) -> Snapshot {
        let (library, diags) = Library::open_in(
            fs,
            &config.catalogs,
            EnvPolicy::allow(config.allow_env.iter().cloned()),
            drivers,
        );
        let library = library.with_allowed_paths(&config.allow_paths);
        for d in &diags {
            let text = crate::catalog::redact::redact_text(&d.to_string()).into_owned();
            match d.severity {
                Severity::Error => tracing::error!(target: "inlet::catalog", "{text}"),
                Severity::Warning => tracing::debug!(target: "inlet::catalog", "{text}"),
            }
        }
        let mut service = Service::new(library, config.allow_paths.clone())
            .with_allowed_hosts(config.allow_hosts.clone())
            .with_storage_retry(config.storage_retry());
        service.batch_size = config.batch_size;
        service.limits.budget = Some(budget.clone());
        let mut snap = Snapshot::new(service, rev);
        snap.index_key = index_key;
        snap.relist_after = Duration::from_secs(config.relist_secs);
        snap.problems = diags
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        snap
    }

    /// A cached rendering, or `make` it; it is cached when `make` says it may be (an answer
    /// carrying a transient storage error is not).
    pub async fn rendered<F, Fut, E>(&self, key: &str, make: F) -> Result<bytes::Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(bytes::Bytes, bool), E>>,
    {
        if let Some(b) = self.rendered.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(b);
        }
        let (bytes, cacheable) = make().await?;
        if !cacheable {
            return Ok(bytes);
        }
        if let Ok(mut m) = self.rendered.lock() {
            if m.len() >= OPENED_CACHE {
                m.clear();
            }
            m.insert(key.to_string(), bytes.clone());
        }
        Ok(bytes)
    }

    /// The source opened with these parameters, reused across requests of this snapshot.
    pub async fn open(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
    ) -> Result<Arc<Opened>, ServiceError> {
        let key = format!(
            "{name}\u{0}{}",
            serde_json::to_string(params).unwrap_or_default()
        );
        let previous = self.opened.lock().ok().and_then(|m| m.get(&key).cloned());
        if let Some((o, at)) = &previous {
            if !o.stale.load(Ordering::Relaxed) && at.elapsed() < self.relist_after {
                return Ok(o.clone());
            }
        }
        // New, or its data changed under a read, or its listing is old: list again (the
        // discovery cache keeps discovery when no file's size or ETag changed).
        let mut opened = self.service.open(name, params).await?;
        if let Some(cache) = &self.cache {
            opened.source = cache.wrap(name, opened.key.clone(), opened.source).await;
        }
        let opened = Arc::new(opened);
        if let Some((old, _)) = previous {
            let files = opened.source.files();
            if old.stale.load(Ordering::Relaxed) || files.is_none() || old.source.files() != files {
                // Answers rendered from the old discovery are out of date.
                if let Ok(mut r) = self.rendered.lock() {
                    r.clear();
                }
            }
        }
        if let Ok(mut m) = self.opened.lock() {
            if m.len() >= OPENED_CACHE {
                m.clear();
            }
            m.insert(key, (opened.clone(), Instant::now()));
        }
        Ok(opened)
    }

    /// Starts reading `name` (from `resume`); `permit` is the stream slot the read holds until
    /// it is dropped.
    pub async fn read(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
        request: ReadRequest,
        permit: Option<Permit>,
        resume: &super::Resume,
    ) -> Result<Read, ServiceError> {
        let opened = self.open(name, params).await?;
        Read::start(&opened, request, permit, resume).await
    }

    /// Checks what a read would do (source, parameters, columns, partitions) without reading.
    pub async fn check_read(
        &self,
        name: &str,
        params: &BTreeMap<String, J>,
        request: &ReadRequest,
    ) -> Result<(), ServiceError> {
        self.open(name, params).await?.check(request).await?;
        Ok(())
    }
}
