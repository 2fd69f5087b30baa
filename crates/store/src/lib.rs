//! `yibao-store` is the durable request queue and audit trail. The HIS reads it with plain
//! SQL, so its table and view names are the seed's contract:
//! `medical_insurance_requests`, `medical_insurance_responses`, `v_medical_insurance_result`,
//! plus `medical_insurance_attempts` (one row per HTTP attempt and msgid).
//!
//! One trait, [`Store`], so the broker is the same on the embedded SQLite file and on the
//! HIS's SQL Server. Every method is one atomic step of the lifecycle in design.md §4.

mod batch;
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod mssql;
pub mod sqlite;
mod types;

pub use batch::{
    CatalogLoad, CatalogLoaded, CatalogRow, CatalogVersion, JobClaimSpec, JobFinish, JobInsert,
    JobStatus, JobView, NewJob, ReconcileDiff, SettlementRow, SETTLEMENT_CODES,
};
pub use error::StoreError;
pub use mssql::{MssqlAuth, MssqlEncryption, MssqlOptions, MssqlStore};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use types::{
    AttemptEnd, AttemptOutcome, AttemptStart, CancelOutcome, ClaimOne, ClaimSpec, ClaimedRequest,
    ExpiredLease, FileContent, FileDirection, Finish, Holder, NewFile, NewRequest, Origin,
    RequestView, ResponseField, ResponseRow, ReversalStart,
};

use async_trait::async_trait;
use yibao_proto::{RequestStatus, StatusCount};

/// The durable store behind the broker. Implementations must make each method atomic and
/// safe when several broker processes share one database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Where the store lives, for status output (never contains secrets).
    fn describe(&self) -> String;

    /// Records a new PENDING request (a pipe `Call`; the HIS inserts its rows with SQL).
    async fn insert_request(&self, new: NewRequest) -> Result<i64, StoreError>;

    /// Records a new request already claimed by `spec.worker_id` (for requests the broker
    /// makes itself, such as a 9001 sign-in, which no other broker may pick up first).
    async fn insert_claimed(
        &self,
        new: NewRequest,
        spec: ClaimSpec,
    ) -> Result<ClaimedRequest, StoreError>;

    /// Atomically moves up to `spec.limit` due PENDING rows to PROCESSING under a lease
    /// held by `spec.worker_id`, oldest first.
    async fn claim_pending(&self, spec: ClaimSpec) -> Result<Vec<ClaimedRequest>, StoreError>;

    /// Atomically claims one specific row if it is PENDING (the `Run` path).
    async fn claim_one(&self, request_id: i64, spec: ClaimSpec) -> Result<ClaimOne, StoreError>;

    /// The store's half of "may this attempt be sent?": records that an attempt with
    /// `start.msgid` is about to be sent, *before* it is sent, so the msgid is known even if
    /// the broker dies mid-call, and extends the lease to `start.lease_until_ms`. In the same
    /// statement it checks that `start.holder`'s claim is still the current one (`LeaseLost`
    /// otherwise) and that the row's `expires_at` has not passed (`Expired`: it must never
    /// be sent). Returns the attempt id.
    async fn begin_attempt(&self, start: AttemptStart) -> Result<i64, StoreError>;

    /// Extends the lease of a row `holder` still holds (the heartbeat that runs for as long
    /// as a request is in a broker's hands). False when the claim is no longer current.
    async fn heartbeat(
        &self,
        request_id: i64,
        holder: &Holder,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// PROCESSING rows whose lease ended before `now_ms` (their broker died or hung), oldest
    /// first, with what recovery needs to decide their fate.
    async fn expired_leases(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ExpiredLease>, StoreError>;

    /// Moves an expired row to `status` (PENDING to run again, UNCERTAIN when it may have
    /// reached the platform) with `reason`, only if it is still PROCESSING under the same
    /// expired lease and claim generation. Returns false when someone else got there first.
    async fn recover(
        &self,
        lease: &ExpiredLease,
        now_ms: i64,
        status: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Closes an attempt that is not the last one (e.g. a reply refusing a stale sign-in,
    /// after which the request is sent again with a fresh msgid).
    async fn end_attempt(&self, end: AttemptEnd) -> Result<(), StoreError>;

    /// Writes the attempt's outcome, the response row and the final status in one
    /// transaction. Returns false (and changes nothing) when `finish.holder`'s claim is not
    /// the current one. One exception, because a reply in hand beats a guess: a platform
    /// reply (`Origin::Platform`) may also finish a row that recovery marked UNCERTAIN while
    /// the store was unreachable, if the claim generation is still this one and no 冲正 was
    /// started for it.
    ///
    /// When a request finishes COMPLETED, every request whose reversal it is (their
    /// `reversal_id`) becomes REVERSED in the same transaction.
    async fn finish(&self, finish: Finish) -> Result<bool, StoreError>;

    /// Turns a PENDING request into ERROR "已取消 / cancelled" (`reason`) atomically, so it
    /// is never sent; refused with the current state when it is already claimed or done.
    async fn cancel(&self, request_id: i64, reason: &str) -> Result<CancelOutcome, StoreError>;

    /// Records a 2601 冲正 request (`reversal`, PENDING) for `original_id` and links it, in
    /// one transaction, only if the original is UNCERTAIN or COMPLETED and has no reversal
    /// that is in flight or done (a reversal that ended ERROR may be replaced). So one
    /// original never has two reversals in flight, however many operators ask at once.
    async fn begin_reversal(
        &self,
        original_id: i64,
        reversal: NewRequest,
    ) -> Result<ReversalStart, StoreError>;

    /// Moves a request from `from` to `to` with `reason` (shown as err_msg when the platform
    /// gave none), only if it is still in `from`. For operator actions such as 冲正 on a
    /// terminal row; never used on rows a worker holds.
    async fn transition(
        &self,
        request_id: i64,
        from: RequestStatus,
        to: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// The request as the view shows it.
    async fn get(&self, request_id: i64) -> Result<Option<RequestView>, StoreError>;

    /// The newest requests that need a human (UNCERTAIN and ERROR), newest first.
    async fn needs_action(&self, limit: u32) -> Result<Vec<RequestView>, StoreError>;

    /// Number of requests per state.
    async fn counts(&self) -> Result<Vec<StatusCount>, StoreError>;

    /// The most recent msgid recorded (to resume the msgid sequence after a restart).
    async fn last_msgid(&self) -> Result<Option<String>, StoreError>;

    /// The request's rows in `medical_insurance_response_fields`, by path then row index.
    async fn response_fields(&self, request_id: i64) -> Result<Vec<ResponseField>, StoreError>;

    /// Adds a row to `medical_insurance_files` (a file the broker received); its `file_id`.
    async fn add_file(&self, file: NewFile) -> Result<i64, StoreError>;

    /// A file of `medical_insurance_files` to upload (the HIS inserted its bytes with SQL),
    /// or `None` when there is no such `file_id`. Bytes over `max_bytes` are not read.
    async fn file_content(
        &self,
        file_id: i64,
        max_bytes: u64,
    ) -> Result<Option<FileContent>, StoreError>;

    /// Records a job. A scheduled job (`schedule` and `slot`) whose slot already has a row
    /// is not recorded again: the existing row's id comes back with `created: false`.
    async fn insert_job(&self, job: NewJob) -> Result<JobInsert, StoreError>;

    /// Claims a job (see [`JobClaimSpec`]): RUNNING under this worker, `claim_gen` + 1.
    /// `None` when there is none to claim (or `job_id` is not claimable).
    async fn claim_job(&self, spec: JobClaimSpec) -> Result<Option<JobView>, StoreError>;

    /// Extends the lease of a job this claim still holds; false when it no longer does.
    async fn extend_job(
        &self,
        job_id: i64,
        claim_gen: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Ends a job this claim still holds; false (nothing written) when it no longer does.
    async fn finish_job(&self, finish: JobFinish) -> Result<bool, StoreError>;

    /// One job, or `None`.
    async fn get_job(&self, job_id: i64) -> Result<Option<JobView>, StoreError>;

    /// The newest jobs, newest first (for `status` and the status page).
    async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobView>, StoreError>;

    /// The version a catalog holds, or `None` before its first download.
    async fn catalog_version(
        &self,
        catalog_code: &str,
    ) -> Result<Option<CatalogVersion>, StoreError>;

    /// Adds a download's rows and moves the catalog to `to_ver` in one transaction, only if
    /// it still holds `from_ver` (see [`CatalogLoad`]).
    async fn load_catalog(&self, load: CatalogLoad) -> Result<CatalogLoaded, StoreError>;

    /// The COMPLETED and UNCERTAIN requests of [`SETTLEMENT_CODES`] created from `from` up
    /// to (not including) `to`, both `yyyy-MM-dd` local dates, oldest first.
    async fn settlements(&self, from: &str, to: &str) -> Result<Vec<SettlementRow>, StoreError>;

    /// Replaces the differences recorded for `job_id` with `diffs`, in one transaction (a
    /// job taken over and run again leaves one set), if claim `claim_gen` still holds the
    /// job; false (nothing written) when another broker took it over.
    async fn record_diffs(
        &self,
        job_id: i64,
        claim_gen: i64,
        diffs: Vec<ReconcileDiff>,
    ) -> Result<bool, StoreError>;
}

/// The interface code of 2601 冲正, whose completion reverses its original in the same
/// transaction (the same code as `yibao_core::codes::REVERSAL`; the store does not depend
/// on core, and a broker test checks that they agree).
pub const REVERSAL_CODE: &str = "2601";

/// The reason a request shows once its 2601 (`reversal_id`) completed; one text for both
/// stores.
pub fn reversed_reason(reversal_id: i64) -> String {
    format!("已冲正（冲正请求 {reversal_id}）/ reversed by request {reversal_id}")
}

/// The reason a cancelled request shows.
pub const CANCELLED_REASON: &str =
    "已取消，未发送（调用方已放弃） / cancelled, never sent (the caller gave up)";

/// The reason a request shows when its deadline (`expires_at`) passed before it was sent.
pub const EXPIRED_REASON: &str =
    "已过期，未发送（已超过 expires_at） / expired, never sent (expires_at has passed)";
