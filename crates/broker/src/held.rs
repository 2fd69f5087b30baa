//! The rows this broker process holds right now: registered for as long as a row is in a
//! worker's hands ([`crate::queue::Queue::hold`]), so this process's own recovery never takes
//! a row it is still working on, and waiters do not mistake a guess in the store for the end.

use std::collections::HashSet;
use std::sync::Mutex;

/// Ids of the rows this broker process holds right now.
#[derive(Default)]
pub(crate) struct Held {
    ids: Mutex<HashSet<i64>>,
}

impl Held {
    pub(crate) fn contains(&self, request_id: i64) -> bool {
        lock(&self.ids).contains(&request_id)
    }

    /// The row's verdict is written: it no longer counts as held (the guard's drop, a
    /// moment later, changes nothing more).
    pub(crate) fn release(&self, request_id: i64) {
        lock(&self.ids).remove(&request_id);
    }

    pub(crate) fn insert(&self, request_id: i64) -> HeldGuard<'_> {
        lock(&self.ids).insert(request_id);
        HeldGuard {
            held: self,
            request_id,
        }
    }
}

/// Removes the id when the work ends (or its future is dropped).
pub(crate) struct HeldGuard<'a> {
    held: &'a Held,
    request_id: i64,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        lock(&self.held.ids).remove(&self.request_id);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
