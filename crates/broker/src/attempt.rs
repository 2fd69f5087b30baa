//! One attempt and the retry loop around it. Every attempt gets a fresh msgid that is
//! recorded (with the store's send gate: current claim, deadline not passed) *before* the
//! envelope leaves; the exchange itself is [`yibao_core::Platform::exchange`]; whether a
//! failed attempt is followed by another is [`crate::safety`]'s decision.

use std::time::Instant;

use serde_json::Value;
use yibao_core::{codes, InterfaceInfo, Message, Outcome, TransportError, TransportErrorKind};
use yibao_store::{AttemptEnd, AttemptOutcome, ClaimedRequest, Holder, StoreError};

use crate::safety::{fate, Evidence, Failure, Fate};
use crate::worker::Worker;

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

/// One attempt, as far as it got.
pub(crate) struct Attempt {
    pub(crate) attempt_id: i64,
    /// 1 for the request's first attempt; counts resends after a refused sign-in too.
    pub(crate) number: u32,
    pub(crate) msgid: String,
    pub(crate) elapsed_ms: u64,
    pub(crate) outcome: Outcome,
}

impl Attempt {
    pub(crate) fn end(&self) -> AttemptEnd {
        AttemptEnd {
            attempt_id: self.attempt_id,
            outcome: match &self.outcome {
                Outcome::Success(_) => AttemptOutcome::Success,
                Outcome::Refused(_) => AttemptOutcome::BusinessError,
                Outcome::Unreadable { .. } | Outcome::Transport(_) => {
                    AttemptOutcome::TransportError
                }
            },
            duration_ms: self.elapsed_ms,
        }
    }
}

/// What is sent, attempt after attempt, for one claimed row.
pub(crate) struct Sending<'a> {
    pub(crate) claimed: &'a ClaimedRequest,
    pub(crate) holder: &'a Holder,
    pub(crate) sign_no: &'a str,
    pub(crate) input: &'a Value,
}

impl Worker {
    /// Sends attempts until one brings a reply or fails in a way that may not be sent again
    /// ([`crate::safety::fate`]). Every attempt but the last is closed here; the caller
    /// concludes with the last one.
    pub(crate) async fn attempt_with_retries(
        &self,
        s: &Sending<'_>,
        info: &InterfaceInfo,
        first_number: u32,
    ) -> Result<Attempt, Abandon> {
        let mut done = 1;
        let mut a = self.attempt(s, first_number).await?;
        loop {
            let Some(failure) = Failure::of(&a.outcome) else {
                return Ok(a);
            };
            let evidence = Evidence::of_failure(failure);
            let budget_left = self.retry.budget_left(done) && !failure.is_final();
            if fate(info.class, evidence, budget_left) != Fate::SendAgain {
                return Ok(a);
            }
            self.close(&a).await?;
            tokio::time::sleep(self.retry.delay(done)).await;
            tracing::info!(
                failed_msgid = %a.msgid,
                next_attempt = a.number + 1,
                "retrying: {}",
                a.outcome.describe()
            );
            done += 1;
            a = self.attempt(s, a.number + 1).await?;
        }
    }

    /// Sends one attempt: a fresh msgid, recorded before the envelope leaves.
    async fn attempt(&self, s: &Sending<'_>, number: u32) -> Result<Attempt, Abandon> {
        let c = s.claimed;
        let (msgid, attempt_id) = self.begin_attempt(c, s.holder).await?;
        let started = Instant::now();
        let download = (c.interface_code == codes::FILE_DOWNLOAD)
            .then(|| crate::files::download_target(&self.files, c.request_id, &msgid));
        let mut outcome = self
            .platform
            .exchange(Message {
                infno: &c.interface_code,
                msgid: &msgid,
                sign_no: s.sign_no,
                overrides: &c.overrides,
                input: s.input,
                download: download.as_ref(),
            })
            .await;
        if let (Some(_), Outcome::Success(reply)) = (&download, &outcome) {
            // The platform sent the file (known from the transport, never from the reply's
            // JSON): keep it, unpack it, record it. An infcode-0 envelope is no file.
            outcome = match &reply.file {
                None => Outcome::Unreadable {
                    message: "9102 的应答不是文件 / the 9102 answer is not a file".into(),
                },
                Some(file) => {
                    match crate::files::received(
                        &self.queue,
                        &self.files,
                        c.request_id,
                        s.input,
                        file,
                    )
                    .await
                    {
                        Ok(reply) => Outcome::Success(reply),
                        Err(crate::files::Unusable::Refused(message)) => {
                            Outcome::Transport(TransportError {
                                kind: TransportErrorKind::Refused,
                                message,
                            })
                        }
                        Err(crate::files::Unusable::Store(e)) => return Err(e.into()),
                    }
                }
            };
        }
        if let Outcome::Transport(e) = &outcome {
            self.queue.metrics.record_platform(Some(e.message.clone()));
        }
        Ok(Attempt {
            attempt_id,
            number,
            msgid,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome,
        })
    }

    /// A fresh msgid, recorded through the store's send gate. The attempts table's unique
    /// msgid is the last word on uniqueness: another broker on the same database may have
    /// issued the same id. Nothing was sent yet, so a collision just means "take the next".
    async fn begin_attempt(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
    ) -> Result<(String, i64), Abandon> {
        let queue = &self.queue;
        let mut collisions = 0;
        loop {
            let msgid = self.ids.next_id();
            let begun = queue
                .durably("recording an attempt", || {
                    queue.store.begin_attempt(yibao_store::AttemptStart {
                        request_id: c.request_id,
                        holder: holder.clone(),
                        infno: c.interface_code.clone(),
                        msgid: msgid.clone(),
                        lease_until_ms: queue.lease_until(),
                    })
                })
                .await;
            match begun {
                Ok(id) => return Ok((msgid, id)),
                Err(StoreError::DuplicateMsgid(m)) if collisions < MAX_MSGID_COLLISIONS => {
                    collisions += 1;
                    self.ids.skip_ahead();
                    tracing::warn!("msgid {m} already used by another broker; set broker.msgid_node per broker");
                }
                Err(e) => return Err(Abandon::from(e)),
            }
        }
    }

    /// Closes an attempt that is not the request's last.
    pub(crate) async fn close(&self, a: &Attempt) -> Result<(), Abandon> {
        let end = a.end();
        let store = &self.queue.store;
        self.queue
            .durably("closing an attempt", || store.end_attempt(end))
            .await
            .map_err(Abandon::from)
    }
}
