//! What the simulator remembers: issued sign-ins, every msgid seen, counters, the files it
//! can hand out (`files`), the size of its generated catalogs (`catalogs`) and the book of
//! applied settlements that 3201/3202 reconcile against (`ledger`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::catalogs::Catalogs;
use crate::faults::Faults;
use crate::files::Files;
use crate::ledger::Ledger;
use crate::MockConfig;

/// A request the simulator applied (answered with infcode 0, or with the file for 9102),
/// served at `GET /__mock/applied` so tests can assert "applied exactly once".
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Applied {
    pub infno: String,
    pub msgid: String,
    /// The `input` as sent (compact JSON): equal keys mean the same business request. A
    /// 9101 upload's file (`fsUploadIn.in`) is written as its size and SHA-256 instead.
    pub input: String,
    /// The envelope's `cainfo` as decrypted (`--cainfo-mode`), for the interfaces that
    /// carry one; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cainfo: Option<String>,
}

pub struct MockState {
    pub config: MockConfig,
    pub faults: Mutex<Faults>,
    pub files: Mutex<Files>,
    pub catalogs: Mutex<Catalogs>,
    pub ledger: Mutex<Ledger>,
    applied: Mutex<Vec<Applied>>,
    sign_ins: Mutex<HashMap<String, String>>,
    msgids: Mutex<HashSet<String>>,
    by_infno: Mutex<BTreeMap<String, u64>>,
    rejected: AtomicU64,
    duplicates: AtomicU64,
    seq: AtomicU64,
}

/// Counters, served at `GET /__mock/stats` so tests can see what reached the platform.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// Well-formed calls per interface code (accepted or answered with a business error).
    pub by_infno: BTreeMap<String, u64>,
    /// Requests rejected by the gateway or envelope checks.
    pub rejected: u64,
    /// Requests whose msgid had been seen before.
    pub duplicate_msgids: u64,
    /// Sign-ins issued by 9001.
    pub sign_ins: u64,
}

impl MockState {
    pub fn new(config: MockConfig) -> Self {
        Self {
            catalogs: Mutex::new(Catalogs::new(&config.catalog_sizes)),
            config,
            faults: Mutex::new(Faults::default()),
            files: Mutex::new(Files::default()),
            ledger: Mutex::new(Ledger::default()),
            applied: Mutex::new(Vec::new()),
            sign_ins: Mutex::new(HashMap::new()),
            msgids: Mutex::new(HashSet::new()),
            by_infno: Mutex::new(BTreeMap::new()),
            rejected: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            seq: AtomicU64::new(1),
        }
    }

    /// A process-wide increasing number for generated ids.
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Records a msgid; false if it was seen before.
    pub fn first_use_of_msgid(&self, msgid: &str) -> bool {
        let fresh = lock(&self.msgids).insert(msgid.to_string());
        if !fresh {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        fresh
    }

    pub fn msgid_seen(&self, msgid: &str) -> bool {
        lock(&self.msgids).contains(msgid)
    }

    pub fn issue_sign_in(&self, operator: &str) -> String {
        let sign_no = format!("{}{:06}", stamp(), self.next_seq() % 1_000_000);
        lock(&self.sign_ins).insert(sign_no.clone(), operator.to_string());
        sign_no
    }

    pub fn sign_in_valid(&self, sign_no: &str) -> bool {
        lock(&self.sign_ins).contains_key(sign_no)
    }

    pub fn sign_out(&self, sign_no: &str) -> bool {
        lock(&self.sign_ins).remove(sign_no).is_some()
    }

    pub fn record_applied(&self, a: Applied) {
        lock(&self.applied).push(a);
    }

    pub fn applied(&self) -> Vec<Applied> {
        lock(&self.applied).clone()
    }

    /// Forgets every sign-in, as a restarted platform would.
    pub fn forget_sign_ins(&self) {
        lock(&self.sign_ins).clear();
    }

    pub fn count_call(&self, infno: &str) {
        *lock(&self.by_infno).entry(infno.to_string()).or_default() += 1;
    }

    pub fn count_rejected(&self, _infno: Option<&str>) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> Stats {
        // One lock, taken once: std's Mutex is not re-entrant.
        let by_infno = lock(&self.by_infno).clone();
        Stats {
            sign_ins: by_infno.get("9001").copied().unwrap_or(0),
            by_infno,
            rejected: self.rejected.load(Ordering::Relaxed),
            duplicate_msgids: self.duplicates.load(Ordering::Relaxed),
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `yyyyMMddHHmmss` now (sign-in numbers, setl_ids).
pub fn stamp() -> String {
    yibao_core::time::format_compact(&yibao_core::time::now())
}
