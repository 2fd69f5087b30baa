//! One HTTP attempt and the retry loop around it. Every attempt gets a fresh msgid that is
//! recorded (with the store's send gate: current claim, deadline not passed) *before* the
//! envelope leaves; whether a failed attempt is followed by another is [`crate::safety`]'s
//! decision.

use std::time::Instant;

use serde_json::Value;
use yibao_core::{InterfaceInfo, ResponseEnvelope, TransportError, TransportErrorKind};
use yibao_store::{AttemptEnd, AttemptOutcome, ClaimedRequest, Holder, StoreError};

use crate::safety::{fate, Evidence, Failure, Fate};
use crate::service::Broker;
use crate::signin::is_sign_in_rejection;

/// Why processing stopped without a verdict of its own to write.
pub(crate) enum Abandon {
    /// The claim was superseded (fencing token): another claim owns the row.
    LeaseLost,
    /// The store refused the attempt: the request's deadline has passed.
    Expired,
    /// The store failed in a way retrying did not mend.
    Store(StoreError),
}

impl From<StoreError> for Abandon {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost(_) => Abandon::LeaseLost,
            StoreError::Expired(_) => Abandon::Expired,
            e => Abandon::Store(e),
        }
    }
}

/// Fresh msgids tried before giving up when the database says each was already used.
const MAX_MSGID_COLLISIONS: u32 = 50;

/// One HTTP attempt, as far as it got.
pub(crate) struct Attempt {
    pub(crate) attempt_id: i64,
    /// 1 for the request's first attempt; counts resends after a refused sign-in too.
    pub(crate) number: u32,
    pub(crate) msgid: String,
    pub(crate) elapsed_ms: u64,
    pub(crate) result: AttemptResult,
}

pub(crate) enum AttemptResult {
    /// A readable response envelope (`body` is its JSON text, stored verbatim).
    Reply {
        body: String,
        envelope: ResponseEnvelope,
    },
    /// Something came back but it is not a response envelope.
    Unreadable { message: String },
    /// No usable reply.
    Transport(TransportError),
}

impl AttemptResult {
    /// How it failed, if it did not bring a readable reply.
    pub(crate) fn failure(&self) -> Option<Failure> {
        match self {
            AttemptResult::Reply { .. } => None,
            AttemptResult::Unreadable { .. } => Some(Failure::Unreadable),
            AttemptResult::Transport(e) => Some(Failure::Transport(e.kind)),
        }
    }
}

impl Attempt {
    pub(crate) fn end(&self) -> AttemptEnd {
        AttemptEnd {
            attempt_id: self.attempt_id,
            outcome: attempt_outcome(&self.result),
            duration_ms: self.elapsed_ms,
        }
    }

    /// A business error saying the sign-in is no longer valid (the request was refused,
    /// not applied).
    pub(crate) fn rejects_sign_in(&self) -> bool {
        matches!(&self.result, AttemptResult::Reply { envelope, .. }
            if !envelope.is_success() && is_sign_in_rejection(envelope.err_msg.as_deref()))
    }
}

impl Broker {
    /// Sends attempts until one brings a reply or fails in a way that may not be sent again
    /// ([`crate::safety::fate`]). Every attempt but the last is closed here; the caller
    /// concludes with the last one.
    pub(crate) async fn attempt_with_retries(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
        info: &InterfaceInfo,
        sign_no: &str,
        input: &Value,
        first_number: u32,
    ) -> Result<Attempt, Abandon> {
        let mut done = 1;
        let mut a = self
            .attempt(c, holder, sign_no, input.clone(), first_number)
            .await?;
        loop {
            let Some(failure) = a.result.failure() else {
                return Ok(a);
            };
            let evidence = Evidence::of_failure(failure);
            if fate(info.class, evidence, self.retry.budget_left(done)) != Fate::SendAgain {
                return Ok(a);
            }
            self.close(&a).await?;
            tokio::time::sleep(self.retry.delay(done)).await;
            tracing::info!(
                failed_msgid = %a.msgid,
                next_attempt = a.number + 1,
                "retrying: {}",
                describe_failure(&a.result)
            );
            done += 1;
            a = self
                .attempt(c, holder, sign_no, input.clone(), a.number + 1)
                .await?;
        }
    }

    /// Sends one attempt: a fresh msgid, recorded before the envelope leaves.
    async fn attempt(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
        sign_no: &str,
        input: Value,
        number: u32,
    ) -> Result<Attempt, Abandon> {
        // The attempts table's unique msgid is the last word on uniqueness: another broker
        // on the same database may have issued the same id. Nothing was sent yet, so a
        // collision just means "take the next one".
        let mut collisions = 0;
        let (msgid, attempt_id) = loop {
            let msgid = self.ids.next_id();
            let begun = self
                .durably("recording an attempt", || {
                    self.store.begin_attempt(
                        c.request_id,
                        holder,
                        &c.interface_code,
                        &msgid,
                        self.lease_until(),
                    )
                })
                .await;
            match begun {
                Ok(id) => break (msgid, id),
                Err(StoreError::DuplicateMsgid(m)) if collisions < MAX_MSGID_COLLISIONS => {
                    collisions += 1;
                    self.ids.skip_ahead();
                    tracing::warn!("msgid {m} already used by another broker; set broker.msgid_node per broker");
                }
                Err(e) => return Err(Abandon::from(e)),
            }
        };
        let envelope = self.defaults.build(
            &c.interface_code,
            msgid.clone(),
            sign_no,
            &c.overrides,
            input,
        );
        let started = Instant::now();
        let result = match serde_json::to_vec(&envelope) {
            Err(e) => AttemptResult::Transport(TransportError {
                kind: TransportErrorKind::Seal,
                message: e.to_string(),
            }),
            Ok(bytes) => match self.client.send(bytes).await {
                Err(e) => {
                    self.metrics.record_platform(Some(e.message.clone()));
                    AttemptResult::Transport(e)
                }
                Ok(body) => match ResponseEnvelope::parse(&body) {
                    Ok(envelope) => AttemptResult::Reply {
                        body: String::from_utf8_lossy(&body).into_owned(),
                        envelope,
                    },
                    Err(e) => AttemptResult::Unreadable {
                        message: format!("{e}: {}", yibao_core::response::preview(&body)),
                    },
                },
            },
        };
        Ok(Attempt {
            attempt_id,
            number,
            msgid,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            result,
        })
    }

    /// Closes an attempt that is not the request's last.
    pub(crate) async fn close(&self, a: &Attempt) -> Result<(), Abandon> {
        let end = a.end();
        self.durably("closing an attempt", || {
            self.store
                .end_attempt(end.attempt_id, end.outcome, end.duration_ms)
        })
        .await
        .map_err(Abandon::from)
    }
}

fn attempt_outcome(r: &AttemptResult) -> AttemptOutcome {
    match r {
        AttemptResult::Reply { envelope, .. } if envelope.is_success() => AttemptOutcome::Success,
        AttemptResult::Reply { .. } => AttemptOutcome::BusinessError,
        _ => AttemptOutcome::TransportError,
    }
}

pub(crate) fn describe_failure(r: &AttemptResult) -> String {
    match r {
        AttemptResult::Reply { envelope, .. } => format!(
            "infcode={} {}",
            envelope.infcode,
            envelope.err_msg.as_deref().unwrap_or_default()
        ),
        AttemptResult::Unreadable { message } => {
            format!("平台应答无法识别 / unreadable platform reply: {message}")
        }
        AttemptResult::Transport(e) => match e.kind {
            TransportErrorKind::NotSent => {
                format!("无法连接医保平台，请求未发出 / platform unreachable, nothing sent: {e}")
            }
            TransportErrorKind::Timeout => format!(
                "医保平台应答超时，请求可能已生效，请核对 / platform timed out; the request may have taken effect: {e}"
            ),
            _ => format!("与医保平台通讯失败 / transport failure: {e}"),
        },
    }
}
