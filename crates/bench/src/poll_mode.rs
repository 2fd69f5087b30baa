//! The `poll` mode of `sp_medical_insurance_call`, on the SQLite store: the HIS inserts a
//! row by SQL and looks at its status every 5 ms for 20 looks, then with waits growing by
//! half each time up to 50 ms (what `yibao_wait_for_status` in sql/install.sql does), with no shim
//! and no pipe. The broker is left idle before each call, so the figure includes the
//! dispatcher's idle pace, the worst case a first call of the morning sees.

use std::time::{Duration, Instant};

use yibao::{person_input, Env, Options};

/// The procedure's wait schedule, in milliseconds (sql/install.sql, yibao_wait_for_status).
const FIRST_WAIT_MS: u64 = 5;
const SHORT_LOOKS: u32 = 20;
const LONGEST_WAIT_MS: u64 = 50;

/// What the poll mode costs: per-call latency, and the idle database load.
pub struct PollMode {
    /// Milliseconds from the INSERT to the caller seeing a terminal status, sorted.
    pub latencies: Vec<f64>,
    /// The broker's idle pace and shortest pace (its shipped defaults).
    pub idle_ms: u64,
    pub min_ms: u64,
}

impl PollMode {
    /// One indexed claim query per look once the pace has reached the idle ceiling.
    pub fn idle_queries_per_sec(&self) -> f64 {
        1000.0 / self.idle_ms as f64
    }
}

pub fn measure(calls: usize) -> PollMode {
    let defaults = yibao_broker::config::BrokerSection::default();
    let env = Env::start_with(Options {
        poll_interval_ms: defaults.poll_interval_ms,
        poll_min_ms: defaults.poll_min_ms,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(0));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    let db = env.db();
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..calls {
        // Idle long enough for the pace to reach its ceiling; the odd step keeps the
        // insert from falling at the same phase of the dispatcher's ticks every time.
        std::thread::sleep(Duration::from_millis(150 + (i as u64 * 37) % 50));
        let started = Instant::now();
        let id = env.insert("1101", &person_input(20_000 + i as u32));
        let mut wait = FIRST_WAIT_MS;
        let mut looks = 0;
        loop {
            let status: String = db
                .query_row(
                    "SELECT status FROM medical_insurance_requests WHERE request_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .expect("status");
            if matches!(
                status.as_str(),
                "COMPLETED" | "ERROR" | "UNCERTAIN" | "REVERSED"
            ) {
                assert_eq!(status, "COMPLETED", "request {id}");
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "request {id} stuck"
            );
            std::thread::sleep(Duration::from_millis(wait));
            looks += 1;
            if looks >= SHORT_LOOKS {
                wait = (wait + wait / 2).min(LONGEST_WAIT_MS);
            }
        }
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    PollMode {
        latencies,
        idle_ms: defaults.poll_interval_ms,
        min_ms: defaults.poll_min_ms,
    }
}
