//! Types of the batch work the broker runs beside single requests: jobs
//! (`medical_insurance_jobs`: a catalog download, a scheduled sign-out, …) and the catalog
//! rows a download loads (`medical_insurance_catalog_rows`, with the version held per
//! catalog in `medical_insurance_catalog_versions`).
//!
//! A job is claimed like a request — a lease, and a `claim_gen` fencing token every claim
//! increments — so several brokers on one store run it once, and a job whose broker died
//! is taken over when its lease runs out. A scheduled job is identified by its schedule's
//! name and time slot (unique in the table), so a slot can never get two jobs.

/// The states of a job, as stored in `medical_insurance_jobs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Error,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Error => "ERROR",
        }
    }

    /// Reads the stored spelling (blanks and case ignored: HIS staff may write rows by hand).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Error)
    }
}

/// A job to record. `schedule` and `slot` are set together for a scheduled run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// `catalog-download`, `reconcile`, `sign-out`.
    pub kind: String,
    /// The job's parameters, JSON text.
    pub params: String,
    pub schedule: Option<String>,
    pub slot: Option<String>,
}

/// What recording a job did: a new row, or (a scheduled job) the row another broker or an
/// earlier run already made for the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobInsert {
    pub job_id: i64,
    pub created: bool,
}

/// Asks for a job to claim: `job_id`, or the oldest claimable one. Claimable means PENDING,
/// or RUNNING with its lease passed (its broker stopped or died).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaimSpec {
    pub job_id: Option<i64>,
    pub worker_id: String,
    pub now_ms: i64,
    pub lease_until_ms: i64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub job_id: i64,
    pub kind: String,
    pub params: String,
    pub schedule: Option<String>,
    pub slot: Option<String>,
    pub status: JobStatus,
    pub worker_id: Option<String>,
    /// Incremented by every claim; a claim's holder proves itself with it.
    pub claim_gen: i64,
    pub result: Option<String>,
    pub err_msg: Option<String>,
    pub create_time: Option<String>,
    pub end_time: Option<String>,
}

/// The end of a job, written only by the holder of claim `claim_gen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFinish {
    pub job_id: i64,
    pub claim_gen: i64,
    pub status: JobStatus,
    /// JSON text: what the job did (counts, versions, request ids); `None` when it failed.
    pub result: Option<String>,
    pub err_msg: Option<String>,
}

/// One line of a downloaded catalog file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRow {
    /// The version the line belongs to (its `ver_name` field).
    pub ver_name: String,
    /// The line's number in the file, from 1.
    pub row_no: i64,
    /// The first field (the 医保目录编码 of every national catalog).
    pub item_code: String,
    /// The line as received, fields separated by tabs, UTF-8.
    pub fields: String,
}

/// Rows of one download to add, if the catalog still holds `from_ver` (compare-and-set:
/// two runs that started from the same version cannot both add their rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogLoad {
    pub catalog_code: String,
    /// The version held when the download started (`None`: nothing yet).
    pub from_ver: Option<String>,
    /// The version held after the load (the newest `ver_name` of the rows, or `from_ver`).
    pub to_ver: String,
    pub job_id: Option<i64>,
    pub rows: Vec<CatalogRow>,
}

/// The version a catalog holds and how many rows it has in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogVersion {
    pub ver_name: String,
    pub row_count: i64,
    /// The job whose load made this version (a job taken over finds its own load here).
    pub job_id: Option<i64>,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogLoaded {
    /// The rows were added; the catalog now holds `to_ver` and `total` rows.
    Added { added: i64, total: i64 },
    /// Another run changed the catalog's version since this one started (it now holds
    /// `current`); nothing was added.
    Moved { current: Option<String> },
}

/// The settlement interfaces reconciliation reads: 2207 门诊结算 (and 2207A), 2304 住院结算,
/// and their cancellations 2208, 2305.
pub const SETTLEMENT_CODES: &[&str] = &["2207", "2207A", "2304", "2208", "2305"];

/// A settlement request as stored, for reconciliation: COMPLETED ones with their response,
/// UNCERTAIN ones (whose fate the platform's view may show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementRow {
    pub request_id: i64,
    pub interface_code: String,
    pub status: yibao_proto::RequestStatus,
    pub input_data: String,
    pub response_data: Option<String>,
    /// When the request was recorded, local time `yyyy-MM-dd HH:mm:ss…`.
    pub create_time: Option<String>,
}

/// One difference a reconciliation found (`medical_insurance_reconcile_diffs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileDiff {
    /// The day reconciled, `yyyy-MM-dd`.
    pub stmt_date: String,
    /// `ONLY_OURS`, `ONLY_PLATFORM`, `AMOUNT_DIFFERS`, `UNCERTAIN_APPLIED`,
    /// `UNCERTAIN_NOT_APPLIED`.
    pub kind: String,
    pub setl_id: Option<String>,
    pub mdtrt_id: Option<String>,
    pub psn_no: Option<String>,
    /// `1` for a cancellation, `0` for a settlement.
    pub refd_setl_flag: Option<String>,
    /// The platform's words (which amount differs, both values).
    pub memo: Option<String>,
    /// Our request for this settlement, when we have one.
    pub request_id: Option<i64>,
}
