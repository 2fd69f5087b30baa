//! 9001 sign-in sessions. The platform wants a `sign_no` from a sign-in by the same operator
//! in every later envelope; the broker signs in once per operator, caches the number, and
//! signs in again when the platform says the number is no longer valid.
//!
//! Sign-in is single-flight: when 200 calls arrive for an operator with no session, one 9001
//! is sent and the other 199 wait for its result instead of each signing in.

use std::sync::Arc;

use tracing::Instrument;
use yibao_core::platform::session;
use yibao_proto::Overrides;
use yibao_store::{NewRequest, Store};

use crate::attempt::{Abandon, Sending};
use crate::process::request_span;
use crate::worker::Worker;

impl Worker {
    /// The cached sign_no of `operator`, signing in (single-flight) when there is none.
    /// The outer error abandons processing; the inner one is the sign-in's failure reason.
    pub(crate) async fn sign_no_for(
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
        let input = session::sign_in_input(self.platform.defaults(), operator);
        let new = NewRequest {
            interface_code: yibao_core::codes::SIGN_IN.into(),
            input_data: input.to_string(),
            overrides: overrides.clone(),
            expires_at: None,
        };
        // Inserted already claimed: another broker polling the same table must not take it.
        let queue = &self.queue;
        let claimed = queue
            .durably("recording a sign-in", || {
                queue.store.insert_claimed(new.clone(), queue.claim_spec(1))
            })
            .await?;
        let id = claimed.request_id;
        let holder = claimed.holder(queue.worker_id());
        let info = self.catalog.get(yibao_core::codes::SIGN_IN);
        // The sign-in is its own request in the log too, nested in the one that needed it.
        let span = request_span(&claimed);
        let signed_in = async {
            let sending = Sending {
                claimed: &claimed,
                holder: &holder,
                sign_no: "",
                input: &input,
            };
            let attempt = self.attempt_with_retries(&sending, &info, 1).await?;
            let sign_no = match &attempt.outcome {
                yibao_core::Outcome::Success(r) => session::sign_no_from_output(&r.envelope.output),
                _ => None,
            };
            let why = attempt.outcome.describe();
            self.conclude(&claimed, &holder, &info, attempt).await?;
            Ok::<_, Abandon>((sign_no, why))
        };
        let (sign_no, why) = queue.hold(id, &holder, signed_in).instrument(span).await?;
        Ok(match sign_no {
            Some(s) => {
                tracing::info!(operator = %yibao_core::privacy::mask_operator(operator), "signed in (9001)");
                self.sessions.put(operator, s.clone());
                Ok(s)
            }
            None => {
                tracing::warn!(
                    operator = %yibao_core::privacy::mask_operator(operator),
                    request_id = id,
                    "9001 sign-in failed: {why}"
                );
                Err(format!(
                    "9001 签到失败（请求 {id}）/ 9001 sign-in failed (request {id}): {why}"
                ))
            }
        })
    }
}

/// `check-config --sign-in`: one real 9001 for the configured operator through the code
/// `run` uses (recorded in the store like every sign-in), so a wrong token, wrong keys or a
/// missing ip/mac show before the first patient. `Ok(Ok(sign_no))`, `Ok(Err(reason))` with
/// the platform's or the transport's reason, or `Err` when the store failed.
pub async fn check_sign_in(
    config: &crate::Config,
    store: Arc<dyn Store>,
) -> anyhow::Result<Result<String, String>> {
    let broker = crate::Broker::new(config, store).await?;
    let overrides = Overrides::default();
    let operator = broker.worker.platform.operator(&overrides).to_string();
    match broker.worker.sign_no_for(&operator, &overrides).await {
        Ok(answer) => Ok(answer),
        Err(Abandon::Store(e)) => Err(e.into()),
        Err(Abandon::LeaseLost | Abandon::Expired) => Err(anyhow::anyhow!(
            "签到请求被另一进程接管 / the sign-in request was taken over by another process"
        )),
    }
}

/// A sign_no as shown to an operator: enough to recognise, not enough to reuse.
pub fn shorten_sign_no(sign_no: &str) -> String {
    let chars: Vec<char> = sign_no.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    format!("{head}…({} chars)", chars.len())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sign_no_is_shortened() {
        assert_eq!(super::shorten_sign_no("ABC"), "***");
        assert_eq!(
            super::shorten_sign_no("20261202101503123"),
            "2026…(17 chars)"
        );
    }
}
