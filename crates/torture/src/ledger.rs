//! What the harness did during a run: the rows it is answerable for (for the checker) and
//! counters and a timeline of every disturbance (for the summary and the evidence).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use crate::check::Facts;

/// Counters and facts, shared by every actor of a run.
#[derive(Debug, Default)]
pub struct Book {
    pub facts: Facts,
    /// `"<what>"` → how many times (e.g. `"run 2207 exit 0"`, `"fault 2207 hang"`).
    pub counts: BTreeMap<String, u64>,
    /// Time the store was held locked by the harness, milliseconds.
    pub lock_ms: u64,
    pub lock_max_ms: u64,
    /// Time the store's disk was full, milliseconds.
    pub disk_full_ms: u64,
    /// Business keys a cashier inserted a second row for (safe by contract).
    pub retried_keys: Vec<String>,
    /// `(seconds since start, line)`: every disturbance, in order.
    pub timeline: Vec<(f64, String)>,
}

/// The shared book of one run.
#[derive(Debug)]
pub struct Ledger {
    start: Instant,
    book: Mutex<Book>,
}

impl Ledger {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            book: Mutex::new(Book::default()),
        }
    }

    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds since the run started.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn count(&self, what: impl Into<String>) {
        *self.book().counts.entry(what.into()).or_default() += 1;
    }

    /// Adds a line to the timeline.
    pub fn event(&self, line: impl Into<String>) {
        let t = self.elapsed();
        self.book().timeline.push((t, line.into()));
    }

    /// Counts and records a disturbance.
    pub fn disturb(&self, what: &str, detail: impl Into<String>) {
        self.count(what);
        self.event(format!("{what}: {}", detail.into()));
    }

    pub fn known(&self, id: i64) {
        self.book().facts.known_ids.insert(id);
    }

    pub fn poisoned(&self, id: i64) {
        let mut b = self.book();
        b.facts.known_ids.insert(id);
        b.facts.poisoned.insert(id);
    }

    pub fn cancelled(&self, id: i64, attempts_then: Option<usize>) {
        self.book().facts.cancelled.insert(id, attempts_then);
    }

    pub fn superseded(&self, id: i64, attempts_then: Option<usize>) {
        self.book().facts.superseded.insert(id, attempts_then);
    }

    pub fn retried(&self, key: String) {
        self.book().retried_keys.push(key);
    }

    pub fn locked(&self, ms: u64) {
        let mut b = self.book();
        b.lock_ms += ms;
        b.lock_max_ms = b.lock_max_ms.max(ms);
    }

    pub fn disk_full(&self, ms: u64) {
        self.book().disk_full_ms += ms;
    }

    /// A copy of the facts for the checker.
    pub fn facts(&self) -> Facts {
        self.book().facts.clone()
    }
}
