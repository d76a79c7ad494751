//! One memory budget for every stream of a server: bytes that reads may hold at once in
//! buffers fetched from storage and batches decoded ahead of their consumers. Partitions reserve
//! their estimated cost before they start and release it when they end, so many clients share
//! the budget (first come, first served) and one client alone still reads ahead in parallel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservations are counted in KiB so that budgets of many GiB fit the semaphore.
const UNIT: u64 = 1024;

#[derive(Clone, Debug)]
pub struct MemoryBudget {
    units: Arc<Semaphore>,
    total: u32,
    /// How long a read may wait for the budget of its first partition before it is refused
    /// (the server answers 503 + Retry-After rather than queueing without bound).
    pub first_wait: Duration,
}

/// Bytes held by one running partition; returned to the budget when dropped.
#[derive(Debug)]
pub struct Reservation {
    /// None only if the budget's semaphore were closed, which it never is.
    _units: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    pub fn new(bytes: u64, first_wait: Duration) -> Self {
        let total = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
            first_wait,
        }
    }

    /// `bytes` in units, at least one and at most the whole budget (a partition bigger than
    /// the budget runs alone rather than never).
    fn units_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, self.total)
    }

    /// Waits for `bytes`.
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        let units = self.units_for(bytes);
        Reservation {
            _units: self.units.clone().acquire_many_owned(units).await.ok(),
        }
    }

    /// `bytes` if they are free now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = self.units_for(bytes);
        let permit = self.units.clone().try_acquire_many_owned(units).ok()?;
        Some(Reservation {
            _units: Some(permit),
        })
    }

    /// `bytes` within `wait`, else None.
    pub async fn reserve_within(&self, bytes: u64, wait: Duration) -> Option<Reservation> {
        tokio::time::timeout(wait, self.reserve(bytes)).await.ok()
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> u64 {
        u64::from(self.total).saturating_sub(self.units.available_permits() as u64) * UNIT
    }

    pub fn total(&self) -> u64 {
        u64::from(self.total) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_clamped_shared_and_returned() {
        let b = MemoryBudget::new(10 * 1024 * 1024, Duration::from_millis(50));
        let big = b.reserve(u64::MAX).await;
        assert_eq!(
            b.in_use(),
            b.total(),
            "a partition bigger than the budget takes all of it"
        );
        assert!(b.try_reserve(1).is_none());
        assert!(b
            .reserve_within(1, Duration::from_millis(20))
            .await
            .is_none());
        drop(big);
        let a = b.try_reserve(4 * 1024 * 1024).expect("room");
        let c = b.try_reserve(4 * 1024 * 1024).expect("room");
        assert!(b.try_reserve(4 * 1024 * 1024).is_none());
        drop((a, c));
        assert_eq!(b.in_use(), 0);
    }
}
