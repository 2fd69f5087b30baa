//! Recovery of rows whose lease expired: their broker crashed, was killed, or hung. Run at
//! start-up and every `recover_interval_ms` by the dispatcher.
//!
//! * no attempt was begun → nothing can have reached the platform → PENDING (run again);
//! * read-only interface → PENDING (a repeat is harmless);
//! * state-changing interface with an attempt → UNCERTAIN, naming the msgid that may have
//!   been applied, for reconciliation or 冲正. Never resent automatically.

use yibao_core::InterfaceClass;
use yibao_proto::RequestStatus;
use yibao_store::StoreError;

use crate::service::Broker;

/// Rows looked at per pass.
const BATCH: u32 = 256;

impl Broker {
    /// Recovers every expired lease; returns how many rows were moved.
    pub(crate) async fn recover_expired(&self) -> Result<usize, StoreError> {
        let now = yibao_core::time::epoch_ms();
        let mut moved = 0;
        loop {
            let expired = self.store.expired_leases(now, BATCH).await?;
            let n = expired.len();
            let before = moved;
            for lease in &expired {
                let class = self.catalog.get(&lease.interface_code).class;
                let holder = lease.worker_id.as_deref().unwrap_or("?");
                let (status, reason) = if lease.attempts == 0 {
                    (
                        RequestStatus::Pending,
                        format!("处理进程 {holder} 中断，请求尚未发出，已重新排队 / worker {holder} stopped before sending; requeued"),
                    )
                } else if class == InterfaceClass::ReadOnly {
                    (
                        RequestStatus::Pending,
                        format!("处理进程 {holder} 中断，只读交易重新排队 / worker {holder} stopped; read-only request requeued"),
                    )
                } else {
                    let msgid = lease.last_msgid.as_deref().unwrap_or("-");
                    (
                        RequestStatus::Uncertain,
                        format!(
                            "处理进程 {holder} 在发送后中断，结果不确定，请按 msgid {msgid} 核对或冲正 / \
                             worker {holder} stopped after sending; outcome unknown, reconcile or reverse msgid {msgid}"
                        ),
                    )
                };
                if self.store.recover(lease, now, status, &reason).await? {
                    tracing::warn!(request_id = lease.request_id, %status, "recovered an expired lease");
                    moved += 1;
                    if status.is_terminal() {
                        self.announce(lease.request_id, status);
                    }
                }
            }
            // A full batch of rows someone else is recovering would come back unchanged.
            if n < BATCH as usize || moved == before {
                return Ok(moved);
            }
        }
    }
}
