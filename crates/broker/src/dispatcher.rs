//! The dispatcher: finds PENDING rows and hands them to the worker pool.
//!
//! It wakes on a kick (an async `Call`, a `Kick`, a worker that just freed a slot) or when
//! its [`Pace`] says, so rows inserted by plain SQL — with no shim at all — are found too. It
//! claims no more rows than there are free workers: a claimed row is leased to this broker,
//! and leasing rows it cannot start would only keep other brokers from them.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::StoreOp;
use crate::pace::Pace;
use crate::shutdown::Shutdown;
use crate::worker::Worker;

pub async fn run(
    worker: Arc<Worker>,
    mut pace: Pace,
    recover_interval: Duration,
    mut shutdown: Shutdown,
) {
    // Recovery first: rows a crashed predecessor held are due before anything new.
    let mut next_recovery = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= next_recovery {
            match worker.recover_expired().await {
                Ok(_) => worker.queue.metrics.record_store(StoreOp::Recovery, None),
                Err(e) => {
                    tracing::warn!("cannot recover expired leases: {e}");
                    worker
                        .queue
                        .metrics
                        .record_store(StoreOp::Recovery, Some(&e));
                }
            }
            next_recovery = tokio::time::Instant::now() + recover_interval;
        }
        match fill_workers(&worker).await {
            Ok(claimed) => {
                worker.queue.metrics.record_store(StoreOp::Poll, None);
                pace.looked(claimed);
            }
            Err(e) => {
                tracing::warn!("cannot claim pending requests: {e}");
                worker.queue.metrics.record_store(StoreOp::Poll, Some(&e));
                pace.failed();
            }
        }
        let until_recovery = next_recovery.saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            _ = worker.queue.woken() => pace.woken(),
            _ = tokio::time::sleep(pace.next().min(until_recovery)) => {}
            _ = shutdown.recv() => break,
        }
    }
    tracing::debug!("dispatcher stopped");
}

/// Claims as many due rows as there are free workers and starts them; returns how many.
/// With every worker busy it does not look: a worker that frees its slot wakes the dispatcher.
async fn fill_workers(worker: &Arc<Worker>) -> Result<usize, yibao_store::StoreError> {
    let queue = &worker.queue;
    let mut started = 0;
    loop {
        let free = worker.pool.available();
        if free == 0 {
            return Ok(started);
        }
        let limit = u32::try_from(free.min(64)).unwrap_or(64);
        let claimed = queue.store.claim_pending(queue.claim_spec(limit)).await?;
        let got = claimed.len();
        for c in claimed {
            let permit = match worker.pool.try_acquire() {
                Some(permit) => permit,
                // A `Run` took the slot meanwhile: wait for one (the row is already ours).
                None => match worker.pool.acquire().await {
                    Some(permit) => permit,
                    None => return Ok(started),
                },
            };
            worker.spawn(c, permit);
            started += 1;
        }
        if got < limit as usize {
            return Ok(started);
        }
    }
}
