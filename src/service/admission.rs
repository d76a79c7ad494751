//! Stream admission: at most `max_streams` data streams at once, for every front end together.
//! Beyond it a stream is refused at once (HTTP 503 + Retry-After, gRPC UNAVAILABLE) rather than
//! queued, so a busy replica sheds load to the others.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ServiceError;

pub struct Admission {
    streams: Arc<Semaphore>,
    max: usize,
}

/// A stream slot; freed when dropped (with the stream that holds it).
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    active: metrics::Gauge,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.active.decrement(1.0);
    }
}

impl Admission {
    pub fn new(max_streams: usize) -> Self {
        let max = max_streams.max(1);
        Admission {
            streams: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot for one stream, or `Busy` when all are taken.
    pub fn admit(&self) -> Result<Permit, ServiceError> {
        let slot = self.streams.clone().try_acquire_owned().map_err(|_| {
            ServiceError::Busy(format!(
                "all {} data streams are busy: retry shortly",
                self.max
            ))
        })?;
        let active = metrics::gauge!("inlet_active_streams");
        active.increment(1.0);
        Ok(Permit {
            _slot: slot,
            active,
        })
    }

    /// Streams running now.
    pub fn active(&self) -> usize {
        self.max - self.streams.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_when_full_and_freed_on_drop() {
        let a = Admission::new(2);
        let p1 = a.admit().expect("first");
        let _p2 = a.admit().expect("second");
        let refused = a.admit().err().expect("third is refused");
        assert_eq!(refused.kind(), super::super::ErrorKind::Busy);
        assert_eq!(a.active(), 2);
        drop(p1);
        assert!(a.admit().is_ok(), "a dropped permit frees its slot");
    }
}
