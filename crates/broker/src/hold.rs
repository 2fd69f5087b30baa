//! Keeping a request while it is in this broker's hands, and writing what must not be lost.
//!
//! * [`Queue::hold`] runs the work on a claimed row with a heartbeat that extends its lease
//!   every third of the lease — through a slow sign-in, backoff between retries, a long
//!   call — and registers the row as held, so this broker's own recovery never takes a row
//!   it is still working on. If the heartbeat cannot reach the store for longer than the
//!   lease, another broker may recover and claim the row; the fencing token then stops
//!   this holder from sending or writing anything more.
//! * [`Queue::durably`] retries a store write while the store is unavailable (locked,
//!   disk full, connection lost) for as long as the process lives: a reply in hand is
//!   written when the store comes back, never replaced by recovery's guess.

use std::future::Future;
use std::time::Duration;

use yibao_store::{Holder, StoreError};

use crate::metrics::StoreOp;
use crate::queue::Queue;

/// Longest pause between two tries of a store write: short, because while a reply waits
/// here another broker's recovery may mark the row UNCERTAIN, which callers then see.
const MAX_PAUSE: Duration = Duration::from_millis(500);
/// Tries of a write that failed with an error other than "unavailable" (a deadlock victim,
/// a constraint the store reported as a plain error) before it is given up.
const MAX_OTHER_ERRORS: u32 = 5;

impl Queue {
    /// Runs `work` on the claimed row `request_id` while heartbeating its lease.
    pub(crate) async fn hold<T>(
        &self,
        request_id: i64,
        holder: &Holder,
        work: impl Future<Output = T>,
    ) -> T {
        let _held = self.held.insert(request_id);
        let beat = async {
            loop {
                tokio::time::sleep(self.lease() / 3).await;
                match self
                    .store
                    .heartbeat(request_id, holder, self.lease_until())
                    .await
                {
                    Ok(true) => self.metrics.record_store(StoreOp::Write, None),
                    Ok(false) => {
                        // Superseded: the fencing token already stops every later step.
                        tracing::warn!(request_id, "lease lost; another claim holds the request");
                        std::future::pending::<()>().await;
                    }
                    Err(e) => {
                        tracing::warn!(request_id, "cannot extend the lease: {e}");
                        self.metrics.record_store(StoreOp::Write, Some(&e));
                    }
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => out,
            // The heartbeat never ends on its own; if it did, the work still finishes.
            () = beat => work.await,
        }
    }

    /// Runs the store operation `op`, trying again while the store is unavailable (see
    /// the module docs). Other errors are returned after a few tries.
    pub(crate) async fn durably<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut pause = Duration::from_millis(50);
        let mut others = 0;
        loop {
            match op().await {
                Ok(v) => {
                    self.metrics.record_store(StoreOp::Write, None);
                    return Ok(v);
                }
                Err(e) => {
                    let transient = matches!(e, StoreError::Unavailable(_));
                    if !transient {
                        others += 1;
                        if others >= MAX_OTHER_ERRORS
                            || matches!(
                                e,
                                StoreError::LeaseLost(_)
                                    | StoreError::Expired(_)
                                    | StoreError::DuplicateMsgid(_)
                                    | StoreError::Corrupt(_)
                            )
                        {
                            return Err(e);
                        }
                    }
                    self.metrics.record_store(StoreOp::Write, Some(&e));
                    tracing::warn!("{what}: {e}; trying again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }
}
