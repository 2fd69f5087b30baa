//! Processing one claimed request to a terminal state: check the row and the input, make
//! sure the operator is signed in, send attempts ([`crate::attempt`]), and write response +
//! status in one transaction.
//!
//! Nothing here returns an error to its caller: every failure ends as a row state with an
//! explanation the HIS can read in `v_medical_insurance_result.err_msg`. The row is held
//! ([`Broker::hold`]) the whole time, so its lease cannot run out under a slow sign-in.
//! Only a superseded claim leaves the row as it is (whoever claimed it since owns it).

use std::time::Instant;

use serde_json::json;
use tracing::Instrument;
use yibao_core::InterfaceInfo;
use yibao_proto::{Overrides, RequestStatus};
use yibao_store::{
    AttemptEnd, ClaimedRequest, Finish, Holder, NewRequest, Origin, ResponseRow, EXPIRED_REASON,
};

use crate::attempt::{describe_failure, Abandon, Attempt, AttemptResult};
use crate::safety::{fate, Evidence, Fate};
use crate::service::Broker;
use crate::signin::sign_no_from_output;

/// One span per request: every line logged while it is processed carries the request id
/// and code; the deciding attempt's msgid and number and the final status are recorded
/// once, when known.
fn request_span(c: &ClaimedRequest) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = c.request_id,
        infno = %c.interface_code,
        msgid = tracing::field::Empty,
        attempt = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}

impl Broker {
    /// Takes a claimed row to a terminal state (see the module docs).
    pub(crate) async fn process(&self, c: ClaimedRequest) {
        let span = request_span(&c);
        let holder = c.holder(self.worker_id());
        self.hold(c.request_id, &holder, self.process_in_span(&c, &holder))
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
                    .put(self.defaults.operator(&c.overrides), sign_no);
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
        self.metrics.record_latency(&c.interface_code, latency_ms);
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
                "请求行无法读取，未发送：{defect} / the request row cannot be read, nothing sent: {defect}"
            );
            return self.reject_unsent(c, holder, reason).await.map(|_| None);
        }
        if c.expired {
            return self
                .reject_unsent(c, holder, EXPIRED_REASON.into())
                .await
                .map(|_| None);
        }
        let (info, input) = match self.check(&c.interface_code, &c.input_data) {
            Ok(checked) => checked,
            Err(reason) => return self.reject_unsent(c, holder, reason).await.map(|_| None),
        };
        let operator = self.defaults.operator(&c.overrides).to_string();
        let mut sign_no = String::new();
        if info.needs_sign_no {
            match self.sign_no_for(&operator, &c.overrides).await? {
                Ok(s) => sign_no = s,
                Err(reason) => return self.reject_unsent(c, holder, reason).await.map(|_| None),
            }
        }
        let sent = async {
            let mut attempt = self
                .attempt_with_retries(c, holder, &info, &sign_no, &input, 1)
                .await?;
            if info.needs_sign_no && attempt.rejects_sign_in() {
                // The platform forgot the session (restart, expiry): sign in again and
                // resend once with a fresh msgid. The refused request was not applied, so
                // this is safe for every class. The refused attempt stays on record.
                self.sessions.invalidate(&operator, &sign_no);
                if let Ok(Ok(fresh)) = self.sign_no_for(&operator, &c.overrides).await {
                    self.close(&attempt).await?;
                    let next = attempt.number + 1;
                    attempt = self
                        .attempt_with_retries(c, holder, &info, &fresh, &input, next)
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

    /// The cached sign_no of `operator`, signing in (single-flight) when there is none.
    /// The outer error abandons processing; the inner one is the sign-in's failure reason.
    async fn sign_no_for(
        &self,
        operator: &str,
        overrides: &Overrides,
    ) -> Result<Result<String, String>, Abandon> {
        if let Some(s) = self.sessions.get(operator) {
            return Ok(Ok(s));
        }
        let _flight = self.sessions.single_flight.lock().await;
        if let Some(s) = self.sessions.get(operator) {
            return Ok(Ok(s));
        }
        // The sign-in is a request like any other: recorded, numbered, audited.
        let input = self.defaults.sign_in_input(operator);
        let new = NewRequest {
            interface_code: yibao_core::codes::SIGN_IN.into(),
            input_data: input.to_string(),
            overrides: overrides.clone(),
            expires_at: None,
        };
        // Inserted already claimed: another broker polling the same table must not take it.
        let claimed = self
            .durably("recording a sign-in", || {
                self.store.insert_claimed(new.clone(), self.claim_spec(1))
            })
            .await?;
        let id = claimed.request_id;
        let holder = claimed.holder(self.worker_id());
        let info = self.catalog.get(yibao_core::codes::SIGN_IN);
        // The sign-in is its own request in the log too, nested in the one that needed it.
        let span = request_span(&claimed);
        let signed_in = async {
            let attempt = self
                .attempt_with_retries(&claimed, &holder, &info, "", &input, 1)
                .await?;
            let sign_no = match &attempt.result {
                AttemptResult::Reply { envelope, .. } if envelope.is_success() => {
                    sign_no_from_output(&envelope.output)
                }
                _ => None,
            };
            let why = describe_failure(&attempt.result);
            self.conclude(&claimed, &holder, &info, attempt).await?;
            Ok::<_, Abandon>((sign_no, why))
        };
        let (sign_no, why) = self.hold(id, &holder, signed_in).instrument(span).await?;
        Ok(match sign_no {
            Some(s) => {
                tracing::info!(operator = %yibao_core::privacy::mask_operator(operator), "signed in (9001)");
                self.sessions.put(operator, s.clone());
                Ok(s)
            }
            None => Err(format!(
                "9001 签到失败（请求 {id}）：{why} / 9001 sign-in failed (request {id}): {why}"
            )),
        })
    }

    /// Writes the verdict of the last attempt.
    async fn conclude(
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
        if !matches!(a.result, AttemptResult::Transport(_)) {
            self.metrics.record_platform(None);
        }
        let end = a.end();
        let failure = a.result.failure();
        let mut sign_no = None;
        let (status, response, error) = match a.result {
            AttemptResult::Reply { body, envelope } => {
                let status = if envelope.is_success() {
                    if c.interface_code == yibao_core::codes::SIGN_IN {
                        sign_no = sign_no_from_output(&envelope.output);
                    }
                    RequestStatus::Completed
                } else {
                    RequestStatus::Error
                };
                let fields = if status == RequestStatus::Completed {
                    self.output_fields(&c.interface_code, &envelope.output)
                } else {
                    Vec::new()
                };
                let row = ResponseRow {
                    response_data: body,
                    infcode: Some(envelope.infcode.to_string()),
                    err_msg: envelope.err_msg.filter(|m| !m.is_empty()),
                    origin: Origin::Platform,
                    fields,
                };
                (status, Some(row), None)
            }
            other => {
                let reason = describe_failure(&other);
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
        let written = self
            .durably("writing the result", || self.store.finish(finish.clone()))
            .await;
        match written {
            Ok(true) => {
                tracing::Span::current().record("status", tracing::field::display(status));
                self.announce(c.request_id, status);
                Ok(())
            }
            Ok(false) if self.already_written(c.request_id, status, attempt).await => {
                // An earlier try committed but its answer was lost on the way back (a
                // dropped connection): the verdict is in the store.
                self.announce(c.request_id, status);
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

impl Broker {
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
        matches!(self.store.get(request_id).await,
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
