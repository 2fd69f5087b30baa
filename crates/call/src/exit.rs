//! The shim's exit codes: the one thing a stored procedure reliably gets back from
//! `xp_cmdshell` (as its return value), so they are part of the HIS-facing contract and are
//! listed in the README. Never renumber them.

use yibao_proto::{Outcome, RequestStatus};

/// What happened, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// 0: done — the request is COMPLETED (infcode 0), or the command succeeded.
    Done = 0,
    /// 1: business error — the request ended ERROR (or REVERSED); read err_msg from the view.
    BusinessError = 1,
    /// 2: uncertain — the request is UNCERTAIN, or the connection broke after it was sent.
    Uncertain = 2,
    /// 3: the broker is not reachable (not running, wrong pipe name).
    Unreachable = 3,
    /// 4: the wait ended before the request became terminal; it goes on in the broker.
    Timeout = 4,
    /// 5: bad usage (arguments, unreadable input file).
    Usage = 5,
    /// 6: the broker refused the command (unknown request id, database down, shutting down).
    Refused = 6,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// The exit code for an outcome the broker reported.
pub fn exit_code_for(o: &Outcome) -> ExitCode {
    match o.status {
        RequestStatus::Completed => ExitCode::Done,
        RequestStatus::Error | RequestStatus::Reversed => ExitCode::BusinessError,
        RequestStatus::Uncertain => ExitCode::Uncertain,
        RequestStatus::Pending | RequestStatus::Processing => ExitCode::Timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: RequestStatus) -> Outcome {
        Outcome {
            request_id: 1,
            status,
            infcode: None,
            err_msg: None,
            msgid: None,
            response: None,
            timed_out: false,
        }
    }

    #[test]
    fn statuses_map_to_documented_codes() {
        let codes: Vec<i32> = RequestStatus::ALL
            .iter()
            .map(|s| exit_code_for(&outcome(*s)).code())
            .collect();
        // PENDING, PROCESSING, COMPLETED, ERROR, UNCERTAIN, REVERSED
        assert_eq!(codes, vec![4, 4, 0, 1, 2, 1]);
    }
}
