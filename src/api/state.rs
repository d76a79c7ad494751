//! Shared server state: the current catalog snapshot (swapped atomically on reload), the ticket
//! key, stream permits and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::Value as J;
use tokio::sync::Semaphore;

use crate::catalog::{Diagnostic, EnvPolicy, Library, Severity};
use crate::config::ServeConfig;
use crate::revision;
use crate::service::{Opened, Service, ServiceError};
use crate::tickets::TicketKey;

/// Opened sources kept per snapshot (they cache their discovery); cleared when full.
const OPENED_CACHE: usize = 4096;

/// One loaded version of the catalogs.
pub struct Snapshot {
    pub service: Service,
    pub revision: String,
    fingerprint: String,
    /// Errors of files that failed to load when this snapshot was made (those files are absent).
    pub problems: Vec<Diagnostic>,
    opened: Mutex<HashMap<String, Arc<Opened>>>,
    /// Serialized source descriptions by source and query: they only change with the snapshot.
    described: Mutex<HashMap<String, bytes::Bytes>>,
}

impl Snapshot {
    /// A cached serialized description, or `make` it; it is cached when `make` says it may be
    /// (a description carrying a transient storage error is not).
    pub async fn described<F, Fut, E>(&self, key: &str, make: F) -> Result<bytes::Bytes, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(bytes::Bytes, bool), E>>,
    {
        if let Some(b) = self.described.lock().ok().and_then(|m| m.get(key).cloned()) {
            return Ok(b);
        }
        let (bytes, cacheable) = make().await?;
        if !cacheable {
            return Ok(bytes);
        }
        if let Ok(mut m) = self.described.lock() {
            if m.len() >= OPENED_CACHE {
                m.clear();
            }
            m.insert(key.to_string(), bytes.clone());
        }
        Ok(bytes)
    }

    fn load(config: &ServeConfig) -> Snapshot {
        let fingerprint = revision::fingerprint(&config.catalogs);
        let (library, diags) = Library::open(
            &config.catalogs,
            EnvPolicy::allow(config.allow_env.iter().cloned()),
        );
        for d in &diags {
            match d.severity {
                Severity::Error => tracing::error!(target: "inlet::catalog", "{d}"),
                Severity::Warning => tracing::debug!(target: "inlet::catalog", "{d}"),
            }
        }
        let mut service = Service::new(library, config.allow_paths.clone());
        service.batch_size = config.batch_size;
        Snapshot {
            service,
            revision: revision::revision(&config.catalogs),
            fingerprint,
            problems: diags
                .into_iter()
                .filter(|d| d.severity == Severity::Error)
                .collect(),
            opened: Mutex::new(HashMap::new()),
            described: Mutex::new(HashMap::new()),
        }
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
        if let Some(o) = self.opened.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(o);
        }
        let opened = Arc::new(self.service.open(name, params).await?);
        if let Ok(mut m) = self.opened.lock() {
            if m.len() >= OPENED_CACHE {
                m.clear();
            }
            m.insert(key, opened.clone());
        }
        Ok(opened)
    }
}

pub struct Inner {
    pub config: ServeConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Why the last reload was refused (a broken edit); the previous snapshot keeps serving.
    reload_error: RwLock<Option<(String, Vec<Diagnostic>)>>,
    pub tickets: TicketKey,
    pub streams: Arc<Semaphore>,
    draining: AtomicBool,
    pub metrics: Option<PrometheusHandle>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        config: ServeConfig,
        tickets: TicketKey,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        let snapshot = Snapshot::load(&config);
        AppState(Arc::new(Inner {
            streams: Arc::new(Semaphore::new(config.max_streams.max(1))),
            config,
            snapshot: RwLock::new(Arc::new(snapshot)),
            reload_error: RwLock::new(None),
            tickets,
            draining: AtomicBool::new(false),
            metrics,
        }))
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
            .and_then(|e| e.as_ref().map(|(_, d)| d.clone()))
    }

    /// Reloads when catalog files changed. A load with errors is refused as a whole: the last
    /// good snapshot keeps serving and the errors are reported by /readyz and the logs.
    pub fn reload_if_changed(&self) -> bool {
        let current = self.snapshot();
        let fingerprint = revision::fingerprint(&self.config.catalogs);
        let refused = self
            .reload_error
            .read()
            .ok()
            .and_then(|e| e.as_ref().map(|(f, _)| f.clone()));
        if fingerprint == current.fingerprint || refused.as_deref() == Some(fingerprint.as_str()) {
            return false;
        }
        let next = Snapshot::load(&self.config);
        if next.problems.len() > current.problems.len() {
            tracing::error!(
                errors = next.problems.len(),
                "catalog reload refused: the last good version keeps serving"
            );
            if let Ok(mut e) = self.reload_error.write() {
                *e = Some((next.fingerprint, next.problems));
            }
            return false;
        }
        tracing::info!(revision = %next.revision, "catalogs reloaded");
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
}
