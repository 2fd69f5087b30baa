//! When a failed attempt may be sent again, and after how long (design.md §4).
//!
//! The rule that keeps money safe: a state-changing interface is resent only when the
//! previous attempt provably never left this machine (connection refused, DNS, TLS
//! handshake). Anything after the body may have left — timeout, reset, HTTP error,
//! unreadable reply — could have been applied, so it is never resent automatically.
//! Read-only interfaces may be resent after any transport failure.

use std::time::Duration;

use yibao_core::{InterfaceClass, TransportErrorKind};

/// Bounded exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

/// How an attempt failed, as far as retrying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A transport error of this kind.
    Transport(TransportErrorKind),
    /// A reply came but was not a response envelope.
    Unreadable,
}

impl RetryPolicy {
    /// Whether attempt number `done` (1-based) may be followed by another.
    pub fn may_retry(&self, class: InterfaceClass, failure: Failure, done: u32) -> bool {
        if done >= self.max_attempts {
            return false;
        }
        match (class, failure) {
            (InterfaceClass::ReadOnly, _) => true,
            (InterfaceClass::StateChanging, Failure::Transport(kind)) => !kind.may_have_been_sent(),
            (InterfaceClass::StateChanging, Failure::Unreadable) => false,
        }
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
    use InterfaceClass::*;
    use TransportErrorKind::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(100),
            max: Duration::from_millis(300),
        }
    }

    #[test]
    fn state_changing_is_resent_only_when_nothing_left() {
        let p = policy();
        assert!(p.may_retry(StateChanging, Failure::Transport(NotSent), 1));
        for kind in [Timeout, HttpStatus(502), Broken, BadReply] {
            assert!(
                !p.may_retry(StateChanging, Failure::Transport(kind), 1),
                "{kind:?}"
            );
        }
        assert!(!p.may_retry(StateChanging, Failure::Unreadable, 1));
    }

    #[test]
    fn read_only_is_resent_within_the_budget() {
        let p = policy();
        for kind in [NotSent, Timeout, HttpStatus(500), Broken] {
            assert!(p.may_retry(ReadOnly, Failure::Transport(kind), 3));
            assert!(!p.may_retry(ReadOnly, Failure::Transport(kind), 4));
        }
        assert!(p.may_retry(ReadOnly, Failure::Unreadable, 1));
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
