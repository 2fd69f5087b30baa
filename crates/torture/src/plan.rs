//! A run's parameters, all drawn from its seed: broker timings, how many brokers and
//! cashiers, the 2207 uncertainty policy.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What one seed runs with.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub duration: Duration,
    pub lease_ms: u64,
    pub request_timeout_ms: u64,
    pub recover_interval_ms: u64,
    pub poll_interval_ms: u64,
    pub workers: u32,
    pub retry_max_attempts: u32,
    pub retry_base_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    /// SQLite: how long one broker write waits for a lock (the harness holds locks for up
    /// to 35 s, so often longer than this).
    pub busy_timeout_ms: u64,
    /// Run a second broker on the same store.
    pub second_broker: bool,
    /// `[interfaces.2207] on_uncertain = "reverse"` instead of the default `mark`.
    pub reverse_uncertain_2207: bool,
    /// Cashier threads (synchronous `yibao-call run` per customer).
    pub cashiers: usize,
    /// Whether full-disk episodes are wanted (they also need a tmpfs).
    pub full_disk: bool,
}

impl Plan {
    pub fn new(seed: u64, duration: Duration, allow_disk: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7969_6261_6f00_0001);
        let lease_ms = rng.random_range(2000..=3000u64);
        // The broker insists on lease_ms >= 2 × request_timeout_ms.
        let request_timeout_ms = rng.random_range(800..=1500u64).min(lease_ms / 2);
        Self {
            seed,
            duration,
            lease_ms,
            request_timeout_ms,
            recover_interval_ms: rng.random_range(300..=1000),
            poll_interval_ms: 50,
            workers: rng.random_range(4..=16),
            retry_max_attempts: rng.random_range(2..=5),
            retry_base_delay_ms: rng.random_range(50..=200),
            retry_max_delay_ms: rng.random_range(300..=1000),
            busy_timeout_ms: rng.random_range(1000..=10_000),
            second_broker: rng.random_bool(0.7),
            reverse_uncertain_2207: rng.random_bool(0.3),
            cashiers: rng.random_range(2..=5),
            full_disk: allow_disk && rng.random_bool(0.8),
        }
    }

    /// The seed of actor `n`'s own generator.
    pub fn actor_seed(&self, n: u64) -> u64 {
        self.seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(n.wrapping_mul(0xBF58_476D_1CE4_E5B9))
    }

    /// The harness's options for this plan.
    pub fn options(&self) -> yibao::Options {
        yibao::Options {
            workers: self.workers,
            poll_interval_ms: self.poll_interval_ms,
            retry_max_attempts: self.retry_max_attempts,
            retry_base_delay_ms: self.retry_base_delay_ms,
            retry_max_delay_ms: self.retry_max_delay_ms,
            request_timeout_ms: self.request_timeout_ms,
            lease_ms: self.lease_ms,
            recover_interval_ms: self.recover_interval_ms,
            busy_timeout_ms: self.busy_timeout_ms,
            interfaces_toml: if self.reverse_uncertain_2207 {
                "[interfaces.2207]\non_uncertain = \"reverse\"\n".into()
            } else {
                String::new()
            },
            ..yibao::Options::default()
        }
    }

    /// One line for the summary.
    pub fn describe(&self) -> String {
        format!(
            "lease {} ms, request timeout {} ms, recover every {} ms, poll {} ms, {} workers, \
             retries {} ({}–{} ms), busy timeout {} ms, {} broker(s), {} cashier(s), 2207 on_uncertain = {}",
            self.lease_ms,
            self.request_timeout_ms,
            self.recover_interval_ms,
            self.poll_interval_ms,
            self.workers,
            self.retry_max_attempts,
            self.retry_base_delay_ms,
            self.retry_max_delay_ms,
            self.busy_timeout_ms,
            if self.second_broker { 2 } else { 1 },
            self.cashiers,
            if self.reverse_uncertain_2207 {
                "reverse"
            } else {
                "mark"
            }
        )
    }
}
