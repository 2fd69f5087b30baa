//! Processing one claimed request to a terminal state: check the input, make sure the
//! operator is signed in, number the attempt, build and send the envelope, read the reply,
//! and write response + status in one transaction.
//!
//! Nothing here returns an error to its caller: every failure ends as a row state with an
//! explanation the HIS can read in `v_medical_insurance_result.err_msg`. Only a lost lease
//! or an unreachable database leaves the row as it is (another broker or a later recovery
//! owns it then).

use std::time::Instant;

use tracing::Instrument;

use serde_json::{json, Value};
use yibao_core::{
    InterfaceClass, InterfaceInfo, ResponseEnvelope, TransportError, TransportErrorKind,
};
use yibao_proto::{Overrides, RequestStatus};
use yibao_store::{
    AttemptOutcome, ClaimedRequest, Finish, NewRequest, Origin, ResponseRow, StoreError,
};

use crate::retry::Failure;
use crate::service::Broker;
use crate::signin::{is_sign_in_rejection, sign_no_from_output};

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

/// Fresh msgids tried before giving up when the database says each was already used.
const MAX_MSGID_COLLISIONS: u32 = 50;

/// One HTTP attempt, as far as it got.
struct Attempt {
    attempt_id: i64,
    /// 1 for the request's first attempt; counts resends after a refused sign-in too.
    number: u32,
    msgid: String,
    elapsed_ms: u64,
    result: AttemptResult,
}

enum AttemptResult {
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

/// Why processing stopped without a verdict to write.
enum Abandon {
    LeaseLost,
    Store(StoreError),
}

impl Broker {
    /// Takes a claimed row to a terminal state (see the module docs).
    pub(crate) async fn process(&self, c: ClaimedRequest) {
        let span = request_span(&c);
        self.process_in_span(c).instrument(span).await
    }

    async fn process_in_span(&self, c: ClaimedRequest) {
        let id = c.request_id;
        let started = Instant::now();
        let result = self.process_inner(&c).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(Some(sign_no)) if c.interface_code == "9001" => {
                // A 9001 sent by the HIS itself also opens a session for its operator.
                self.sessions
                    .put(self.defaults.operator(&c.overrides), sign_no);
            }
            Ok(_) => {}
            Err(Abandon::LeaseLost) => {
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
    async fn process_inner(&self, c: &ClaimedRequest) -> Result<Option<String>, Abandon> {
        let (info, input) = match self.check(&c.interface_code, &c.input_data) {
            Ok(checked) => checked,
            Err(reason) => return self.reject_unsent(c, reason).await.map(|_| None),
        };
        let operator = self.defaults.operator(&c.overrides).to_string();
        let mut sign_no = String::new();
        if info.needs_sign_no {
            match self.sign_no_for(&operator, &c.overrides).await? {
                Ok(s) => sign_no = s,
                Err(reason) => return self.reject_unsent(c, reason).await.map(|_| None),
            }
        }
        let mut attempt = self
            .attempt_with_retries(c, &info, &sign_no, &input, 1)
            .await?;
        if info.needs_sign_no && rejects_sign_in(&attempt) {
            // The platform forgot the session (restart, expiry): sign in again and resend
            // once with a fresh msgid. The refused request was not applied, so this is safe
            // for every class. The refused attempt stays on record.
            self.sessions.invalidate(&operator, &sign_no);
            if let Ok(Ok(fresh)) = self.sign_no_for(&operator, &c.overrides).await {
                self.close(&attempt).await?;
                let next = attempt.number + 1;
                attempt = self
                    .attempt_with_retries(c, &info, &fresh, &input, next)
                    .await?;
            }
        }
        self.conclude(c, &info, attempt).await
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
        let new = NewRequest {
            interface_code: "9001".into(),
            input_data: self.defaults.sign_in_input(operator).to_string(),
            overrides: overrides.clone(),
        };
        // Inserted already claimed: another broker polling the same table must not take it.
        let claimed = self
            .store
            .insert_claimed(new, self.claim_spec(1))
            .await
            .map_err(Abandon::Store)?;
        let id = claimed.request_id;
        let info = self.catalog.get("9001");
        let input = self.defaults.sign_in_input(operator);
        // The sign-in is its own request in the log too, nested in the one that needed it.
        let span = request_span(&claimed);
        let (sign_no, why) = async {
            let attempt = self
                .attempt_with_retries(&claimed, &info, "", &input, 1)
                .await?;
            let sign_no = match &attempt.result {
                AttemptResult::Reply { envelope, .. } if envelope.is_success() => {
                    sign_no_from_output(&envelope.output)
                }
                _ => None,
            };
            let why = describe_failure(&attempt.result);
            self.conclude(&claimed, &info, attempt).await?;
            Ok::<_, Abandon>((sign_no, why))
        }
        .instrument(span)
        .await?;
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

    /// Sends attempts until one succeeds or fails in a way that may not be retried
    /// ([`crate::retry`]). Every attempt but the last is closed here; the caller concludes
    /// with the last one.
    async fn attempt_with_retries(
        &self,
        c: &ClaimedRequest,
        info: &InterfaceInfo,
        sign_no: &str,
        input: &Value,
        first_number: u32,
    ) -> Result<Attempt, Abandon> {
        let mut done = 1;
        let mut a = self
            .attempt(c, sign_no, input.clone(), first_number)
            .await?;
        loop {
            let failure = match &a.result {
                AttemptResult::Reply { .. } => return Ok(a),
                AttemptResult::Unreadable { .. } => Failure::Unreadable,
                AttemptResult::Transport(e) => Failure::Transport(e.kind),
            };
            if !self.retry.may_retry(info.class, failure, done) {
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
                .attempt(c, sign_no, input.clone(), a.number + 1)
                .await?;
        }
    }

    /// Sends one attempt: a fresh msgid, recorded before the envelope leaves.
    async fn attempt(
        &self,
        c: &ClaimedRequest,
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
                .store
                .begin_attempt(
                    c.request_id,
                    self.worker_id(),
                    &c.interface_code,
                    &msgid,
                    self.lease_until(),
                )
                .await;
            match begun {
                Ok(id) => break (msgid, id),
                Err(StoreError::DuplicateMsgid(m)) if collisions < MAX_MSGID_COLLISIONS => {
                    collisions += 1;
                    self.ids.skip_ahead();
                    tracing::warn!("msgid {m} already used by another broker; set broker.msgid_node per broker");
                }
                Err(StoreError::LeaseLost(_)) => return Err(Abandon::LeaseLost),
                Err(e) => return Err(Abandon::Store(e)),
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

    async fn close(&self, a: &Attempt) -> Result<(), Abandon> {
        self.store
            .end_attempt(a.attempt_id, attempt_outcome(&a.result), a.elapsed_ms)
            .await
            .map_err(Abandon::Store)
    }

    /// Writes the verdict of the last attempt.
    async fn conclude(
        &self,
        c: &ClaimedRequest,
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
        let outcome = attempt_outcome(&a.result);
        let attempt = Some((a.attempt_id, outcome, a.elapsed_ms));
        let mut sign_no = None;
        let (status, response, error) = match a.result {
            AttemptResult::Reply { body, envelope } => {
                let status = if envelope.is_success() {
                    if c.interface_code == "9001" {
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
                let may_have_been_sent = match &other {
                    AttemptResult::Transport(e) => e.kind.may_have_been_sent(),
                    _ => true,
                };
                // A state-changing call that may have reached the platform must not look
                // like a clean failure the HIS would simply repeat (double settlement).
                let status = if may_have_been_sent && info.class == InterfaceClass::StateChanging {
                    RequestStatus::Uncertain
                } else {
                    RequestStatus::Error
                };
                (status, Some(broker_row(&reason)), Some(reason))
            }
        };
        self.write_finish(c, status, attempt, response, error)
            .await?;
        Ok(sign_no)
    }

    /// Ends a request as ERROR with the broker's own reason (nothing was sent for it).
    async fn reject_unsent(&self, c: &ClaimedRequest, reason: String) -> Result<(), Abandon> {
        tracing::info!(
            request_id = c.request_id,
            "rejected before sending: {reason}"
        );
        let row = Some(broker_row(&reason));
        self.write_finish(c, RequestStatus::Error, None, row, Some(reason))
            .await
    }

    async fn write_finish(
        &self,
        c: &ClaimedRequest,
        status: RequestStatus,
        attempt: Option<(i64, AttemptOutcome, u64)>,
        response: Option<ResponseRow>,
        error: Option<String>,
    ) -> Result<(), Abandon> {
        let finish = Finish {
            request_id: c.request_id,
            worker_id: self.worker_id().to_string(),
            status,
            attempt,
            response,
            error,
        };
        match self.store.finish(finish).await {
            Ok(true) => {
                tracing::Span::current().record("status", tracing::field::display(status));
                self.announce(c.request_id, status);
                Ok(())
            }
            Ok(false) => Err(Abandon::LeaseLost),
            Err(e) => Err(Abandon::Store(e)),
        }
    }
}

fn rejects_sign_in(a: &Attempt) -> bool {
    matches!(&a.result, AttemptResult::Reply { envelope, .. }
        if !envelope.is_success() && is_sign_in_rejection(envelope.err_msg.as_deref()))
}

fn attempt_outcome(r: &AttemptResult) -> AttemptOutcome {
    match r {
        AttemptResult::Reply { envelope, .. } if envelope.is_success() => AttemptOutcome::Success,
        AttemptResult::Reply { .. } => AttemptOutcome::BusinessError,
        _ => AttemptOutcome::TransportError,
    }
}

fn describe_failure(r: &AttemptResult) -> String {
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
