//! What `status` reports beyond the store's counts: per-interface latency over the last
//! minutes, and whether the platform answered the latest attempt. In memory, bounded, per
//! broker process.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use yibao_proto::LatencyStat;

/// Samples kept per interface code, whatever the window (memory bound under load).
const MAX_SAMPLES: usize = 20_000;

/// How long a store failure is reported after it last happened. Failures that persist
/// happen again well within it (polls every `poll_interval_ms`, recovery every
/// `recover_interval_ms`, writes retried every few seconds).
const STORE_ERROR_TTL: Duration = Duration::from_secs(120);

/// The store's reachability as one broker saw it. While the store is unreachable no
/// holder can heartbeat, so every lease runs out; an expired lease is evidence of a dead
/// holder only once the store has been reachable for a whole lease again (every live
/// holder heartbeats several times per lease). Recovery waits for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Availability {
    /// No outage seen since start.
    Stable,
    /// Unreachable at the last operation.
    Down,
    /// Reachable again since then.
    UpSince(Instant),
}

/// Kinds of store operation whose health `status` reports separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    Poll,
    Recovery,
    /// Writes on held rows: heartbeats, attempts, results.
    Write,
    /// What the pipe's clients ask for: inserting (`Call`), claiming (`Run`), reading and
    /// cancelling rows. A full disk fails these while an idle poll, which finds nothing to
    /// write, still succeeds.
    Request,
}

impl StoreOp {
    fn as_str(self) -> &'static str {
        match self {
            StoreOp::Poll => "poll",
            StoreOp::Recovery => "recovery",
            StoreOp::Write => "write",
            StoreOp::Request => "request",
        }
    }
}

pub struct Metrics {
    window: Duration,
    latency: Mutex<HashMap<String, VecDeque<(Instant, u32)>>>,
    platform: Mutex<Option<(bool, Option<String>)>>,
    /// The last failure of each kind of store operation of this broker (poll, recovery,
    /// write), until that kind succeeds again or the failure is older than
    /// [`STORE_ERROR_TTL`] without happening again: a store that answers `counts` may still
    /// fail every poll, and a working poll must not hide a failing recovery.
    store: Mutex<HashMap<StoreOp, (Instant, String)>>,
    /// Whether the store was reachable, as this broker last saw it (see [`Availability`]).
    availability: Mutex<Availability>,
}

impl Metrics {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            latency: Mutex::new(HashMap::new()),
            platform: Mutex::new(None),
            store: Mutex::new(HashMap::new()),
            availability: Mutex::new(Availability::Stable),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// A request of `infno` reached its terminal state `ms` after it was claimed.
    pub fn record_latency(&self, infno: &str, ms: u64) {
        let now = Instant::now();
        let mut map = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let q = map.entry(infno.to_string()).or_default();
        q.push_back((now, u32::try_from(ms).unwrap_or(u32::MAX)));
        while q.len() > MAX_SAMPLES {
            q.pop_front();
        }
    }

    /// The platform answered (anything readable or not) or did not (`error`).
    pub fn record_platform(&self, error: Option<String>) {
        let masked = error.map(|e| yibao_core::privacy::mask_pii(&e).into_owned());
        *self.platform.lock().unwrap_or_else(|p| p.into_inner()) = Some((masked.is_none(), masked));
    }

    /// A store operation of kind `op` succeeded (`None`) or failed.
    pub fn record_store(&self, op: StoreOp, error: Option<&yibao_store::StoreError>) {
        {
            let mut a = self.availability.lock().unwrap_or_else(|p| p.into_inner());
            match error {
                Some(yibao_store::StoreError::Unavailable(_)) => *a = Availability::Down,
                _ if *a == Availability::Down => *a = Availability::UpSince(Instant::now()),
                _ => {}
            }
        }
        let error = error.map(ToString::to_string);
        let mut map = self.store.lock().unwrap_or_else(|p| p.into_inner());
        match error {
            None => {
                map.remove(&op);
            }
            Some(e) => {
                let masked = yibao_core::privacy::mask_pii(&e).into_owned();
                map.insert(op, (Instant::now(), masked));
            }
        }
    }

    /// Whether expired leases may be taken as dead holders: the store has been reachable
    /// for at least `lease` (or no outage was seen).
    pub fn store_stable_for(&self, lease: Duration) -> bool {
        match *self.availability.lock().unwrap_or_else(|p| p.into_inner()) {
            Availability::Stable => true,
            Availability::Down => false,
            Availability::UpSince(t) => t.elapsed() >= lease,
        }
    }

    /// The failing kinds of store operation with their last error and how long ago it
    /// happened (`write: disk full (3 秒前 / 3 s ago)`), if any. The age is inside the
    /// text because the status report's wire shape has no field for it.
    pub fn store_error(&self) -> Option<String> {
        let map = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let mut errors: Vec<(&str, Duration, &String)> = map
            .iter()
            .map(|(op, (at, e))| (op.as_str(), at.elapsed(), e))
            .filter(|(_, age, _)| *age < STORE_ERROR_TTL)
            .collect();
        errors.sort_by_key(|(op, _, _)| *op);
        (!errors.is_empty()).then(|| {
            errors
                .into_iter()
                .map(|(op, age, e)| {
                    let s = age.as_secs();
                    format!("{op}: {e} ({s} 秒前 / {s} s ago)")
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn platform(&self) -> (Option<bool>, Option<String>) {
        match &*self.platform.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((ok, e)) => (Some(*ok), e.clone()),
            None => (None, None),
        }
    }

    /// Percentiles per interface over the window, codes sorted.
    pub fn latency(&self) -> Vec<LatencyStat> {
        let cutoff = Instant::now().checked_sub(self.window);
        let mut map = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        map.retain(|infno, q| {
            if let Some(c) = cutoff {
                while q.front().is_some_and(|(t, _)| *t < c) {
                    q.pop_front();
                }
            }
            if q.is_empty() {
                return false;
            }
            let mut ms: Vec<u32> = q.iter().map(|(_, m)| *m).collect();
            ms.sort_unstable();
            let pick = |p: usize| ms[((ms.len() * p).div_ceil(100)).clamp(1, ms.len()) - 1];
            out.push(LatencyStat {
                infno: infno.clone(),
                count: u32::try_from(ms.len()).unwrap_or(u32::MAX),
                p50_ms: pick(50),
                p95_ms: pick(95),
                p99_ms: pick(99),
            });
            true
        });
        out.sort_by(|a, b| a.infno.cmp(&b.infno));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_working_poll_does_not_hide_a_failing_recovery() {
        let m = Metrics::new(Duration::from_secs(60));
        assert_eq!(m.store_error(), None);
        let bad = yibao_store::StoreError::Corrupt("bad row 430102199003071234".into());
        m.record_store(StoreOp::Recovery, Some(&bad));
        m.record_store(StoreOp::Poll, None);
        let e = m.store_error().unwrap_or_default();
        assert!(e.starts_with("recovery: ") && e.contains("bad row"), "{e}");
        assert!(!e.contains("430102199003071234"), "masked: {e}");
        m.record_store(StoreOp::Recovery, None);
        assert_eq!(m.store_error(), None);
    }

    #[test]
    fn a_failed_claim_after_a_success_is_reported_with_its_age() {
        let m = Metrics::new(Duration::from_secs(60));
        m.record_store(StoreOp::Request, None);
        let full = yibao_store::StoreError::Unavailable("database or disk is full".into());
        m.record_store(StoreOp::Request, Some(&full));
        // An idle poll finds nothing to write and succeeds on a full disk: it must not hide
        // the failing claims.
        m.record_store(StoreOp::Poll, None);
        let e = m.store_error().unwrap_or_default();
        assert!(
            e.starts_with("request: ") && e.contains("disk is full"),
            "{e}"
        );
        assert!(e.ends_with("(0 秒前 / 0 s ago)"), "{e}");
        m.record_store(StoreOp::Request, None);
        assert_eq!(m.store_error(), None);
    }

    #[test]
    fn recovery_waits_a_lease_after_an_outage() {
        let m = Metrics::new(Duration::from_secs(60));
        let lease = Duration::from_millis(200);
        assert!(m.store_stable_for(lease), "no outage seen");
        let down = yibao_store::StoreError::Unavailable("locked".into());
        m.record_store(StoreOp::Poll, Some(&down));
        assert!(!m.store_stable_for(lease));
        m.record_store(StoreOp::Poll, None);
        assert!(!m.store_stable_for(lease), "just came back");
        std::thread::sleep(lease);
        assert!(m.store_stable_for(lease));
        // Errors that are not about reachability (a bad row) do not hold recovery back.
        let odd = yibao_store::StoreError::Corrupt("odd".into());
        m.record_store(StoreOp::Recovery, Some(&odd));
        assert!(m.store_stable_for(lease));
    }

    #[test]
    fn percentiles_per_interface_and_masked_platform_errors() {
        let m = Metrics::new(Duration::from_secs(300));
        for ms in 1..=100 {
            m.record_latency("1101", ms);
        }
        m.record_latency("2207", 40);
        let l = m.latency();
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].infno.as_str(), l[0].count), ("1101", 100));
        assert_eq!((l[0].p50_ms, l[0].p95_ms, l[0].p99_ms), (50, 95, 99));
        assert_eq!((l[1].p50_ms, l[1].p99_ms), (40, 40));
        assert_eq!(m.platform(), (None, None));
        m.record_platform(Some("reply quoted 430102199003071234".into()));
        let (ok, e) = m.platform();
        assert_eq!(ok, Some(false));
        assert!(!e.unwrap().contains("430102199003071234"));
        m.record_platform(None);
        assert_eq!(m.platform(), (Some(true), None));
    }

    #[test]
    fn old_samples_leave_the_window() {
        let m = Metrics::new(Duration::from_millis(30));
        m.record_latency("1101", 5);
        std::thread::sleep(Duration::from_millis(60));
        assert!(m.latency().is_empty());
    }
}
