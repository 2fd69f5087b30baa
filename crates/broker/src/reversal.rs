//! 2601 冲正 (reversal) of a request whose outcome is unknown (or that an operator wants
//! undone): a new, audited 2601 request naming the original's msgid (`omsgid`) and
//! interface (`oinfno`) is processed like any other; when the platform confirms it, the
//! original becomes REVERSED; otherwise it stays as it was, with the reason.
//!
//! Triggered by `Reverse` on the pipe (`yibao-call reverse <id>`) and, for interfaces whose
//! policy is `reverse`, automatically after a request ended UNCERTAIN.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use yibao_core::platform::session;
use yibao_proto::{ErrorCode, Overrides, RequestStatus, Response};
use yibao_store::{NewRequest, ReversalStart};

use crate::queue::not_found;
use crate::worker::Worker;

impl Worker {
    /// Reverses `request_id` (see the module docs) and answers its outcome.
    pub async fn reverse(self: &Arc<Self>, request_id: i64, wait: Duration) -> Response {
        let queue = &self.queue;
        let (new, from) = match self.reversal_of(request_id).await {
            Ok(ready) => ready,
            Err(refused) => return refused,
        };
        // Decided in the store, atomically: however many operators (or the automatic
        // policy) ask at once, one 2601 is in flight per original.
        let reversal_id = match queue.store.begin_reversal(request_id, new).await {
            Ok(ReversalStart::Started(id)) => id,
            Ok(ReversalStart::Existing {
                reversal_id,
                status,
            }) => {
                tracing::info!(request_id, reversal_id, %status, "reversal already started; waiting for it");
                return match queue.wait(reversal_id, wait).await {
                    Response::Outcome(_) => queue.result(request_id).await,
                    other => other,
                };
            }
            Ok(ReversalStart::WrongState(RequestStatus::Reversed)) => {
                return queue.result(request_id).await
            }
            Ok(ReversalStart::WrongState(status)) => return wrong_state(request_id, status),
            Ok(ReversalStart::NotFound) => return not_found(request_id),
            Err(e) => return queue.failed(e),
        };
        let verdict = match self.run(reversal_id, wait).await {
            Response::Outcome(o) => o,
            other => return other,
        };
        // A completed 2601 made the original REVERSED in the transaction that finished it
        // (so even a broker killed right then leaves no half-done reversal). Otherwise the
        // original keeps its state, with the reason.
        if verdict.status != RequestStatus::Completed {
            let status = verdict.status;
            let reason = format!(
                "冲正未成功（冲正请求 {reversal_id} 状态 {status}：{}）/ reversal not confirmed (request {reversal_id} is {status})",
                verdict.err_msg.as_deref().unwrap_or("-")
            );
            if let Err(e) = queue
                .store
                .transition(request_id, from, from, &reason)
                .await
            {
                return queue.failed(e);
            }
        }
        tracing::info!(request_id, reversal_id, status = %verdict.status, "reversal finished");
        queue.result(request_id).await
    }

    /// The 2601 request for `request_id` and the original's state, or the refusal: the
    /// interface must be reversible, the original UNCERTAIN or COMPLETED, and sent.
    async fn reversal_of(&self, request_id: i64) -> Result<(NewRequest, RequestStatus), Response> {
        let original = match self.queue.store.get(request_id).await {
            Ok(Some(v)) => v,
            Ok(None) => return Err(not_found(request_id)),
            Err(e) => return Err(self.queue.failed(e)),
        };
        let info = self.catalog.get(&original.interface_code);
        if !info.reversible {
            return Err(refuse(
                ErrorCode::BadRequest,
                format!(
                    "交易 {} 不可冲正 / interface {} cannot be reversed with 2601",
                    info.code, info.code
                ),
            ));
        }
        let from = original.status;
        if from == RequestStatus::Reversed {
            // Another operator's 2601 finished a moment ago: the answer is the state the
            // caller asked for (REVERSED), not a refusal that reads as a failure.
            return Err(self.queue.result(request_id).await);
        }
        if !matches!(from, RequestStatus::Uncertain | RequestStatus::Completed) {
            return Err(wrong_state(request_id, from));
        }
        let Some(omsgid) = original.msgid.as_deref() else {
            return Err(refuse(
                ErrorCode::BadRequest,
                format!("请求 {request_id} 从未发出，无需冲正 / request {request_id} was never sent; nothing to reverse"),
            ));
        };
        // Where the 人员编号 sits depends on the interface (data, mdtrtinfo, feedetail[*], …).
        let psn_no = serde_json::from_str::<Value>(&original.input_data)
            .ok()
            .and_then(|v| self.catalog.psn_no(&original.interface_code, &v))
            .unwrap_or_default();
        let input = session::reversal_input(&psn_no, omsgid, &info.code);
        let new = NewRequest {
            interface_code: yibao_core::codes::REVERSAL.into(),
            input_data: input.to_string(),
            overrides: Overrides::default(),
            expires_at: None,
        };
        Ok((new, from))
    }
}

fn wrong_state(request_id: i64, status: RequestStatus) -> Response {
    refuse(
        ErrorCode::BadRequest,
        format!(
            "请求 {request_id} 状态为 {status}，只能冲正 UNCERTAIN 或 COMPLETED 的请求 / \
             request {request_id} is {status}; only UNCERTAIN or COMPLETED requests can be reversed"
        ),
    )
}

fn refuse(code: ErrorCode, message: String) -> Response {
    Response::Error { code, message }
}
