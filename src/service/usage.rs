//! Usage accounting: every read carries a [`Meter`] (rows counted by the read, bytes by the
//! front end that encodes it); when the last holder drops it, its totals go into a bounded
//! channel. A background task adds them up and writes them in batches, so the streaming path
//! never waits on the database, and a full channel drops counts (logged) rather than slowing
//! streams down.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::store::{Store, UsageDelta};

/// Reads waiting to be added up; beyond it, counts are dropped.
const CHANNEL: usize = 16 * 1024;
/// How often added-up counts are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The rows and bytes of one read.
pub struct Meter {
    id: u64,
    started: Instant,
    source: String,
    token_id: Option<String>,
    rows: AtomicU64,
    bytes: AtomicU64,
    tx: mpsc::Sender<UsageDelta>,
}

impl Meter {
    pub fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let as_i64 = |v: &AtomicU64| i64::try_from(v.load(Ordering::Relaxed)).unwrap_or(i64::MAX);
        let delta = UsageDelta {
            day: crate::store::now() / 86_400,
            source: std::mem::take(&mut self.source),
            token_id: self.token_id.take().unwrap_or_default(),
            requests: 1,
            rows: as_i64(&self.rows),
            bytes: as_i64(&self.bytes),
        };
        if self.tx.try_send(delta).is_err() {
            metrics::counter!("inlet_usage_dropped_total").increment(1);
        }
    }
}

/// Counts added up, not yet written: (day, source, token) -> (requests, rows, bytes).
type Pending = HashMap<(i64, String, String), (i64, i64, i64)>;

/// Makes meters and writes what they counted.
pub struct Usage {
    tx: mpsc::Sender<UsageDelta>,
    rx: Mutex<Option<mpsc::Receiver<UsageDelta>>>,
    pending: Arc<Mutex<Pending>>,
    /// The meters of the reads open now (a dropped meter's entry fails to upgrade).
    live: Mutex<Vec<Weak<Meter>>>,
    next_id: AtomicU64,
    /// What ended reads served, per source, since the server started (requests, rows, bytes).
    served: Mutex<BTreeMap<String, (u64, u64, u64)>>,
}

impl Default for Usage {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        Usage {
            tx,
            rx: Mutex::new(Some(rx)),
            pending: Arc::default(),
            live: Mutex::default(),
            next_id: AtomicU64::new(1),
            served: Mutex::default(),
        }
    }
}

impl Usage {
    pub fn meter(&self, source: &str, token_id: Option<&str>) -> Arc<Meter> {
        let meter = Arc::new(Meter {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            started: Instant::now(),
            source: source.to_string(),
            token_id: token_id.map(str::to_string),
            rows: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tx: self.tx.clone(),
        });
        if let Ok(mut live) = self.live.lock() {
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(&meter));
        }
        meter
    }

    /// The reads open now, with their rows and bytes so far, longest running first.
    pub fn active(&self) -> Vec<super::status::ActiveStream> {
        let meters: Vec<Arc<Meter>> = match self.live.lock() {
            Ok(mut live) => {
                live.retain(|w| w.strong_count() > 0);
                live.iter().filter_map(Weak::upgrade).collect()
            }
            Err(_) => vec![],
        };
        let mut out: Vec<super::status::ActiveStream> = meters
            .iter()
            .map(|m| super::status::ActiveStream {
                id: m.id,
                source: m.source.clone(),
                rows: m.rows.load(Ordering::Relaxed),
                bytes: m.bytes.load(Ordering::Relaxed),
                seconds: m.started.elapsed().as_secs(),
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    /// What ended reads served per source since the server started.
    pub fn served(&self) -> Vec<super::status::Served> {
        self.drain();
        self.served
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(source, (requests, rows, bytes))| super::status::Served {
                        source: source.clone(),
                        requests: *requests,
                        rows: *rows,
                        bytes: *bytes,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn add(&self, d: UsageDelta) {
        if let Ok(mut p) = self.pending.lock() {
            let e = p.entry((d.day, d.source, d.token_id)).or_default();
            e.0 += d.requests;
            e.1 += d.rows;
            e.2 += d.bytes;
        }
    }

    /// Takes what arrived so far off the channel (without waiting).
    fn drain(&self) {
        let Ok(mut rx) = self.rx.lock() else { return };
        if let Some(rx) = rx.as_mut() {
            while let Ok(d) = rx.try_recv() {
                if let Ok(mut served) = self.served.lock() {
                    let s = served.entry(d.source.clone()).or_default();
                    let n = |v: i64| u64::try_from(v).unwrap_or(0);
                    s.0 += n(d.requests);
                    s.1 += n(d.rows);
                    s.2 += n(d.bytes);
                }
                self.add(d);
            }
        }
    }

    /// Writes everything counted so far; on failure the counts are kept for the next try.
    pub async fn flush(&self, store: &Store) {
        self.drain();
        let batch: Vec<UsageDelta> = match self.pending.lock() {
            Ok(mut p) => p
                .drain()
                .map(
                    |((day, source, token_id), (requests, rows, bytes))| UsageDelta {
                        day,
                        source,
                        token_id,
                        requests,
                        rows,
                        bytes,
                    },
                )
                .collect(),
            Err(_) => return,
        };
        if let Err(e) = store.add_usage(&batch).await {
            tracing::warn!(error = %e, "usage counts not written yet; retrying");
            for d in batch {
                self.add(d);
            }
        }
    }

    /// Writes counts every [`FLUSH_EVERY`] until the process ends.
    pub async fn run(self: Arc<Self>, store: Store) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            self.flush(&store).await;
        }
    }
}
