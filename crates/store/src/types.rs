//! The values that cross the [`crate::Store`] boundary.

use yibao_proto::{Outcome, Overrides, RequestStatus, StatusCount};

use crate::StoreError;

/// A request to record.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub interface_code: String,
    /// JSON text of the envelope's `input`, stored exactly as given (even if malformed: the
    /// broker then marks the row ERROR, so every call stays audited).
    pub input_data: String,
    pub overrides: Overrides,
    /// Local time (`yyyy-MM-dd HH:mm:ss`) after which the request must not be sent.
    pub expires_at: Option<String>,
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

/// Who holds a claimed row: the worker and the claim's fencing token.
///
/// A lease alone does not stop a double send: a broker that stalls (a slow sign-in, a hung
/// disk) can outlive its lease, see the row recovered and claimed again, and then wake up
/// and send. Every claim therefore increments the row's `claim_gen`; recording an attempt,
/// extending the lease and finishing all require the generation of *this* claim in the
/// same statement, so a holder whose claim was superseded can do nothing to the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub worker_id: String,
    /// The row's `claim_gen` after this claim.
    pub fence: i64,
}

/// A row this worker now holds.
#[derive(Debug, Clone)]
pub struct ClaimedRequest {
    pub request_id: i64,
    pub interface_code: String,
    /// The input as text. Empty when the stored value is unreadable (see `defect`).
    pub input_data: String,
    pub overrides: Overrides,
    pub retry_count: i64,
    /// The claim generation (fencing token) this claim holds.
    pub fence: i64,
    /// The row's `expires_at` had passed when it was claimed (or cannot be read as a time):
    /// it must not be sent.
    pub expired: bool,
    /// Why the row cannot be processed as stored (input not text, not UTF-8, …). The
    /// broker ends such a row ERROR with this reason instead of letting one bad row stop
    /// the queue.
    pub defect: Option<String>,
}

impl ClaimedRequest {
    /// This claim as a holder, for the calls that must prove it.
    pub fn holder(&self, worker_id: &str) -> Holder {
        Holder {
            worker_id: worker_id.to_string(),
            fence: self.fence,
        }
    }
}

/// Result of claiming one specific row.
// One value per `Run`, handed straight to its caller: boxing the claim would cost an
// allocation and change the broker's patterns for no saving worth having.
#[allow(clippy::large_enum_variant)]
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

/// An attempt about to be sent, as [`crate::Store::begin_attempt`] records it: named fields,
/// because `infno` and `msgid` are both text and must never trade places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptStart {
    pub request_id: i64,
    /// Whose claim the attempt is made under (checked in the same statement).
    pub holder: Holder,
    /// The interface code sent as `infno`.
    pub infno: String,
    /// The fresh msgid of this attempt.
    pub msgid: String,
    /// The lease is extended to at least this (epoch milliseconds).
    pub lease_until_ms: i64,
}

/// How one attempt ended, written when it is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptEnd {
    pub attempt_id: i64,
    pub outcome: AttemptOutcome,
    pub duration_ms: u64,
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
    /// Who finishes: only the current claim may (see [`Holder`]).
    pub holder: Holder,
    pub status: RequestStatus,
    /// The attempt to close, if one was begun.
    pub attempt: Option<AttemptEnd>,
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
    /// The row's claim generation when it was found (recovery moves it only if unchanged).
    pub fence: i64,
    /// Whether this product claimed the row (a claim generation and a worker on record).
    /// Only then does "no attempt recorded" prove that nothing was sent: a row set
    /// PROCESSING by anything else (the original design, a DBA) carries no such evidence.
    pub claimed_by_broker: bool,
}

/// Result of cancelling a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was PENDING and is now ERROR (cancelled); it will never be sent.
    Cancelled,
    /// It is not PENDING any more (claimed, or already terminal): nothing changed.
    NotPending(RequestStatus),
    NotFound,
}

/// Result of asking to reverse (2601 冲正) a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalStart {
    /// The 2601 request was recorded (PENDING) with this id and linked to the original.
    Started(i64),
    /// A reversal of this request already exists and has not failed: this one.
    Existing {
        reversal_id: i64,
        status: RequestStatus,
    },
    /// The original is not UNCERTAIN or COMPLETED.
    WrongState(RequestStatus),
    NotFound,
}

/// How a store reads the spelling of a stored status, which must match how its own
/// statements compare it, or a row would be reported in a state it is never treated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusSpelling {
    /// Exactly as written (SQLite compares text byte for byte: a row whose status reads
    /// 'pending' is never claimed, so it must not be reported as waiting either).
    Exact,
    /// As [`RequestStatus::parse`] reads it: case and surrounding blanks ignored (SQL
    /// Server's usual collations compare case-insensitively; HIS staff write rows by hand).
    Lenient,
}

/// A stored status, or `Corrupt` naming the text that is none.
pub(crate) fn parse_status(s: &str, spelling: StatusSpelling) -> Result<RequestStatus, StoreError> {
    let status = match spelling {
        StatusSpelling::Exact => RequestStatus::ALL.into_iter().find(|st| st.as_str() == s),
        StatusSpelling::Lenient => RequestStatus::parse(s),
    };
    status.ok_or_else(|| StoreError::Corrupt(format!("unknown status {s:?}")))
}

/// `SELECT status, COUNT(*) … GROUP BY status` rows as the broker reports them: statuses it
/// does not know (a row edited by hand) are left out rather than failing the report.
pub(crate) fn status_counts(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<StatusCount> {
    // Spellings that parse alike ('PENDING', 'pending ') are one state: one count each.
    let mut by_status = std::collections::BTreeMap::new();
    for (s, n) in rows {
        if let Some(status) = RequestStatus::parse(&s) {
            *by_status.entry(status).or_insert(0u64) += u64::try_from(n).unwrap_or(0);
        }
    }
    by_status
        .into_iter()
        .map(|(status, count)| StatusCount { status, count })
        .collect()
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

/// Which way a file went in `medical_insurance_files`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDirection {
    /// Sent to the platform (9101), or stored by the HIS to be sent.
    Upload,
    /// Received from the platform (9102).
    Download,
}

impl FileDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            FileDirection::Upload => "UPLOAD",
            FileDirection::Download => "DOWNLOAD",
        }
    }
}

/// A row of `medical_insurance_files` the broker adds: a file it downloaded (9102), with
/// where it lies and its fingerprint. The bytes stay on disk, not in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub request_id: Option<i64>,
    pub direction: FileDirection,
    pub file_qury_no: Option<String>,
    pub filename: String,
    /// Where the file lies on the broker's host.
    pub path: Option<String>,
    pub size: i64,
    /// SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
}

/// A file to upload as the HIS stored it: its bytes (`content`, written by T-SQL) or where
/// it lies (`path`). `content_size` is the stored length; `content` is read only when it
/// is within the caller's limit, so an oversized row is never loaded into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub filename: String,
    pub content: Option<Vec<u8>>,
    pub content_size: Option<i64>,
    pub path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_store_reads_statuses_as_it_compares_them() {
        for st in RequestStatus::ALL {
            for spelling in [StatusSpelling::Exact, StatusSpelling::Lenient] {
                assert_eq!(parse_status(st.as_str(), spelling).ok(), Some(st));
            }
        }
        assert_eq!(
            parse_status(" pending ", StatusSpelling::Lenient).ok(),
            Some(RequestStatus::Pending)
        );
        match parse_status(" pending ", StatusSpelling::Exact) {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("\" pending \""), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_status("DONE", StatusSpelling::Lenient),
            Err(StoreError::Corrupt(why)) if why.contains("DONE")
        ));
    }
}
