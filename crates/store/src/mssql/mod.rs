//! The SQL Server store: the queue lives in the HIS database, next to the tables the HIS
//! already reads. Same [`Store`] contract as SQLite; each method is one parameterised batch
//! (one round trip), transactional where it writes more than one row. The tables come from
//! `sql/install.sql` (run by the DBA): the broker never creates or alters schema here, it
//! only checks the installed version at start-up.
//!
//! Concurrency between brokers is SQL Server's: the claim takes rows `WITH (ROWLOCK,
//! READPAST, UPDLOCK)`, so competing brokers skip each other's rows instead of waiting or
//! taking the same one. Every claim increments the row's `claim_gen`, the fencing token
//! that beginning an attempt, the heartbeat and finishing check in the same statement
//! ([`fence`]); cancel and 冲正 are decided in one transaction each ([`operator`]).

mod batch;
mod fence;
mod fields;
mod operator;
mod options;
mod pool;
mod rows;
mod statements;

use async_trait::async_trait;
use tiberius::Row;
use yibao_proto::{RequestStatus, StatusCount};

pub use options::{MssqlAuth, MssqlEncryption, MssqlOptions};

use crate::batch::*;
use crate::types::*;
use crate::{Store, StoreError};
use pool::{run, Pool};
use rows::{claimed, view};
use statements::Stmt;

/// SQL Server reads a stored status leniently (see [`StatusSpelling::Lenient`]).
const SPELLING: StatusSpelling = StatusSpelling::Lenient;

/// The schema version this build expects in `medical_insurance_settings`.
/// 2: `claim_gen`, `expires_at` and `reversal_id` on the requests table; 3: the files
/// table; 4: jobs and catalog rows.
pub const SCHEMA_VERSION: i32 = 4;

/// The SQL Server implementation of [`Store`].
#[derive(Clone)]
pub struct MssqlStore {
    pool: Pool,
    opts: std::sync::Arc<MssqlOptions>,
}

impl MssqlStore {
    /// Connects and checks that `sql/install.sql` has been run (at the right version).
    pub async fn open(opts: MssqlOptions) -> Result<Self, StoreError> {
        let store = Self::connect_unchecked(opts).await?;
        store.check_schema().await?;
        Ok(store)
    }

    /// A handle without the schema check, for running `sql/install.sql` itself.
    pub async fn connect_unchecked(opts: MssqlOptions) -> Result<Self, StoreError> {
        let pool = pool::build(&opts).await?;
        Ok(Self {
            pool,
            opts: std::sync::Arc::new(opts),
        })
    }

    /// Runs a T-SQL script whose batches are separated by `GO` lines (as `sqlcmd` does).
    pub async fn run_script(&self, script: &str) -> Result<(), StoreError> {
        for batch in split_batches(script) {
            self.execute(&batch, &[]).await?;
        }
        Ok(())
    }

    /// Runs one parameterised batch and returns its result sets (tests and tools).
    pub async fn execute(
        &self,
        batch: &str,
        params: &[&dyn tiberius::ToSql],
    ) -> Result<Vec<Vec<Row>>, StoreError> {
        Ok(run(&self.pool, self.opts.command_timeout, batch, params).await?)
    }

    async fn check_schema(&self) -> Result<(), StoreError> {
        let sets = self.query(Stmt::SchemaVersion, &[]).await?;
        let installed = first_row(&sets, 0)
            .and_then(|r| r.try_get::<&str, _>(0).ok().flatten())
            .and_then(|v| v.trim().parse::<i32>().ok());
        match installed {
            Some(v) if v >= SCHEMA_VERSION => Ok(()),
            Some(v) => Err(StoreError::Unavailable(format!(
                "数据库中的 yibao 版本 {v} 低于 {SCHEMA_VERSION}：请执行新版 sql/install.sql / the database has yibao schema {v}, older than {SCHEMA_VERSION}: run the new sql/install.sql"
            ))),
            None => Err(StoreError::Unavailable(
                "medical_insurance_settings 中没有 schema_version：请执行 sql/install.sql / no schema_version in medical_insurance_settings: run sql/install.sql".into(),
            )),
        }
    }

    async fn query(
        &self,
        stmt: Stmt,
        params: &[&dyn tiberius::ToSql],
    ) -> Result<Vec<Vec<Row>>, StoreError> {
        self.execute(stmt.sql(), params).await
    }

    /// Batches in turn on one connection while `go_on` approves the last one's result
    /// (see [`pool::run_sequence`]).
    async fn sequence(
        &self,
        batches: &[pool::Batch<'_>],
        go_on: impl Fn(&[Vec<Row>]) -> bool,
    ) -> Result<Vec<Vec<Vec<Row>>>, StoreError> {
        Ok(pool::run_sequence(&self.pool, self.opts.command_timeout, batches, go_on).await?)
    }
}

/// Splits a script at lines that are only `GO`, dropping empty batches.
pub fn split_batches(script: &str) -> Vec<String> {
    // The scripts are saved with a UTF-8 BOM for sqlcmd and SSMS; the server must not see it.
    let script = script.strip_prefix('\u{feff}').unwrap_or(script);
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if line.trim().eq_ignore_ascii_case("go") {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

fn first_row(sets: &[Vec<Row>], set: usize) -> Option<&Row> {
    sets.get(set).and_then(|rows| rows.first())
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn req_i32(row: &Row, i: usize) -> Result<i32, StoreError> {
    row.try_get::<i32, _>(i)
        .map_err(corrupt)?
        .ok_or_else(|| corrupt(format!("column {i} is NULL")))
}

fn req_str(row: &Row, i: usize) -> Result<String, StoreError> {
    row.try_get::<&str, _>(i)
        .map_err(corrupt)?
        .map(str::to_string)
        .ok_or_else(|| corrupt(format!("column {i} is NULL")))
}

fn opt_str(row: &Row, i: usize) -> Result<Option<String>, StoreError> {
    Ok(row
        .try_get::<&str, _>(i)
        .map_err(corrupt)?
        .map(str::to_string))
}

/// Request ids are INT in the seed's table; a larger id cannot exist.
fn row_id(request_id: i64) -> Option<i32> {
    i32::try_from(request_id).ok()
}

/// NVARCHAR(2000) columns: the broker's reasons are short, but never fail a write on length.
fn clip(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| s.chars().take(2000).collect())
}

#[async_trait]
impl Store for MssqlStore {
    fn describe(&self) -> String {
        self.opts.describe()
    }

    async fn insert_request(&self, new: NewRequest) -> Result<i64, StoreError> {
        Ok(self.insert(&new, None).await?.request_id)
    }

    async fn insert_claimed(
        &self,
        new: NewRequest,
        spec: ClaimSpec,
    ) -> Result<ClaimedRequest, StoreError> {
        self.insert(&new, Some(&spec)).await
    }

    async fn claim_pending(&self, spec: ClaimSpec) -> Result<Vec<ClaimedRequest>, StoreError> {
        let limit = i32::try_from(spec.limit).unwrap_or(i32::MAX);
        let sets = self
            .query(
                Stmt::ClaimPending,
                &[&spec.worker_id, &spec.lease_until_ms, &spec.now_ms, &limit],
            )
            .await?;
        sets.last()
            .map(|rows| rows.iter().map(claimed).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    async fn claim_one(&self, request_id: i64, spec: ClaimSpec) -> Result<ClaimOne, StoreError> {
        let Some(id) = row_id(request_id) else {
            return Ok(ClaimOne::NotFound);
        };
        let sets = self
            .query(
                Stmt::ClaimOne,
                &[&id, &spec.worker_id, &spec.lease_until_ms],
            )
            .await?;
        if let Some(row) = first_row(&sets, 0) {
            return Ok(ClaimOne::Claimed(claimed(row)?));
        }
        match first_row(&sets, 1) {
            None => Ok(ClaimOne::NotFound),
            Some(row) => Ok(ClaimOne::NotPending(parse_status(
                &req_str(row, 0)?,
                SPELLING,
            )?)),
        }
    }

    async fn begin_attempt(&self, start: AttemptStart) -> Result<i64, StoreError> {
        fence::begin_attempt(self, &start).await
    }

    async fn heartbeat(
        &self,
        request_id: i64,
        holder: &Holder,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        fence::heartbeat(self, request_id, holder, lease_until_ms).await
    }

    async fn expired_leases(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let sets = self.query(Stmt::ExpiredLeases, &[&now_ms, &limit]).await?;
        let Some(rows) = sets.first() else {
            return Ok(Vec::new());
        };
        rows.iter()
            .map(|r| {
                let worker_id = opt_str(r, 2)?;
                let fence = i64::from(r.try_get::<i32, _>(6).map_err(corrupt)?.unwrap_or(0));
                // Claimed by this product: a claim generation and a worker on record.
                let claimed_by_broker = fence > 0 && worker_id.is_some();
                Ok(ExpiredLease {
                    request_id: i64::from(req_i32(r, 0)?),
                    interface_code: req_str(r, 1)?,
                    worker_id,
                    lease_until_ms: r.try_get::<i64, _>(3).map_err(corrupt)?,
                    attempts: i64::from(r.try_get::<i32, _>(4).map_err(corrupt)?.unwrap_or(0)),
                    last_msgid: opt_str(r, 5)?,
                    fence,
                    claimed_by_broker,
                })
            })
            .collect()
    }

    async fn recover(
        &self,
        lease: &ExpiredLease,
        now_ms: i64,
        status: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let Some(id) = row_id(lease.request_id) else {
            return Ok(false);
        };
        let reason = clip(&Some(reason.to_string()));
        let sets = self
            .query(
                Stmt::Recover,
                &[
                    &id,
                    &status.as_str(),
                    &reason,
                    &lease.worker_id,
                    &lease.lease_until_ms,
                    &now_ms,
                    &lease.fence,
                ],
            )
            .await?;
        Ok(first_row(&sets, 0).and_then(|r| r.try_get::<i32, _>(0).ok().flatten()) == Some(1))
    }

    async fn end_attempt(&self, end: AttemptEnd) -> Result<(), StoreError> {
        let ms = i64::try_from(end.duration_ms).unwrap_or(i64::MAX);
        self.query(
            Stmt::EndAttempt,
            &[&end.attempt_id, &ms, &end.outcome.as_str()],
        )
        .await?;
        Ok(())
    }

    async fn finish(&self, f: Finish) -> Result<bool, StoreError> {
        fence::finish(self, f).await
    }

    async fn cancel(&self, request_id: i64, reason: &str) -> Result<CancelOutcome, StoreError> {
        operator::cancel(self, request_id, reason).await
    }

    async fn begin_reversal(
        &self,
        original_id: i64,
        reversal: NewRequest,
    ) -> Result<ReversalStart, StoreError> {
        operator::begin_reversal(self, original_id, &reversal).await
    }

    async fn transition(
        &self,
        request_id: i64,
        from: RequestStatus,
        to: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let Some(id) = row_id(request_id) else {
            return Ok(false);
        };
        let reason = clip(&Some(reason.to_string()));
        let sets = self
            .query(
                Stmt::Transition,
                &[&id, &from.as_str(), &to.as_str(), &reason],
            )
            .await?;
        Ok(first_row(&sets, 0).and_then(|r| r.try_get::<i32, _>(0).ok().flatten()) == Some(1))
    }

    async fn get(&self, request_id: i64) -> Result<Option<RequestView>, StoreError> {
        let Some(id) = row_id(request_id) else {
            return Ok(None);
        };
        let sets = self.query(Stmt::Get, &[&id]).await?;
        match first_row(&sets, 0) {
            Some(r) => Ok(Some(view(r)?)),
            None => Ok(None),
        }
    }

    async fn needs_action(&self, limit: u32) -> Result<Vec<RequestView>, StoreError> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let sets = self.query(Stmt::NeedsAction, &[&limit]).await?;
        sets.first()
            .map(|rows| rows.iter().map(view).collect())
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    async fn counts(&self) -> Result<Vec<StatusCount>, StoreError> {
        let sets = self.query(Stmt::Counts, &[]).await?;
        let rows = sets.first().map(Vec::as_slice).unwrap_or_default();
        let mut pairs = Vec::with_capacity(rows.len());
        for r in rows {
            let n = r.try_get::<i32, _>(1).map_err(corrupt)?.unwrap_or(0);
            pairs.push((req_str(r, 0)?, i64::from(n)));
        }
        Ok(status_counts(pairs))
    }

    async fn last_msgid(&self) -> Result<Option<String>, StoreError> {
        let sets = self.query(Stmt::LastMsgid, &[]).await?;
        match first_row(&sets, 0) {
            Some(r) => opt_str(r, 0),
            None => Ok(None),
        }
    }

    async fn response_fields(&self, request_id: i64) -> Result<Vec<ResponseField>, StoreError> {
        let Some(id) = row_id(request_id) else {
            return Ok(Vec::new());
        };
        let sets = self.query(Stmt::ResponseFields, &[&id]).await?;
        fields::from_rows(sets.first().map(Vec::as_slice).unwrap_or_default())
    }

    async fn add_file(&self, file: NewFile) -> Result<i64, StoreError> {
        let request_id = file.request_id.and_then(row_id);
        let sets = self
            .query(
                Stmt::AddFile,
                &[
                    &request_id,
                    &file.direction.as_str(),
                    &file.file_qury_no,
                    &file.filename,
                    &file.path,
                    &file.size,
                    &file.sha256,
                ],
            )
            .await?;
        let row = sets
            .last()
            .and_then(|rows| rows.first())
            .ok_or_else(|| corrupt("add_file returned no row"))?;
        let id = row
            .try_get::<i32, _>(0)
            .map_err(corrupt)?
            .ok_or_else(|| corrupt("add_file returned no file_id"))?;
        Ok(i64::from(id))
    }

    async fn file_content(
        &self,
        file_id: i64,
        max_bytes: u64,
    ) -> Result<Option<FileContent>, StoreError> {
        let Ok(id) = i32::try_from(file_id) else {
            return Ok(None);
        };
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        let sets = self.query(Stmt::FileContent, &[&id, &max]).await?;
        let Some(r) = first_row(&sets, 0) else {
            return Ok(None);
        };
        Ok(Some(FileContent {
            filename: opt_str(r, 0)?.unwrap_or_default(),
            content: r
                .try_get::<&[u8], _>(1)
                .map_err(corrupt)?
                .map(<[u8]>::to_vec),
            content_size: r.try_get::<i64, _>(3).map_err(corrupt)?,
            path: opt_str(r, 2)?,
        }))
    }

    async fn insert_job(&self, job: NewJob) -> Result<JobInsert, StoreError> {
        self.batch_insert_job(job).await
    }

    async fn claim_job(&self, spec: JobClaimSpec) -> Result<Option<JobView>, StoreError> {
        self.batch_claim_job(spec).await
    }

    async fn extend_job(&self, job_id: i64, gen: i64, until_ms: i64) -> Result<bool, StoreError> {
        self.batch_extend_job(job_id, gen, until_ms).await
    }

    async fn finish_job(&self, finish: JobFinish) -> Result<bool, StoreError> {
        self.batch_finish_job(finish).await
    }

    async fn get_job(&self, job_id: i64) -> Result<Option<JobView>, StoreError> {
        self.batch_get_job(job_id).await
    }

    async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobView>, StoreError> {
        self.batch_recent_jobs(limit).await
    }

    async fn catalog_version(&self, code: &str) -> Result<Option<CatalogVersion>, StoreError> {
        self.batch_catalog_version(code).await
    }

    async fn load_catalog(&self, load: CatalogLoad) -> Result<CatalogLoaded, StoreError> {
        self.batch_load_catalog(load).await
    }

    async fn settlements(&self, from: &str, to: &str) -> Result<Vec<SettlementRow>, StoreError> {
        self.batch_settlements(from, to).await
    }

    async fn record_diffs(
        &self,
        job_id: i64,
        claim_gen: i64,
        diffs: Vec<ReconcileDiff>,
    ) -> Result<bool, StoreError> {
        self.batch_record_diffs(job_id, claim_gen, diffs).await
    }
}

impl MssqlStore {
    async fn insert(
        &self,
        new: &NewRequest,
        claim: Option<&ClaimSpec>,
    ) -> Result<ClaimedRequest, StoreError> {
        let o = &new.overrides;
        let status = if claim.is_some() {
            RequestStatus::Processing
        } else {
            RequestStatus::Pending
        };
        let worker = claim.map(|c| c.worker_id.as_str());
        let lease = claim.map(|c| c.lease_until_ms);
        // The first claim of a row the broker inserts for itself is generation 1.
        let claim_gen: i32 = claim.is_some().into();
        let expires_at = rows::deadline(new.expires_at.as_deref());
        let sets = self
            .query(
                Stmt::InsertRequest,
                &[
                    &new.interface_code,
                    &new.input_data,
                    &o.insuplc_admdvs,
                    &o.mdtrtarea_admvs,
                    &o.opter,
                    &o.opter_name,
                    &o.opter_type,
                    &status.as_str(),
                    &worker,
                    &lease,
                    &claim_gen,
                    &expires_at,
                ],
            )
            .await?;
        let row = sets
            .last()
            .and_then(|rows| rows.first())
            .ok_or_else(|| corrupt("insert returned no row"))?;
        claimed(row)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn install_script_splits_into_batches() {
        let install = include_str!("../../../../sql/install.sql");
        let batches = super::split_batches(install);
        assert!(batches.len() > 20);
        assert!(batches.iter().all(|b| !b.lines().any(|l| l.trim() == "GO")));
        assert!(batches.iter().any(|b| b
            .trim_start()
            .starts_with("ALTER PROCEDURE dbo.sp_medical_insurance_call")));
        assert_eq!(super::split_batches("a\ngo\n\nGO\nb"), vec!["a\n", "b\n"]);
        assert_eq!(
            super::split_batches("\u{feff}a\nGO\n"),
            vec!["a\n"],
            "BOM dropped"
        );
    }
}
