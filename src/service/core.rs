//! The front-end-neutral core of `inlet serve`: the current snapshot and its hot reload, the
//! ticket key, stream admission and the drain state. HTTP, Flight and anything else hold one
//! `Arc<Core>` and call it; none of them keeps rules of its own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use inlet_driver::{MemoryBudget, ReadRequest, Registry};
use serde_json::Value as J;

use super::access::{authorize, Caller};
use super::admission::Admission;
use super::read::Read;
use super::snapshot::Snapshot;
use super::tickets::TicketKey;
use super::ServiceError;
use crate::catalog::redact::redact_text;
use crate::catalog::Diagnostic;
use crate::config::ServeConfig;
use crate::revision;

pub struct Core {
    pub config: ServeConfig,
    /// Shared by every stream of every snapshot.
    pub budget: MemoryBudget,
    drivers: Arc<Registry>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Why the last reload was refused (a broken edit) and the fingerprint it was refused at;
    /// the previous snapshot keeps serving.
    reload_error: RwLock<Option<(String, Vec<Diagnostic>)>>,
    pub tickets: TicketKey,
    pub admission: Admission,
    draining: AtomicBool,
}

/// What `/readyz` (and the status page) report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// `ok`, `degraded` (some catalog files have errors) or `draining`.
    pub status: &'static str,
    pub revision: String,
    pub catalogs: usize,
    pub catalog_errors: Vec<String>,
    pub reload_errors: Vec<String>,
}

impl Core {
    /// Loads the catalogs of `config` with `drivers` (the built-in ones, or any registry).
    pub fn new(config: ServeConfig, drivers: Arc<Registry>, tickets: TicketKey) -> Core {
        let budget = MemoryBudget::new(
            config.max_inflight_bytes,
            std::time::Duration::from_millis(config.budget_wait_ms),
        );
        let snapshot = Snapshot::load(&config, drivers.clone(), &budget);
        Core {
            budget,
            admission: Admission::new(config.max_streams),
            config,
            drivers,
            snapshot: RwLock::new(Arc::new(snapshot)),
            reload_error: RwLock::new(None),
            tickets,
            draining: AtomicBool::new(false),
        }
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
            .and_then(|e| e.as_ref().map(|(f, _)| f.clone()));
        if fingerprint == current.fingerprint || refused.as_deref() == Some(fingerprint.as_str()) {
            return false;
        }
        let next = Snapshot::load(&self.config, self.drivers.clone(), &self.budget);
        if next.problems.len() > current.problems.len() {
            tracing::error!(
                errors = next.problems.len(),
                "catalog reload refused: the last good version keeps serving"
            );
            if let Ok(mut e) = self.reload_error.write() {
                *e = Some((next.fingerprint.clone(), next.problems));
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

    pub fn health(&self) -> Health {
        let snap = self.snapshot();
        let shown = |d: &Diagnostic| redact_text(&d.to_string()).into_owned();
        let reload_errors: Vec<String> = self
            .reload_error()
            .unwrap_or_default()
            .iter()
            .map(shown)
            .collect();
        let catalog_errors: Vec<String> = snap.problems.iter().map(shown).collect();
        let status = if self.is_draining() {
            "draining"
        } else if reload_errors.is_empty() && catalog_errors.is_empty() {
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
        }
    }

    /// Starts reading `source` for a caller, holding a stream slot until the read is dropped.
    pub async fn read(
        &self,
        caller: &Caller,
        source: &str,
        params: &BTreeMap<String, J>,
        mut request: ReadRequest,
    ) -> Result<Read, ServiceError> {
        authorize(caller, source)?;
        let permit = self.admission.admit()?;
        request.batch_size = self.config.batch_size.max(1);
        let snap = self.snapshot();
        self.first_batch(snap.read(source, params, request, Some(permit)))
            .await
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
