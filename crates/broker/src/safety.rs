//! The two decisions that keep money safe, each made in exactly one place and used by the
//! worker, recovery and reversal (a 2601 is processed like any request) alike:
//!
//! * **"May this attempt be sent?"** The broker's half is [`fate`] returning
//!   [`Fate::SendAgain`] for the failure before it (the first attempt needs no failure). The
//!   store's half is [`yibao_store::Store::begin_attempt`], which records the attempt only
//!   if this claim is still the current one (fencing token) and the request's deadline has
//!   not passed — atomically, in the statement that records it, so no stall, lease expiry
//!   or second broker can slip between the check and the send.
//! * **"What does this failure make of the request?"** [`fate`], from the interface class
//!   and the [`Evidence`] of whether anything reached the platform.
//!
//! The rule: a state-changing request that may have reached the platform is never sent
//! again automatically; it becomes UNCERTAIN (for reconciliation or 2601 冲正). Without
//! evidence either way — a row this product never claimed — it is treated the same.

use yibao_core::{InterfaceClass, Outcome, TransportErrorKind};
use yibao_store::ExpiredLease;

/// What is known about whether a request reached the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// Nothing can have reached it: no attempt was begun under a claim of this product
    /// (attempts are recorded before they are sent), or the last one provably never left
    /// this machine (connection refused, DNS, TLS handshake).
    NotSent,
    /// It may have reached it: an attempt began and no reply says otherwise (timeout,
    /// reset, HTTP error, unreadable or unverifiable reply, a broker that died mid-call).
    MayHaveBeenSent,
    /// No evidence either way: the row was set PROCESSING by something other than this
    /// product (the original design, a DBA), so "no attempt recorded" proves nothing.
    Unknown,
}

/// How an attempt failed, as far as the decisions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A transport error of this kind.
    Transport(TransportErrorKind),
    /// A reply came but was not a readable response envelope.
    Unreadable,
}

impl Failure {
    /// Another attempt would fail the same way (a download refused here): no retry.
    pub fn is_final(self) -> bool {
        matches!(self, Failure::Transport(kind) if kind.is_final())
    }

    /// How an exchange failed, if it did not bring a readable reply (a refusal is a
    /// reply: the platform said no, nothing is uncertain about it).
    pub fn of(outcome: &Outcome) -> Option<Self> {
        match outcome {
            Outcome::Success(_) | Outcome::Refused(_) => None,
            Outcome::Unreadable { .. } => Some(Failure::Unreadable),
            Outcome::Transport(e) => Some(Failure::Transport(e.kind)),
        }
    }
}

impl Evidence {
    /// After a failed attempt.
    pub fn of_failure(failure: Failure) -> Self {
        match failure {
            Failure::Transport(kind) if !kind.may_have_been_sent() => Evidence::NotSent,
            _ => Evidence::MayHaveBeenSent,
        }
    }

    /// For a row whose lease expired while PROCESSING.
    pub fn of_expired_lease(lease: &ExpiredLease) -> Self {
        if !lease.claimed_by_broker {
            Evidence::Unknown
        } else if lease.attempts == 0 {
            Evidence::NotSent
        } else {
            Evidence::MayHaveBeenSent
        }
    }
}

/// What a failure makes of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It may be sent (again): by the same worker after a backoff, or by whoever claims it
    /// next after recovery.
    SendAgain,
    /// Final failure (ERROR): nothing more will be sent.
    Error,
    /// It may have taken effect: UNCERTAIN, never resent automatically.
    Uncertain,
}

/// The decision (see the module docs). `budget_left`: whether the retry budget allows
/// another attempt (recovery passes true: the row goes back to the queue).
pub fn fate(class: InterfaceClass, evidence: Evidence, budget_left: bool) -> Fate {
    match (class, evidence) {
        (InterfaceClass::StateChanging, Evidence::MayHaveBeenSent | Evidence::Unknown) => {
            Fate::Uncertain
        }
        _ if budget_left => Fate::SendAgain,
        _ => Fate::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InterfaceClass::*;
    use TransportErrorKind::*;

    #[test]
    fn state_changing_is_sent_again_only_when_nothing_left() {
        let again = |f| fate(StateChanging, Evidence::of_failure(f), true);
        assert_eq!(again(Failure::Transport(NotSent)), Fate::SendAgain);
        for kind in [Timeout, HttpStatus(502), Broken, BadReply] {
            assert_eq!(again(Failure::Transport(kind)), Fate::Uncertain, "{kind:?}");
        }
        assert_eq!(again(Failure::Unreadable), Fate::Uncertain);
        // Out of budget and provably unsent: a clean failure the HIS may repeat.
        let last = fate(
            StateChanging,
            Evidence::of_failure(Failure::Transport(NotSent)),
            false,
        );
        assert_eq!(last, Fate::Error);
    }

    #[test]
    fn read_only_is_sent_again_within_the_budget() {
        for kind in [NotSent, Timeout, HttpStatus(500), Broken] {
            let e = Evidence::of_failure(Failure::Transport(kind));
            assert_eq!(fate(ReadOnly, e, true), Fate::SendAgain);
            assert_eq!(fate(ReadOnly, e, false), Fate::Error);
        }
        assert_eq!(
            fate(ReadOnly, Evidence::of_failure(Failure::Unreadable), true),
            Fate::SendAgain
        );
    }

    #[test]
    fn the_store_and_core_name_the_same_reversal_code() {
        assert_eq!(yibao_store::REVERSAL_CODE, yibao_core::codes::REVERSAL);
    }

    fn lease(attempts: i64, claimed_by_broker: bool) -> ExpiredLease {
        ExpiredLease {
            request_id: 1,
            interface_code: "2207".into(),
            worker_id: claimed_by_broker.then(|| "w".to_string()),
            lease_until_ms: None,
            attempts,
            last_msgid: None,
            fence: i64::from(claimed_by_broker),
            claimed_by_broker,
        }
    }

    #[test]
    fn recovery_requeues_only_with_evidence_that_nothing_was_sent() {
        let recovered = |l: &ExpiredLease, class| fate(class, Evidence::of_expired_lease(l), true);
        assert_eq!(recovered(&lease(0, true), StateChanging), Fate::SendAgain);
        assert_eq!(recovered(&lease(1, true), StateChanging), Fate::Uncertain);
        // A row the original design left PROCESSING: no attempt on record proves nothing.
        assert_eq!(recovered(&lease(0, false), StateChanging), Fate::Uncertain);
        for l in [lease(0, true), lease(1, true), lease(0, false)] {
            assert_eq!(recovered(&l, ReadOnly), Fate::SendAgain);
        }
    }
}
