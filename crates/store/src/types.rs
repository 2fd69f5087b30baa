//! The values that cross the [`crate::Store`] boundary.

use yibao_proto::{Outcome, Overrides, RequestStatus, StatusCount};

/// A request to record.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub interface_code: String,
    /// JSON text of the envelope's `input`, stored exactly as given (even if malformed: the
    /// broker then marks the row ERROR, so every call stays audited).
    pub input_data: String,
    pub overrides: Overrides,
}

/// Who claims and for how long.
#[derive(Debug, Clone)]
pub struct ClaimSpec {
    pub worker_id: String,
    pub limit: u32,
    /// Lease end, epoch milliseconds.
    pub lease_until_ms: i64,
    /// Now, epoch milliseconds (rows scheduled later are not due).
    pub now_ms: i64,
}

/// A row this worker now holds.
#[derive(Debug, Clone)]
pub struct ClaimedRequest {
    pub request_id: i64,
    pub interface_code: String,
    pub input_data: String,
    pub overrides: Overrides,
    pub retry_count: i64,
}

/// Result of claiming one specific row.
#[derive(Debug, Clone)]
pub enum ClaimOne {
    Claimed(ClaimedRequest),
    /// The row exists but is not PENDING (someone else holds it, or it is done).
    NotPending(RequestStatus),
    NotFound,
}

/// Who wrote a response row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The platform's own reply.
    Platform,
    /// The broker's verdict without a platform reply (bad input, transport failure).
    Broker,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Platform => "PLATFORM",
            Origin::Broker => "BROKER",
        }
    }
}

/// The row written to `medical_insurance_responses`.
#[derive(Debug, Clone)]
pub struct ResponseRow {
    pub response_data: String,
    pub infcode: Option<String>,
    pub err_msg: Option<String>,
    pub origin: Origin,
    /// Output values for `medical_insurance_response_fields` (replacing earlier ones).
    pub fields: Vec<ResponseField>,
}

/// How an attempt ended, as recorded in the attempts table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// A reply with infcode 0.
    Success,
    /// A reply with a non-zero infcode.
    BusinessError,
    /// No usable reply (refused, timeout, HTTP error, unreadable reply).
    TransportError,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Success => "SUCCESS",
            AttemptOutcome::BusinessError => "BUSINESS_ERROR",
            AttemptOutcome::TransportError => "TRANSPORT_ERROR",
        }
    }
}

/// The end of processing: attempt outcome, response and final status, written together.
#[derive(Debug, Clone)]
pub struct Finish {
    pub request_id: i64,
    pub worker_id: String,
    pub status: RequestStatus,
    /// The attempt to close, if one was begun.
    pub attempt: Option<(i64, AttemptOutcome, u64)>,
    pub response: Option<ResponseRow>,
    /// The broker's explanation (also shown in the view's err_msg when the platform gave none).
    pub error: Option<String>,
}

/// One row of `v_medical_insurance_result`, as the broker needs it.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub request_id: i64,
    pub interface_code: String,
    /// The request's input JSON text as stored.
    pub input_data: String,
    pub status: RequestStatus,
    pub retry_count: i64,
    pub msgid: Option<String>,
    pub response_data: Option<String>,
    pub infcode: Option<String>,
    pub err_msg: Option<String>,
}

impl RequestView {
    /// The pipe's view of this row.
    pub fn into_outcome(self, timed_out: bool) -> Outcome {
        Outcome {
            request_id: self.request_id,
            status: self.status,
            infcode: self.infcode,
            err_msg: self.err_msg,
            msgid: self.msgid,
            response: self.response_data,
            timed_out,
        }
    }
}

/// A PROCESSING row whose lease has run out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    pub request_id: i64,
    pub interface_code: String,
    /// The worker that held it (`None` if a row was set PROCESSING by hand).
    pub worker_id: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// Attempts begun for it. Zero means nothing can have reached the platform, because an
    /// attempt is recorded before its envelope is sent.
    pub attempts: i64,
    /// The msgid of the last attempt, for the UNCERTAIN reason and 冲正.
    pub last_msgid: Option<String>,
}

/// `SELECT status, COUNT(*) … GROUP BY status` rows as the broker reports them: statuses it
/// does not know (a row edited by hand) are left out rather than failing the report.
pub(crate) fn status_counts(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<StatusCount> {
    let mut out: Vec<StatusCount> = rows
        .into_iter()
        .filter_map(|(s, n)| {
            RequestStatus::parse(&s).map(|status| StatusCount {
                status,
                count: u64::try_from(n).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by_key(|c| c.status);
    out
}

/// One row of `medical_insurance_response_fields`: an output value the catalog names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseField {
    /// Catalog path, e.g. `setlinfo.setl_id` or `insuinfo[*].balc`.
    pub path: String,
    /// Position in the list for `[*]` paths; 0 otherwise.
    pub row_index: u32,
    pub value: String,
}
