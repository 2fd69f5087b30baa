//! Recovery of rows whose lease expired: their broker crashed, was killed, or could not
//! reach the store to heartbeat. Run at start-up and every `recover_interval_ms` by the
//! dispatcher. The verdict is [`crate::safety::fate`] on the lease's evidence:
//!
//! * claimed by this product and no attempt begun → nothing can have reached the platform
//!   → PENDING (run again);
//! * read-only interface → PENDING (a repeat is harmless);
//! * state-changing with an attempt, or left PROCESSING by something other than this
//!   product (no evidence either way) → UNCERTAIN, naming the msgid that may have been
//!   applied, for reconciliation or 冲正. Never resent automatically.
//!
//! Rows this broker process still holds are never recovered by it, whatever their lease
//! says: a row in its hands is heartbeating, and if the store missed the beats the holder
//! will write its result when the store comes back. After this broker saw the store
//! unreachable, recovery waits until it has been reachable for a whole lease, so the
//! holders on other brokers get to renew their leases or write their replies first.

use std::sync::Arc;

use yibao_core::UncertainPolicy;
use yibao_proto::RequestStatus;
use yibao_store::{ExpiredLease, StoreError};

use crate::safety::{fate, Evidence, Fate};
use crate::worker::Worker;

/// Rows looked at per pass.
const BATCH: u32 = 256;

impl Worker {
    /// Recovers every expired lease; returns how many rows were moved.
    pub(crate) async fn recover_expired(self: &Arc<Self>) -> Result<usize, StoreError> {
        // While the store was unreachable nobody could heartbeat: every lease ran out. Only
        // once it has been reachable for a whole lease again does an expired lease show a
        // dead holder (a live one has renewed it meanwhile, or written its reply).
        let queue = &self.queue;
        if !queue.metrics.store_stable_for(queue.lease()) {
            tracing::debug!("recovery waits: the store was unreachable less than a lease ago");
            return Ok(0);
        }
        let now = yibao_core::time::epoch_ms();
        let mut moved = 0;
        loop {
            let expired = queue.store.expired_leases(now, BATCH).await?;
            let n = expired.len();
            let before = moved;
            for lease in &expired {
                if queue.held.contains(lease.request_id) {
                    continue;
                }
                let (status, reason) = self.verdict(lease);
                if queue.store.recover(lease, now, status, &reason).await? {
                    tracing::warn!(request_id = lease.request_id, %status, "recovered an expired lease");
                    moved += 1;
                    if status.is_terminal() {
                        queue.announce(lease.request_id, status);
                    }
                    // The configured policy covers a crash as much as a timeout.
                    let policy = self.catalog.get(&lease.interface_code).on_uncertain;
                    if status == RequestStatus::Uncertain && policy == UncertainPolicy::Reverse {
                        self.clone().reverse_if_uncertain(lease.request_id);
                    }
                }
            }
            // A full batch of rows someone else is recovering would come back unchanged.
            if n < BATCH as usize || moved == before {
                return Ok(moved);
            }
        }
    }

    fn verdict(&self, lease: &ExpiredLease) -> (RequestStatus, String) {
        let class = self.catalog.get(&lease.interface_code).class;
        let evidence = Evidence::of_expired_lease(lease);
        let holder = lease.worker_id.as_deref().unwrap_or("?");
        let msgid = lease.last_msgid.as_deref().unwrap_or("-");
        match (fate(class, evidence, true), evidence) {
            (Fate::SendAgain, Evidence::NotSent) => (
                RequestStatus::Pending,
                format!("处理进程 {holder} 中断，请求尚未发出，已重新排队 / worker {holder} stopped before sending; requeued"),
            ),
            (Fate::SendAgain, _) => (
                RequestStatus::Pending,
                format!("处理进程 {holder} 中断，只读交易重新排队 / worker {holder} stopped; read-only request requeued"),
            ),
            (_, Evidence::Unknown) => (
                RequestStatus::Uncertain,
                "该请求被置为 PROCESSING 但不是由 yibao 认领的（如原设计的程序中断），无法证明未发送，结果不确定，请核对或冲正 / \
                 the row was left PROCESSING by something other than yibao (e.g. the original design's program), so nothing \
                 proves it was not sent; outcome unknown, reconcile or reverse"
                    .to_string(),
            ),
            _ => (
                RequestStatus::Uncertain,
                format!(
                    "处理进程 {holder} 在发送后中断，结果不确定，请按 msgid 核对或冲正 / \
                     worker {holder} stopped after sending; outcome unknown, reconcile or reverse it: msgid {msgid}"
                ),
            ),
        }
    }
}
