//! The messages. Every enum is *externally tagged* (`{"Run":{…}}` in JSON) because that is
//! the one serde representation both postcard and JSON support. Every variant is a struct
//! variant, even when empty (`{"Ping":{}}`), so JSON clients see one uniform shape.
//!
//! Rules that keep the binary format working (postcard is positional, not self-describing):
//! * never `skip_serializing_if`; `#[serde(default)]` is fine and lets JSON clients omit
//!   optional fields;
//! * JSON documents the broker forwards (the `input` of a call, the stored response) travel
//!   as JSON *text*, exactly as the HIS stores them in `input_data`/`response_data`;
//! * new variants and fields go at the end, and change [`crate::PROTOCOL_VERSION`].

use serde::{Deserialize, Serialize};

/// A client → broker message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Must be the first frame of a connection. The client may send its next request right
    /// behind it without waiting for `Welcome` (pipelining saves a round trip per shim call).
    Hello { version: u32, client: String },
    /// Liveness check; answered with `Pong`.
    Ping {},
    /// Record a new request (audited in the store) and process it. `input` is the JSON text
    /// of the envelope's `input` object, e.g. `{"data":{"psn_no":"…"}}`. Sync calls answer
    /// with `Outcome` once the request is terminal or `wait_ms` has passed; async calls answer
    /// `Accepted` at once.
    Call {
        interface: String,
        input: String,
        #[serde(default)]
        overrides: Overrides,
        #[serde(default)]
        mode: CallMode,
        #[serde(default)]
        wait_ms: Option<u64>,
    },
    /// Process the already inserted row `request_id` now (the stored-procedure path) and wait
    /// up to `wait_ms` for it to become terminal.
    Run { request_id: i64, wait_ms: u64 },
    /// Wake the broker for an inserted row without waiting; answered with `Accepted`.
    Kick { request_id: i64 },
    /// Current state of a request, with the stored response; never waits.
    Result { request_id: i64 },
    /// Wait up to `timeout_ms` for a request to become terminal, then answer its `Outcome`.
    Wait { request_id: i64, timeout_ms: u64 },
    /// Queue depth and health.
    Status {},
    /// Send 2601 冲正 for an UNCERTAIN (or COMPLETED) reversible request and wait up to
    /// `wait_ms` for the platform's verdict; answers the original request's `Outcome`
    /// (`REVERSED` on success). Since protocol version 2.
    Reverse { request_id: i64, wait_ms: u64 },
    /// Check `input` (JSON text, as in `Call`) against the broker's catalog rules for
    /// `interface` without recording or sending anything; answered with `Validation`.
    /// Since protocol version 4.
    Validate { interface: String, input: String },
    /// Cancel a PENDING request atomically: it ends ERROR "已取消" and is never sent.
    /// Answers the request's `Outcome` when cancelled; `BadRequest` naming the current state
    /// when it is already claimed or terminal (nothing changed). Since protocol version 5.
    Cancel { request_id: i64 },
    /// Record a batch job in `medical_insurance_jobs` (`kind`: `catalog-download`, …;
    /// `params`: JSON text) and run it; answers `Job` once it has finished or `wait_ms` has
    /// passed (the job goes on). Since protocol version 6.
    Job {
        kind: String,
        params: String,
        wait_ms: u64,
    },
    /// Where job `job_id` stands, waiting up to `wait_ms` for it to finish (0: no wait).
    /// Since protocol version 6.
    JobWait { job_id: i64, wait_ms: u64 },
}

/// A broker → client message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Welcome {
        version: u32,
        server: String,
        max_frame: u32,
    },
    Pong {
        server: String,
    },
    /// The request is recorded (and, for `Kick`, the broker was woken).
    Accepted {
        request_id: i64,
    },
    Outcome(Outcome),
    Status(StatusReport),
    /// The request could not be served. The connection stays usable unless the frame
    /// itself was unreadable (`BadFrame`, `FrameTooLarge`), after which the broker closes it.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The answer to `Validate`: `problems` is empty when the input passes; otherwise one
    /// line per broken rule (中文 / English), and `message` says it all in one line as the
    /// HIS would see it in `err_msg`. Since protocol version 4.
    Validation {
        ok: bool,
        problems: Vec<String>,
        message: String,
    },
    /// The answer to `Job` and `JobWait`. Since protocol version 6.
    Job(JobOutcome),
}

/// Where a batch job stands (`medical_insurance_jobs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub job_id: i64,
    pub kind: String,
    /// `PENDING`, `RUNNING`, `COMPLETED` or `ERROR`, as stored.
    pub status: String,
    /// What the job did, JSON text (counts, versions, request ids).
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub err_msg: Option<String>,
    /// True when a wait ended before the job finished.
    #[serde(default)]
    pub timed_out: bool,
}

/// Where a request stands, with what the platform answered when it is terminal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub request_id: i64,
    pub status: RequestStatus,
    /// The platform's `infcode` as stored (`"0"` is success).
    #[serde(default)]
    pub infcode: Option<String>,
    #[serde(default)]
    pub err_msg: Option<String>,
    /// The msgid of the last attempt sent to the platform.
    #[serde(default)]
    pub msgid: Option<String>,
    /// The stored `response_data` (JSON text of the whole response envelope).
    #[serde(default)]
    pub response: Option<String>,
    /// True when a wait ended before the request became terminal.
    #[serde(default)]
    pub timed_out: bool,
}

/// Lifecycle states of a request (design.md §4), spelled as in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequestStatus {
    Pending,
    Processing,
    Completed,
    Error,
    Uncertain,
    Reversed,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 6] = [
        RequestStatus::Pending,
        RequestStatus::Processing,
        RequestStatus::Completed,
        RequestStatus::Error,
        RequestStatus::Uncertain,
        RequestStatus::Reversed,
    ];

    /// The spelling stored in `medical_insurance_requests.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "PENDING",
            RequestStatus::Processing => "PROCESSING",
            RequestStatus::Completed => "COMPLETED",
            RequestStatus::Error => "ERROR",
            RequestStatus::Uncertain => "UNCERTAIN",
            RequestStatus::Reversed => "REVERSED",
        }
    }

    /// Parses the stored spelling (case-insensitive, surrounding blanks ignored, since
    /// HIS staff may write rows by hand).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// Terminal states are never changed by the broker on its own.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RequestStatus::Pending | RequestStatus::Processing)
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Envelope fields that vary per patient or operator. `None` means "use the configured
/// default". Stored in the request row so a retry sends the same envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    #[serde(default)]
    pub insuplc_admdvs: Option<String>,
    #[serde(default)]
    pub mdtrtarea_admvs: Option<String>,
    #[serde(default)]
    pub opter: Option<String>,
    #[serde(default)]
    pub opter_name: Option<String>,
    #[serde(default)]
    pub opter_type: Option<String>,
}

/// Whether a `Call` waits for the platform's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallMode {
    #[default]
    Sync,
    Async,
}

/// Machine-readable reason of an `Error` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The client's protocol version is not spoken by this broker.
    UnsupportedVersion,
    /// The first frame of a connection was not `Hello`.
    HandshakeRequired,
    /// The frame could not be decoded; the connection is closed after this reply.
    BadFrame,
    /// The frame exceeded the broker's maximum; the connection is closed after this reply.
    FrameTooLarge,
    /// The message was understood but its content is invalid (e.g. empty interface code).
    BadRequest,
    /// No request with that id exists.
    NotFound,
    /// The store (database) could not be reached or failed.
    StoreUnavailable,
    /// The broker is shutting down and takes no new work.
    ShuttingDown,
    /// A bug or an unexpected condition in the broker.
    Internal,
    /// Every connection slot is taken (`broker.max_connections`); nothing was read or done,
    /// the connection is closed after this reply. Retry shortly. (Appended last: postcard
    /// numbers variants by position.)
    Busy,
}

/// Count of requests in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCount {
    pub status: RequestStatus,
    pub count: u64,
}

/// Answer to `Status`: what an operator needs at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub server: String,
    pub uptime_ms: u64,
    /// Requests being processed by this broker right now.
    pub in_flight: u32,
    /// Requests in the store by state.
    pub counts: Vec<StatusCount>,
    /// Requests this broker finished since start, by outcome.
    pub completed_since_start: u64,
    pub failed_since_start: u64,
    /// Operators with a cached 9001 sign-in.
    pub signed_in_operators: u32,
    /// Where the store lives (no secrets).
    pub store: String,
    /// The platform endpoint (no secrets).
    pub platform: String,
    // --- protocol 3 ---
    /// The window the latency figures cover, in seconds.
    pub window_s: u32,
    /// Per interface code: calls finished in the window and their latency percentiles.
    pub latency: Vec<LatencyStat>,
    /// Whether the platform answered the most recent attempt (`None`: nothing sent yet).
    pub platform_ok: Option<bool>,
    /// Why the most recent attempt got no answer (personal data masked).
    pub platform_error: Option<String>,
    /// Whether the store answered this status query.
    pub store_ok: bool,
    pub store_error: Option<String>,
}

/// Latency of one interface over the status window (milliseconds, claim to terminal state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyStat {
    pub infno: String,
    pub count: u32,
    pub p50_ms: u32,
    pub p95_ms: u32,
    pub p99_ms: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_spelling_round_trips() {
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            RequestStatus::parse(" pending "),
            Some(RequestStatus::Pending)
        );
        assert_eq!(RequestStatus::parse("DONE"), None);
        assert!(RequestStatus::Uncertain.is_terminal());
        assert!(!RequestStatus::Processing.is_terminal());
    }
}
