//! 9001 sign-in sessions, cached. The platform wants a `sign_no` from a sign-in by the same
//! operator in every later envelope; the broker signs in once per operator per day
//! ([`crate::signin`]), keeps the number here, and forgets it when the platform says it is no
//! longer valid.

use std::collections::HashMap;
use std::sync::Mutex;

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
