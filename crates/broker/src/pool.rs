//! The worker pool's bound: a semaphore with one permit per worker. A claimed row is only
//! ever taken with a permit in hand, so the broker never holds more rows than it can work
//! on, and shutdown waits for the permits to come back.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct Pool {
    permits: Arc<Semaphore>,
    size: u32,
    in_flight: AtomicU32,
}

impl Pool {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            size: u32::try_from(workers).unwrap_or(u32::MAX),
            in_flight: AtomicU32::new(0),
        }
    }

    /// A free worker's permit, if there is one now.
    pub(crate) fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The next free worker's permit (None once the pool is closed).
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(&self.in_flight)
    }

    /// Waits until no worker is busy, or `grace` has passed. Returns the number still busy.
    pub(crate) async fn wait_idle(&self, grace: Duration) -> u32 {
        let all = tokio::time::timeout(grace, self.permits.acquire_many(self.size)).await;
        match all {
            Ok(Ok(_permits)) => 0,
            _ => self.in_flight(),
        }
    }
}

pub(crate) struct Busy<'a>(&'a AtomicU32);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
