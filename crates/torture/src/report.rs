//! The summary of one run: what ran, what was disturbed, what the store and the platform
//! ended with, and the invariants.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::check::{is_state_changing, known_key, Snapshot, Violation, INVARIANTS};
use crate::ledger::Book;

/// Everything the summary shows.
pub struct Summary<'a> {
    pub seed: u64,
    pub replay: &'a str,
    pub plan: String,
    pub disk_notice: String,
    pub counts: &'a BTreeMap<(String, String), i64>,
    pub snapshot: &'a Snapshot,
    pub mock_stats: &'a serde_json::Value,
    pub faults_fired: &'a BTreeMap<String, u64>,
    pub book: &'a Book,
    pub quiesce: String,
    pub violations: &'a [Violation],
}

/// Timeline lines worth showing even when a run passes.
const NOTABLE: [&str; 4] = [
    "broker exited by itself",
    "broker start failed",
    "harness error",
    "store lock failed",
];

fn line(out: &mut String, text: impl AsRef<str>) {
    let _ = writeln!(out, "{}", text.as_ref());
}

/// Counters whose name starts with `prefix`, as `rest=n` pairs.
fn counters(book: &Book, prefix: &str) -> String {
    let parts: Vec<String> = book
        .counts
        .iter()
        .filter_map(|(k, n)| {
            k.strip_prefix(prefix)
                .map(|rest| format!("{}={n}", rest.trim()))
        })
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn count(book: &Book, key: &str) -> u64 {
    book.counts.get(key).copied().unwrap_or(0)
}

impl Summary<'_> {
    pub fn render(&self) -> String {
        let mut o = String::new();
        let verdict = if self.violations.is_empty() {
            "PASS".to_string()
        } else {
            format!("FAIL ({} violations)", self.violations.len())
        };
        line(&mut o, format!("== seed {}: {verdict} ==", self.seed));
        line(&mut o, format!("plan: {}", self.plan));
        line(&mut o, format!("disk: {}", self.disk_notice));

        let mut by_status: BTreeMap<&str, i64> = BTreeMap::new();
        let mut by_code: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for ((code, status), n) in self.counts {
            *by_status.entry(status).or_default() += n;
            by_code
                .entry(code)
                .or_default()
                .push(format!("{status}={n}"));
        }
        let total: i64 = by_status.values().sum();
        let statuses: Vec<String> = by_status.iter().map(|(s, n)| format!("{s}={n}")).collect();
        line(&mut o, format!("rows: {total} — {}", statuses.join(", ")));
        for (code, list) in &by_code {
            line(&mut o, format!("  {code}: {}", list.join(", ")));
        }
        let mut applied: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &self.snapshot.applied {
            *applied.entry(a.infno.as_str()).or_default() += 1;
        }
        let applied: Vec<String> = applied.iter().map(|(k, n)| format!("{k}={n}")).collect();
        line(
            &mut o,
            format!(
                "platform applied: {} ({}); duplicate msgids refused: {}; rejected: {}; attempts on record: {}",
                self.snapshot.applied.len(),
                applied.join(", "),
                self.mock_stats["duplicate_msgids"],
                self.mock_stats["rejected"],
                self.snapshot.attempts.len()
            ),
        );

        let changing: Vec<_> = self
            .snapshot
            .applied
            .iter()
            .filter(|a| is_state_changing(&a.infno))
            .collect();
        let unkeyed = changing
            .iter()
            .filter(|a| known_key(&a.infno, &a.input).is_none())
            .count();
        line(
            &mut o,
            format!(
                "business keys: {} state-changing entries applied, {unkeyed} without a recognised key (judged by their whole input)",
                changing.len()
            ),
        );

        let b = self.book;
        let fired: Vec<String> = self
            .faults_fired
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        line(&mut o, format!("faults added: {}", counters(b, "fault ")));
        line(
            &mut o,
            format!(
                "faults fired: {} (cleared {} times)",
                if fired.is_empty() {
                    "none".into()
                } else {
                    fired.join(", ")
                },
                count(b, "faults cleared")
            ),
        );
        line(
            &mut o,
            format!(
                "brokers: kill -9 {}, SIGTERM {}, stalls {}, outages {}, starts {}, exited by themselves {}, start failures {}",
                count(b, "kill -9"),
                count(b, "SIGTERM"),
                count(b, "stall"),
                count(b, "outage"),
                count(b, "broker start"),
                count(b, "broker exited by itself"),
                count(b, "broker start failed")
            ),
        );
        line(
            &mut o,
            format!(
                "store locks: {} held {:.1} s in all (longest {:.1} s), {} failed; disk full {} times, {:.1} s in all",
                count(b, "store lock"),
                b.lock_ms as f64 / 1000.0,
                b.lock_max_ms as f64 / 1000.0,
                count(b, "store lock failed"),
                count(b, "disk full"),
                b.disk_full_ms as f64 / 1000.0
            ),
        );
        line(
            &mut o,
            format!(
                "HIS: inserts failed {}, poisoned rows {}, cashier second rows {}, cancelled {}, superseded after expires_at {}",
                count(b, "insert failed"),
                b.facts.poisoned.len(),
                b.retried_keys.len(),
                b.facts.cancelled.len(),
                b.facts.superseded.len()
            ),
        );
        for (label, prefix) in [
            ("run", "run "),
            ("async", "async "),
            ("call --async", "call --async "),
            ("kick", "kick "),
            ("cancel (cashier)", "cancel (cashier) "),
            ("cancel (other)", "cancel (other) "),
            ("reverse", "reverse "),
            ("catalog-download", "catalog-download "),
        ] {
            line(&mut o, format!("  {label}: {}", counters(b, prefix)));
        }
        line(
            &mut o,
            format!(
                "  concurrent reverse rounds: {}",
                count(b, "concurrent reverse")
            ),
        );
        let notable: Vec<&(f64, String)> = b
            .timeline
            .iter()
            .filter(|(_, l)| NOTABLE.iter().any(|p| l.starts_with(p)))
            .collect();
        for (t, l) in notable.iter().take(10) {
            line(&mut o, format!("  notable at {t:.1} s: {l}"));
        }
        if notable.len() > 10 {
            line(
                &mut o,
                format!("  … {} more notable events", notable.len() - 10),
            );
        }
        line(&mut o, format!("quiesce: {}", self.quiesce));
        for (i, text) in INVARIANTS.iter().enumerate() {
            let n = u8::try_from(i + 1).unwrap_or(0);
            let broken = self.violations.iter().filter(|v| v.invariant == n).count();
            let mark = if broken == 0 {
                "ok".to_string()
            } else {
                format!("VIOLATED ×{broken}")
            };
            line(&mut o, format!("invariant {n} [{mark}]: {text}"));
        }
        for v in self.violations.iter().take(50) {
            line(&mut o, format!("  violation {}: {}", v.invariant, v.detail));
        }
        if self.violations.len() > 50 {
            line(&mut o, format!("  … {} more", self.violations.len() - 50));
        }
        line(&mut o, format!("replay: {}", self.replay));
        o
    }
}
