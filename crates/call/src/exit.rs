//! The shim's exit codes: the one thing a stored procedure reliably gets back from
//! `xp_cmdshell` (as its return value), so they are part of the HIS-facing contract and are
//! listed in the README. Never renumber them.

use yibao_proto::{ClientError, ErrorCode, Outcome, RequestStatus};

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

/// What a failed conversation with the broker means for the caller: the exit code and the
/// one ASCII stdout line (`error …`). The only place [`ClientError`] meets the exit codes,
/// so the shim's contract cannot depend on which code path noticed the failure.
pub fn failure(e: &ClientError) -> (ExitCode, String) {
    let (code, what) = match e {
        ClientError::Unreachable { .. } => (ExitCode::Unreachable, "broker-unreachable"),
        // The request may have been sent: its fate is unknown.
        ClientError::Lost(_) => (ExitCode::Uncertain, "connection-lost"),
        ClientError::Protocol(_) => (ExitCode::Uncertain, "protocol"),
        // The broker holds the request and goes on with it.
        ClientError::TimedOut => (ExitCode::Timeout, "timeout"),
        ClientError::Refused {
            code: ErrorCode::UnsupportedVersion | ErrorCode::HandshakeRequired,
            ..
        } => (ExitCode::Refused, "handshake-refused"),
        // Refused like the broker refuses an oversized frame, but nothing was sent.
        ClientError::TooLarge { .. } => {
            return (
                ExitCode::Refused,
                format!("error {:?}", ErrorCode::FrameTooLarge),
            )
        }
        ClientError::Refused { code, .. } => return (ExitCode::Refused, format!("error {code:?}")),
    };
    (code, format!("error {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_documented_codes_and_lines() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let cases = [
            (
                ClientError::unreachable("e", io()),
                3,
                "error broker-unreachable",
            ),
            (
                ClientError::Lost(yibao_proto::FrameError::Truncated),
                2,
                "error connection-lost",
            ),
            (ClientError::Protocol("x".into()), 2, "error protocol"),
            (ClientError::TimedOut, 4, "error timeout"),
            (
                ClientError::refused(ErrorCode::UnsupportedVersion, "v".into()),
                6,
                "error handshake-refused",
            ),
            (
                ClientError::TooLarge { len: 9, max: 1 },
                6,
                "error FrameTooLarge",
            ),
            (
                ClientError::refused(ErrorCode::NotFound, "n".into()),
                6,
                "error NotFound",
            ),
        ];
        for (e, code, line) in cases {
            let (exit, printed) = failure(&e);
            assert_eq!((exit.code(), printed.as_str()), (code, line), "{e:?}");
        }
    }

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
