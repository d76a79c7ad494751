//! The front-end-neutral core of `inlet serve`: the current snapshot and its hot reload, the
//! SQL state (tokens, search index, discovery cache, usage), the ticket key, stream admission
//! and the drain state. HTTP, Flight and anything else hold one `Arc<Core>` and call it; none
//! of them keeps rules of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use inlet_driver::{MemoryBudget, ReadRequest, Registry};
use serde_json::Value as J;

use super::access::{authorize, Caller, Grant, Scope, TokenGrant};
use super::admission::Admission;
use super::browse::Figures;
use super::discovery::{DiscoveryCache, Progress};
use super::read::Read;
use super::resume::Resume;
use super::search::KnownColumns;
use super::snapshot::Snapshot;
use super::status::RecentErrors;
use super::tickets::TicketKey;
use super::usage::Usage;
use super::ServiceError;
use crate::catalog::redact::redact_text;
use crate::catalog::Diagnostic;
use crate::config::{AuthMode, ServeConfig};
use crate::revision;
use crate::store::{Store, TokenCheck, UsageRow};

pub struct Core {
    pub config: ServeConfig,
    /// Shared by every stream of every snapshot.
    pub budget: MemoryBudget,
    pub(super) drivers: Arc<Registry>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// The catalogs' git repository and snapshots of past commits (`?ref=`).
    pub(super) revisions: super::revisions::Revisions,
    /// Why the last reload was refused (a broken edit) and the fingerprint it was refused at;
    /// the previous snapshot keeps serving.
    reload_error: RwLock<Option<(String, Vec<Diagnostic>, u64)>>,
    pub tickets: TicketKey,
    pub admission: Admission,
    draining: AtomicBool,
    /// Tokens, the search index, the discovery cache, usage.
    pub store: Store,
    /// The revision whose index is known to be in the store (fast path), and the lock that
    /// makes one task index a new revision while others wait.
    search: Mutex<Option<Arc<super::search::LiveIndex>>>,
    indexing: tokio::sync::Mutex<()>,
    /// Columns of sources, as discovery found them (for the index of the next revision).
    pub(super) known_columns: Mutex<KnownColumns>,
    pub usage: Arc<Usage>,
    pub(super) progress: Progress,
    /// Recent errors that were not the callers' (for the status report).
    pub errors: Arc<RecentErrors>,
    /// Rows, bytes and partitions of sources, as background discovery found them (for
    /// search results, without reading anything).
    pub(super) known_figures: Mutex<HashMap<String, Figures>>,
    pub(super) started: std::time::Instant,
}

/// What `/readyz` (and the status page) report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// `ok`, `degraded` (some catalog files have errors, or the database cannot be reached) or
    /// `draining`.
    pub status: &'static str,
    pub revision: String,
    pub catalogs: usize,
    pub catalog_errors: Vec<String>,
    pub reload_errors: Vec<String>,
    /// `ok`, or why the database cannot be reached.
    pub database: String,
    /// `sqlite` or `postgres`.
    pub database_backend: &'static str,
    /// Background discovery of the current revision: `discovered N/M`.
    pub discovery: String,
}

/// Usage of one source, as the caller may see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceUsage {
    pub source: String,
    pub requests: i64,
    pub rows: i64,
    pub bytes: i64,
    /// By day and token (the caller's own token only, when authenticated with one).
    pub by_day: Vec<UsageRow>,
}

impl Core {
    /// Loads the catalogs of `config` with `drivers` (the built-in ones, or any registry).
    pub fn new(
        config: ServeConfig,
        drivers: Arc<Registry>,
        tickets: TicketKey,
        store: Store,
    ) -> Core {
        let budget = MemoryBudget::new(
            config.max_inflight_bytes,
            std::time::Duration::from_millis(config.budget_wait_ms),
        );
        let mut snapshot = Snapshot::load(&config, drivers.clone(), &budget);
        snapshot.cache = Some(Arc::new(DiscoveryCache::new(store.clone())));
        Core {
            budget,
            admission: Admission::new(config.max_streams),
            config,
            drivers,
            snapshot: RwLock::new(Arc::new(snapshot)),
            revisions: Default::default(),
            reload_error: RwLock::new(None),
            tickets,
            draining: AtomicBool::new(false),
            store,
            search: Mutex::new(None),
            indexing: tokio::sync::Mutex::new(()),
            known_columns: Mutex::new(KnownColumns::new()),
            usage: Arc::new(Usage::default()),
            progress: Progress::default(),
            errors: Arc::default(),
            known_figures: Mutex::default(),
            started: std::time::Instant::now(),
        }
    }

    /// Starts the background work of a server: usage writing, indexing and discovery of the
    /// current catalogs (call again with [`Core::refresh`] after a reload).
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(self.usage.clone().run(self.store.clone()));
        self.refresh();
    }

    /// Indexes the current snapshot for search and discovers its sources, in the background.
    pub fn refresh(self: &Arc<Self>) {
        let core = self.clone();
        tokio::spawn(async move {
            let snap = core.snapshot();
            if let Err(e) = core.ensure_indexed(&snap).await {
                tracing::warn!(error = %e, "search index not built yet; it is retried on the next search");
            }
            super::discovery::discover_all(core, snap).await;
        });
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn reload_error(&self) -> Option<Vec<Diagnostic>> {
        self.reload_error
            .read()
            .ok()
            .and_then(|e| e.as_ref().map(|(_, d, _)| d.clone()))
    }

    /// When the last reload was refused (Unix time), if it was.
    pub fn reload_refused_at(&self) -> Option<u64> {
        self.reload_error
            .read()
            .ok()
            .and_then(|e| e.as_ref().map(|(_, _, at)| *at))
    }

    /// Reloads when catalog files changed. A load with more errors than the current one is
    /// refused as a whole: the last good snapshot keeps serving and the errors are reported by
    /// [`Core::health`] and the logs.
    pub fn reload_if_changed(&self) -> bool {
        let current = self.snapshot();
        let fingerprint = revision::fingerprint(&self.config.catalogs);
        let refused = self
            .reload_error
            .read()
            .ok()
            .and_then(|e| e.as_ref().map(|(f, _, _)| f.clone()));
        if fingerprint == current.fingerprint || refused.as_deref() == Some(fingerprint.as_str()) {
            return false;
        }
        let mut next = Snapshot::load(&self.config, self.drivers.clone(), &self.budget);
        if next.problems.len() > current.problems.len() {
            tracing::error!(
                errors = next.problems.len(),
                "catalog reload refused: the last good version keeps serving"
            );
            if let Ok(mut e) = self.reload_error.write() {
                *e = Some((
                    next.fingerprint.clone(),
                    next.problems,
                    super::tickets::now(),
                ));
            }
            return false;
        }
        tracing::info!(revision = %next.revision, "catalogs reloaded");
        next.cache.clone_from(&current.cache);
        if let Ok(mut e) = self.reload_error.write() {
            *e = None;
        }
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(next);
        }
        true
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    pub async fn health(&self) -> Health {
        let snap = self.snapshot();
        let shown = |d: &Diagnostic| redact_text(&d.to_string()).into_owned();
        let reload_errors: Vec<String> = self
            .reload_error()
            .unwrap_or_default()
            .iter()
            .map(shown)
            .collect();
        let catalog_errors: Vec<String> = snap.problems.iter().map(shown).collect();
        let database = match self.store.ping().await {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("unreachable: {}", redact_text(&e.to_string())),
        };
        let status = if self.is_draining() {
            "draining"
        } else if reload_errors.is_empty() && catalog_errors.is_empty() && database == "ok" {
            "ok"
        } else {
            "degraded"
        };
        Health {
            status,
            revision: snap.revision.clone(),
            catalogs: snap.service.library.roots().len(),
            catalog_errors,
            reload_errors,
            database,
            database_backend: self.store.backend(),
            discovery: self.progress.describe(&snap.index_key),
        }
    }

    /// Resolves the `Authorization` value a front end received into a caller. With
    /// authentication off every caller sees everything; with it required, the bearer token
    /// must be known, unrevoked and unexpired.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, ServiceError> {
        let mut caller = Caller::from_authorization(authorization);
        if self.config.auth == AuthMode::Off {
            caller.grant = Grant::Everything;
            return Ok(caller);
        }
        let Some(token) = caller.token.as_deref() else {
            return Err(ServiceError::Unauthenticated(
                "this server requires a token: send `Authorization: Bearer <token>` (an operator makes one with `inlet token create`)".into(),
            ));
        };
        let record = match self.store.check_token(token).await? {
            TokenCheck::Valid(r) => r,
            TokenCheck::Unknown => {
                return Err(ServiceError::Unauthenticated(
                    "the bearer token is not valid on this server".into(),
                ))
            }
            TokenCheck::Revoked(r) => {
                return Err(ServiceError::Unauthenticated(format!(
                    "the token `{}` was revoked: ask for a new one",
                    r.id
                )))
            }
            TokenCheck::Expired(r) => {
                return Err(ServiceError::Unauthenticated(format!(
                    "the token `{}` expired at {} (Unix time): ask for a new one",
                    r.id,
                    r.expires_at.unwrap_or_default()
                )))
            }
        };
        let rules = record
            .scopes
            .iter()
            .filter_map(|s| match Scope::parse(s) {
                Ok(scope) => Some(scope.rule()),
                Err(e) => {
                    tracing::warn!(token = %record.id, "ignoring a stored scope: {e}");
                    None
                }
            })
            .collect();
        caller.grant = Grant::Token(Arc::new(TokenGrant {
            id: record.id,
            name: record.name,
            rules,
        }));
        Ok(caller)
    }

    /// A ticket planned by a token works only while that token does.
    pub(super) async fn check_ticket_token(&self, token: Option<&str>) -> Result<(), ServiceError> {
        let Some(id) = token else {
            return Ok(());
        };
        let refused = |why: &str| {
            Err(ServiceError::Unauthenticated(format!(
                "the token `{id}` that planned this ticket {why}: plan the read again with a valid token"
            )))
        };
        match self.store.token(id).await? {
            None => refused("no longer exists"),
            Some(r) => match crate::store::tokens::status(r) {
                TokenCheck::Valid(_) => Ok(()),
                TokenCheck::Revoked(_) => refused("was revoked"),
                _ => refused("expired"),
            },
        }
    }

    /// The search index of `snap` (built once per snapshot).
    pub async fn ensure_indexed(
        &self,
        snap: &Arc<Snapshot>,
    ) -> Result<Arc<super::search::LiveIndex>, ServiceError> {
        let current = |core: &Core| {
            core.search
                .lock()
                .ok()
                .and_then(|s| s.clone())
                .filter(|live| live.key == snap.index_key)
        };
        if let Some(live) = current(self) {
            return Ok(live);
        }
        let _one = self.indexing.lock().await;
        if let Some(live) = current(self) {
            return Ok(live);
        }
        let known = self
            .known_columns
            .lock()
            .map(|k| k.clone())
            .unwrap_or_default();
        let live = super::search::build_index(&self.store, snap, known).await?;
        if let Ok(mut s) = self.search.lock() {
            *s = Some(live.clone());
        }
        Ok(live)
    }

    /// Starts reading `source` for a caller, holding a stream slot until the read is dropped.
    pub async fn read(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        request: ReadRequest,
    ) -> Result<Read, ServiceError> {
        self.read_from(caller, source, params, request, &Resume::default())
            .await
    }

    /// [`Core::read`] resumed: from batch `resume.from_batch`, of the data version the client
    /// continues (see [`super::resume`]).
    pub async fn read_from(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        mut request: ReadRequest,
        resume: &Resume,
    ) -> Result<Read, ServiceError> {
        authorize(caller, source)?;
        let permit = self
            .admission
            .admit()
            .inspect_err(|e| self.noted(source, e))?;
        request.batch_size = self.config.batch_size.max(1);
        let meter = self.usage.meter(source, caller.token_id());
        let snap = self.snapshot_for(caller);
        self.first_batch(snap.read(source, params, request, Some(permit), resume))
            .await
            .inspect_err(|e| self.noted(source, e))
            .map(|r| r.metered(meter).reporting(self.errors.clone()))
            .map_err(|e| caller.conceal(e))
    }

    /// Keeps a read's error for the status report (when it is not the caller's).
    pub(super) fn noted(&self, source: &str, e: &ServiceError) {
        self.errors.record(Some(source), "read", e);
    }

    /// Usage of `source`: totals and rows by day and token.
    pub async fn source_usage(
        &self,
        caller: &Caller,
        source: &str,
    ) -> Result<SourceUsage, ServiceError> {
        authorize(caller, source)?;
        self.snapshot_for(caller)
            .service
            .entry(source)
            .map_err(|e| caller.conceal(e))?;
        self.usage.flush(&self.store).await;
        let by_day = self.store.usage(source, caller.token_id()).await?;
        Ok(SourceUsage {
            source: source.to_string(),
            requests: by_day.iter().map(|r| r.requests).sum(),
            rows: by_day.iter().map(|r| r.rows).sum(),
            bytes: by_day.iter().map(|r| r.bytes).sum(),
            by_day,
        })
    }

    /// `start` (a read up to its first batch), bounded by `first_byte_timeout_secs`.
    pub(super) async fn first_batch(
        &self,
        start: impl std::future::Future<Output = Result<Read, ServiceError>>,
    ) -> Result<Read, ServiceError> {
        let limit = std::time::Duration::from_secs(self.config.first_byte_timeout_secs.max(1));
        tokio::time::timeout(limit, start)
            .await
            .unwrap_or_else(|_| {
                Err(ServiceError::Timeout(format!(
                "the data did not start within {} s: storage is slow or not answering; retry later",
                limit.as_secs()
            )))
            })
    }

    /// How long a stream may wait for its client to read.
    pub fn stream_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.stream_idle_timeout_secs.max(1))
    }
}
