//! Processing one claimed request to a terminal state: check the row and the input, make
//! sure the operator is signed in, send attempts ([`crate::attempt`]), and write response +
//! status in one transaction.
//!
//! Nothing here returns an error to its caller: every failure ends as a row state with an
//! explanation the HIS can read in `v_medical_insurance_result.err_msg`. The row is held
//! ([`crate::queue::Queue::hold`]) the whole time, so its lease cannot run out under a slow sign-in.
//! Only a superseded claim leaves the row as it is (whoever claimed it since owns it).

use std::time::Instant;

use serde_json::json;
use tracing::Instrument;
use yibao_core::platform::session::sign_no_from_output;
use yibao_core::{InterfaceInfo, Outcome};
use yibao_proto::RequestStatus;
use yibao_store::{
    AttemptEnd, ClaimedRequest, Finish, Holder, Origin, ResponseRow, EXPIRED_REASON,
};

use crate::attempt::{Abandon, Attempt, Sending};
use crate::safety::{fate, Evidence, Failure, Fate};
use crate::worker::Worker;

/// One span per request: every line logged while it is processed carries the request id
/// and code; the deciding attempt's msgid and number and the final status are recorded
/// once, when known.
pub(crate) fn request_span(c: &ClaimedRequest) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = c.request_id,
        infno = %c.interface_code,
        msgid = tracing::field::Empty,
        attempt = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}

impl Worker {
    /// Takes a claimed row to a terminal state (see the module docs).
    pub(crate) async fn process(&self, c: ClaimedRequest) {
        let span = request_span(&c);
        let holder = c.holder(self.queue.worker_id());
        self.queue
            .hold(c.request_id, &holder, self.process_in_span(&c, &holder))
            .instrument(span)
            .await
    }

    async fn process_in_span(&self, c: &ClaimedRequest, holder: &Holder) {
        let id = c.request_id;
        let started = Instant::now();
        let result = self.process_inner(c, holder).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(Some(sign_no)) if c.interface_code == yibao_core::codes::SIGN_IN => {
                // A 9001 sent by the HIS itself also opens a session for its operator.
                self.sessions
                    .put(self.platform.operator(&c.overrides), sign_no);
            }
            Ok(_) => {}
            Err(Abandon::LeaseLost | Abandon::Expired) => {
                tracing::warn!(
                    request_id = id,
                    "lease lost; another worker owns the request"
                )
            }
            Err(Abandon::Store(e)) => {
                tracing::error!(request_id = id, "database failed while processing: {e}")
            }
        }
        self.queue
            .metrics
            .record_latency(&c.interface_code, latency_ms);
        tracing::info!(latency_ms, "processed");
    }

    /// Returns the sign_no when the request was a successful 9001.
    async fn process_inner(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
    ) -> Result<Option<String>, Abandon> {
        // One unreadable row ends alone, with its reason; the queue behind it flows.
        if let Some(defect) = &c.defect {
            let reason = format!(
                "请求行无法读取，未发送 / the request row cannot be read, nothing sent: {defect}"
            );
            return self.reject_unsent(c, holder, reason).await.map(|_| None);
        }
        if c.expired {
            return self
                .reject_unsent(c, holder, EXPIRED_REASON.into())
                .await
                .map(|_| None);
        }
        let (info, mut input) = match self.check(&c.interface_code, &c.input_data) {
            Ok(checked) => checked,
            Err(reason) => return self.reject_unsent(c, holder, reason).await.map(|_| None),
        };
        if c.interface_code == yibao_core::codes::FILE_UPLOAD {
            // A 9101 that names its file (file_path, file_id) gets the bytes now.
            input = match crate::upload::prepare(&self.queue, &self.files, input).await {
                Ok(ready) => ready,
                Err(crate::upload::NotSent::Refused(reason)) => {
                    return self.reject_unsent(c, holder, reason).await.map(|_| None)
                }
                Err(crate::upload::NotSent::Store(e)) => return Err(e.into()),
            };
        }
        let operator = self.platform.operator(&c.overrides).to_string();
        let mut sign_no = String::new();
        if info.needs_sign_no {
            match self.sign_no_for(&operator, &c.overrides).await? {
                Ok(s) => sign_no = s,
                Err(reason) => return self.reject_unsent(c, holder, reason).await.map(|_| None),
            }
        }
        let sent = async {
            let sending = Sending {
                claimed: c,
                holder,
                sign_no: &sign_no,
                input: &input,
            };
            let mut attempt = self.attempt_with_retries(&sending, &info, 1).await?;
            if info.needs_sign_no && attempt.outcome.rejects_sign_in() {
                // The platform forgot the session (restart, expiry): sign in again and
                // resend once with a fresh msgid. The refused request was not applied, so
                // this is safe for every class. The refused attempt stays on record.
                self.sessions.invalidate(&operator, &sign_no);
                if let Ok(Ok(fresh)) = self.sign_no_for(&operator, &c.overrides).await {
                    self.close(&attempt).await?;
                    let resend = Sending {
                        sign_no: &fresh,
                        ..sending
                    };
                    attempt = self
                        .attempt_with_retries(&resend, &info, attempt.number + 1)
                        .await?;
                }
            }
            Ok::<_, Abandon>(attempt)
        };
        match sent.await {
            Ok(attempt) => self.conclude(c, holder, &info, attempt).await,
            // The deadline passed before an attempt could start: never sent, never will be.
            Err(Abandon::Expired) => self
                .reject_unsent(c, holder, EXPIRED_REASON.into())
                .await
                .map(|_| None),
            Err(e) => Err(e),
        }
    }

    /// Writes the verdict of the last attempt.
    pub(crate) async fn conclude(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
        info: &InterfaceInfo,
        a: Attempt,
    ) -> Result<Option<String>, Abandon> {
        // Recorded once, with the attempt that decided the request.
        let span = tracing::Span::current();
        span.record("msgid", tracing::field::display(&a.msgid));
        span.record("attempt", a.number);
        if !matches!(a.outcome, Outcome::Transport(_)) {
            self.queue.metrics.record_platform(None);
        }
        let end = a.end();
        let failure = Failure::of(&a.outcome);
        let mut sign_no = None;
        let success = a.outcome.is_success();
        let (status, response, error) = match a.outcome {
            Outcome::Success(reply) | Outcome::Refused(reply) => {
                let envelope = reply.envelope;
                let (status, fields) = if success {
                    if c.interface_code == yibao_core::codes::SIGN_IN {
                        sign_no = sign_no_from_output(&envelope.output);
                    }
                    let fields = self.output_fields(&c.interface_code, &envelope.output);
                    (RequestStatus::Completed, fields)
                } else {
                    (RequestStatus::Error, Vec::new())
                };
                let row = ResponseRow {
                    response_data: reply.body,
                    infcode: Some(envelope.infcode.to_string()),
                    err_msg: envelope.err_msg.filter(|m| !m.is_empty()),
                    origin: Origin::Platform,
                    fields,
                };
                (status, Some(row), None)
            }
            other => {
                let reason = other.describe();
                // A state-changing call that may have reached the platform must not look
                // like a clean failure the HIS would simply repeat (double settlement).
                let evidence = failure.map_or(Evidence::MayHaveBeenSent, Evidence::of_failure);
                let status = match fate(info.class, evidence, false) {
                    Fate::Uncertain => RequestStatus::Uncertain,
                    Fate::Error | Fate::SendAgain => RequestStatus::Error,
                };
                (status, Some(broker_row(&reason)), Some(reason))
            }
        };
        self.write_finish(c, holder, status, Some((end, &a.msgid)), response, error)
            .await?;
        Ok(sign_no)
    }

    /// Ends a request as ERROR with the broker's own reason (nothing was sent for it).
    async fn reject_unsent(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
        reason: String,
    ) -> Result<(), Abandon> {
        tracing::info!(
            request_id = c.request_id,
            "rejected before sending: {reason}"
        );
        let row = Some(broker_row(&reason));
        self.write_finish(c, holder, RequestStatus::Error, None, row, Some(reason))
            .await
    }

    /// Writes the verdict, trying again while the store is unavailable: a reply in hand is
    /// written when the store comes back, not replaced by recovery's guess.
    async fn write_finish(
        &self,
        c: &ClaimedRequest,
        holder: &Holder,
        status: RequestStatus,
        attempt: Option<(AttemptEnd, &str)>,
        response: Option<ResponseRow>,
        error: Option<String>,
    ) -> Result<(), Abandon> {
        let finish = Finish {
            request_id: c.request_id,
            holder: holder.clone(),
            status,
            attempt: attempt.map(|(end, _)| end),
            response,
            error,
        };
        let store = &self.queue.store;
        let written = self
            .queue
            .durably("writing the result", || store.finish(finish.clone()))
            .await;
        match written {
            Ok(true) => {
                tracing::Span::current().record("status", tracing::field::display(status));
                if status == RequestStatus::Uncertain {
                    // Someone must find out whether the platform applied it (冲正 or 对账).
                    tracing::warn!(
                        request_id = c.request_id,
                        msgid = attempt.map(|(_, m)| m).unwrap_or(""),
                        "UNCERTAIN: the platform may have applied it; reverse or reconcile: {}",
                        finish.error.as_deref().unwrap_or("")
                    );
                    crate::eventlog::report(
                        crate::eventlog::Event::Uncertain,
                        &format!(
                            "请求 {id}（{code}）结果不确定：平台可能已受理，请冲正或对账 / request {id} ({code}) is UNCERTAIN: the platform may have applied it; reverse or reconcile. msgid {msgid}: {why}",
                            id = c.request_id,
                            code = c.interface_code,
                            msgid = attempt.map(|(_, m)| m).unwrap_or("-"),
                            why = finish.error.as_deref().unwrap_or("")
                        ),
                    );
                }
                self.queue.announce(c.request_id, status);
                Ok(())
            }
            Ok(false) if self.already_written(c.request_id, status, attempt).await => {
                // An earlier try committed but its answer was lost on the way back (a
                // dropped connection): the verdict is in the store.
                self.queue.announce(c.request_id, status);
                Ok(())
            }
            Ok(false) => {
                if finish
                    .response
                    .as_ref()
                    .is_some_and(|r| r.origin == Origin::Platform)
                {
                    tracing::error!(
                        request_id = c.request_id,
                        %status,
                        "the platform's reply could not be written: the request was claimed again or a 冲正 was started meanwhile; reconcile it"
                    );
                }
                Err(Abandon::LeaseLost)
            }
            Err(e) => Err(Abandon::from(e)),
        }
    }
}

impl Worker {
    /// Whether the row already shows this verdict for this attempt's msgid.
    async fn already_written(
        &self,
        request_id: i64,
        status: RequestStatus,
        attempt: Option<(AttemptEnd, &str)>,
    ) -> bool {
        let Some((_, msgid)) = attempt else {
            return false;
        };
        matches!(self.queue.store.get(request_id).await,
            Ok(Some(v)) if v.status == status && v.msgid.as_deref() == Some(msgid))
    }
}

/// The response row the broker writes when the platform gave none, in the platform's own
/// error shape so HIS code reading `response_data` needs no special case.
fn broker_row(reason: &str) -> ResponseRow {
    ResponseRow {
        response_data: json!({ "infcode": -1, "err_msg": reason }).to_string(),
        infcode: Some("-1".into()),
        err_msg: Some(reason.to_string()),
        origin: Origin::Broker,
        fields: Vec::new(),
    }
}
