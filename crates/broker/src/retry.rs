//! How long to wait before an attempt is sent again, and how many attempts a request
//! gets (design.md §4). *Whether* it may be sent again is decided in [`crate::safety`].

use std::time::Duration;

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// Whether attempt number `done` (1-based) leaves budget for another.
    pub fn budget_left(&self, done: u32) -> bool {
        done < self.max_attempts
    }

    /// The pause after attempt number `done`: base·2^(done-1), capped, minus up to half as
    /// jitter so a crowd of workers does not retry in step.
    pub fn delay(&self, done: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << done.saturating_sub(1).min(20))
            .min(self.max);
        let jitter = rand::random::<f64>() * 0.5;
        exp.mul_f64(1.0 - jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        }
    }

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let p = policy();
        for _ in 0..100 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d5 = p.delay(5);
            assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300));
        }
    }
}
