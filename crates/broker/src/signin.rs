//! 9001 sign-in sessions. The platform wants a `sign_no` from a sign-in by the same operator
//! in every later envelope; the broker signs in once per operator, caches the number, and
//! signs in again when the platform says the number is no longer valid.
//!
//! Sign-in is single-flight: when 200 calls arrive for an operator with no session, one 9001
//! is sent and the other 199 wait for its result instead of each signing in.

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::Instrument;
use yibao_core::platform::session;
use yibao_proto::Overrides;
use yibao_store::NewRequest;

use crate::attempt::{Abandon, Sending};
use crate::process::request_span;
use crate::worker::Worker;

/// The cache of sign-in numbers by operator code. A session is valid for the Beijing
/// calendar day it was opened on: the platform expects one sign-in per operator per day.
#[derive(Default)]
pub struct Sessions {
    by_operator: Mutex<HashMap<String, Session>>,
    /// Held while a sign-in is in progress.
    pub(crate) single_flight: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Session {
    sign_no: String,
    day: String,
}

/// Today in Beijing, `yyyy-MM-dd`.
fn today() -> String {
    yibao_core::time::format_datetime(&yibao_core::time::now())
        .chars()
        .take(10)
        .collect()
}

impl Sessions {
    /// Today's sign_no of `operator`, if any.
    pub fn get(&self, operator: &str) -> Option<String> {
        self.get_on(operator, &today())
    }

    fn get_on(&self, operator: &str, day: &str) -> Option<String> {
        lock(&self.by_operator)
            .get(operator)
            .filter(|s| s.day == day)
            .map(|s| s.sign_no.clone())
    }

    pub fn put(&self, operator: &str, sign_no: String) {
        let session = Session {
            sign_no,
            day: today(),
        };
        lock(&self.by_operator).insert(operator.to_string(), session);
    }

    /// Forgets `sign_no` for `operator` unless a newer one was cached meanwhile.
    pub fn invalidate(&self, operator: &str, sign_no: &str) {
        let mut map = lock(&self.by_operator);
        if map.get(operator).is_some_and(|s| s.sign_no == sign_no) {
            map.remove(operator);
        }
    }

    /// Every (operator, sign_no), for 9002 sign-out at shutdown.
    pub fn snapshot(&self) -> Vec<(String, String)> {
        lock(&self.by_operator)
            .iter()
            .map(|(op, s)| (op.clone(), s.sign_no.clone()))
            .collect()
    }

    pub fn len(&self) -> u32 {
        u32::try_from(lock(&self.by_operator).len()).unwrap_or(u32::MAX)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

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
            None => Err(format!(
                "9001 签到失败（请求 {id}）：{why} / 9001 sign-in failed (request {id}): {why}"
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidate_keeps_a_newer_session() {
        let s = Sessions::default();
        s.put("001", "A".into());
        s.invalidate("001", "B");
        assert_eq!(s.get("001").as_deref(), Some("A"));
        s.invalidate("001", "A");
        assert_eq!(s.get("001"), None);
    }

    #[test]
    fn a_session_lasts_for_its_day_only() {
        let s = Sessions::default();
        s.put("001", "A".into());
        assert_eq!(s.get_on("001", &today()).as_deref(), Some("A"));
        assert_eq!(s.get_on("001", "2099-01-01"), None);
    }
}
