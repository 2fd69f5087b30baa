//! 9001 sign-in sessions. The platform wants a `sign_no` from a sign-in by the same operator
//! in every later envelope; the broker signs in once per operator, caches the number, and
//! signs in again when the platform says the number is no longer valid.
//!
//! Sign-in is single-flight: when 200 calls arrive for an operator with no session, one 9001
//! is sent and the other 199 wait for its result instead of each signing in.

use std::collections::HashMap;
use std::sync::Mutex;

/// The cache of sign-in numbers by operator code.
#[derive(Default)]
pub struct Sessions {
    by_operator: Mutex<HashMap<String, String>>,
    /// Held while a sign-in is in progress.
    pub(crate) single_flight: tokio::sync::Mutex<()>,
}

impl Sessions {
    pub fn get(&self, operator: &str) -> Option<String> {
        lock(&self.by_operator).get(operator).cloned()
    }

    pub fn put(&self, operator: &str, sign_no: String) {
        lock(&self.by_operator).insert(operator.to_string(), sign_no);
    }

    /// Forgets `sign_no` for `operator` unless a newer one was cached meanwhile.
    pub fn invalidate(&self, operator: &str, sign_no: &str) {
        let mut map = lock(&self.by_operator);
        if map.get(operator).is_some_and(|s| s == sign_no) {
            map.remove(operator);
        }
    }

    pub fn len(&self) -> u32 {
        u32::try_from(lock(&self.by_operator).len()).unwrap_or(u32::MAX)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether a business error means "sign in again" (the platform's wording varies by
/// province; all of them mention 签到).
pub fn is_sign_in_rejection(err_msg: Option<&str>) -> bool {
    err_msg.is_some_and(|m| m.contains("签到"))
}

/// The `sign_no` in a 9001 reply's `output`.
pub fn sign_no_from_output(output: &serde_json::Value) -> Option<String> {
    output
        .pointer("/signinoutb/sign_no")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
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
    fn reads_sign_no() {
        let out = serde_json::json!({"signinoutb": {"sign_no": "S1", "sign_time": "x"}});
        assert_eq!(sign_no_from_output(&out).as_deref(), Some("S1"));
        assert_eq!(sign_no_from_output(&serde_json::json!({})), None);
        assert!(is_sign_in_rejection(Some(
            "签到信息无效或已过期，请重新签到"
        )));
        assert!(!is_sign_in_rejection(Some("参数错误")));
    }
}
