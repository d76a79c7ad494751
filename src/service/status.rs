//! What is running and what went wrong, once for every front end (`/api/v1/status`, the web
//! page's `/status`): the revision served and its last reload (or the refused edit), discovery
//! progress, the streams open now with their rows and bytes so far, recent errors, and what
//! was served per source since the server started. Every list that names a source is limited to
//! the sources the caller may read.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use utoipa::ToSchema;

use super::access::Caller;
use super::{Core, ErrorKind, ServiceError};
use crate::catalog::redact::redact_text;

/// Errors kept for the status page.
pub const RECENT_ERRORS: usize = 50;

/// One error that was not the caller's to fix (storage, data, capacity, timeouts, ...).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecentError {
    /// Unix time (seconds).
    pub at: u64,
    /// The source it happened on, when there is one.
    pub source: Option<String>,
    /// The problem type (`storage-unreachable`, `corrupt-data`, `busy`, ...).
    pub kind: String,
    /// What happened (secrets redacted).
    pub message: String,
    /// Where it happened: `read` (before the first byte), `stream` (after it), `discovery`.
    pub during: String,
}

/// The last [`RECENT_ERRORS`] errors, newest first.
#[derive(Debug, Default)]
pub struct RecentErrors {
    items: Mutex<VecDeque<RecentError>>,
}

impl RecentErrors {
    /// Keeps `e` when it is not the caller's own mistake (a bad parameter, an unknown name).
    pub fn record(&self, source: Option<&str>, during: &str, e: &ServiceError) {
        let kind = e.kind();
        if kind.is_callers() {
            return;
        }
        self.push(source, during, kind, &e.to_string());
    }

    /// Keeps an error already classified (a stream that failed after its first byte).
    pub fn push(&self, source: Option<&str>, during: &str, kind: ErrorKind, message: &str) {
        let item = RecentError {
            at: super::tickets::now(),
            source: source.map(str::to_string),
            kind: kind.slug().to_string(),
            message: redact_text(message).into_owned(),
            during: during.to_string(),
        };
        if let Ok(mut items) = self.items.lock() {
            items.push_front(item);
            items.truncate(RECENT_ERRORS);
        }
    }

    /// Newest first.
    pub fn list(&self) -> Vec<RecentError> {
        self.items
            .lock()
            .map(|i| i.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A data stream open now (HTTP `/data`, a ticket, Flight `DoGet`, a page's preview).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActiveStream {
    /// Unique while the server runs.
    pub id: u64,
    pub source: String,
    /// Rows read from the source so far.
    pub rows: u64,
    /// Bytes sent to the client so far.
    pub bytes: u64,
    /// How long it has been open.
    pub seconds: u64,
}

/// What was served from one source since the server started.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Served {
    pub source: String,
    /// Reads (streams) that ended.
    pub requests: u64,
    pub rows: u64,
    pub bytes: u64,
}

/// The last reload: refused (a broken edit; the previous revision keeps serving) or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadState {
    /// Unix time (seconds) the serving revision was loaded.
    pub loaded_at: u64,
    /// Unix time (seconds) of the refused edit, when the last reload was refused.
    pub refused_at: Option<u64>,
    /// The refused edit's errors (file:line:col: message).
    pub errors: Vec<String>,
}

/// Background discovery of the serving revision.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscoveryProgress {
    pub done: usize,
    pub total: usize,
    /// `discovered N/M`, or `pending` before it started.
    pub text: String,
}

/// Stream slots and the memory budget of all streams.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Capacity {
    pub streams: usize,
    pub max_streams: usize,
    pub inflight_bytes: u64,
    pub budget_bytes: u64,
}

/// The whole status report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusReport {
    /// `ok`, `degraded` or `draining` (as `/readyz`).
    pub status: String,
    pub revision: String,
    pub reload: ReloadState,
    /// Catalog files that failed to load in the serving revision (file:line:col: message).
    pub catalog_errors: Vec<String>,
    /// `ok`, or why the database cannot be reached.
    pub database: String,
    pub discovery: DiscoveryProgress,
    pub capacity: Capacity,
    /// Streams open now, longest running first.
    pub streams: Vec<ActiveStream>,
    /// Newest first.
    pub errors: Vec<RecentError>,
    /// Per source, most bytes first.
    pub served: Vec<Served>,
    /// All sources the caller may see together.
    pub totals: Served,
    pub uptime_secs: u64,
}

impl Core {
    /// The status report as `caller` may see it.
    pub async fn status(&self, caller: &Caller) -> Result<StatusReport, ServiceError> {
        if caller.visible().is_some_and(|v| v.is_empty()) {
            super::access::authorize(caller, "")?;
        }
        let health = self.health().await;
        let snap = self.snapshot();
        let (done, total) = self.progress.counts(&snap.index_key);
        let streams: Vec<ActiveStream> = self
            .usage
            .active()
            .into_iter()
            .filter(|s| caller.may_read(&s.source))
            .collect();
        let errors = self
            .errors
            .list()
            .into_iter()
            .filter(|e| match &e.source {
                Some(s) => caller.may_read(s),
                None => caller.sees_everything(),
            })
            .collect();
        let mut served: Vec<Served> = self
            .usage
            .served()
            .into_iter()
            .filter(|s| caller.may_read(&s.source))
            .collect();
        served.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.source.cmp(&b.source)));
        let totals = served.iter().fold(Served::default(), |mut t, s| {
            t.requests += s.requests;
            t.rows += s.rows;
            t.bytes += s.bytes;
            t
        });
        Ok(StatusReport {
            status: health.status.to_string(),
            revision: health.revision,
            reload: ReloadState {
                loaded_at: snap.loaded_at,
                refused_at: self.reload_refused_at(),
                errors: health.reload_errors,
            },
            catalog_errors: health.catalog_errors,
            database: health.database,
            discovery: DiscoveryProgress {
                done,
                total,
                text: health.discovery,
            },
            capacity: Capacity {
                streams: self.admission.active(),
                max_streams: self.config.max_streams.max(1),
                inflight_bytes: self.budget.in_use(),
                budget_bytes: self.budget.total(),
            },
            streams,
            errors,
            served,
            totals,
            uptime_secs: self.started.elapsed().as_secs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_are_not_the_callers_are_kept_newest_first_and_bounded() {
        let errors = RecentErrors::default();
        let callers = ServiceError::invalid("limit", "bad limit");
        errors.record(Some("c.s"), "read", &callers);
        assert!(errors.list().is_empty(), "a caller's mistake is not kept");
        for i in 0..(RECENT_ERRORS + 5) {
            let e = ServiceError::Timeout(format!("slow {i} s3://user:pw@host/x"));
            errors.record(Some("c.s"), "read", &e);
        }
        let list = errors.list();
        assert_eq!(list.len(), RECENT_ERRORS);
        assert!(list[0]
            .message
            .contains(&format!("slow {}", RECENT_ERRORS + 4)));
        assert_eq!(list[0].kind, "storage-timeout");
        assert!(!list[0].message.contains("pw@"), "{}", list[0].message);
    }
}
