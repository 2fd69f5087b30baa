//! The embedded store: one SQLite file in WAL mode. Writes go through the group-committing
//! [`writer`]; reads use their own connections, which WAL lets run beside the writer.
//! Several broker processes may share the file: SQLite's locks (with a busy timeout)
//! serialise their writes and every claim is one `UPDATE … RETURNING`.

mod batch;
mod fence;
mod fields;
mod operator;
mod recovery;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use yibao_proto::{RequestStatus, StatusCount};

use crate::batch::*;
use crate::types::*;
use crate::{Store, StoreError};
use schema::now;
use writer::Writer;

/// How the file is opened.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// `FULL` (default: a commit survives power loss) or `NORMAL` (faster; survives a
    /// process crash but maybe not a power cut).
    pub synchronous: String,
    /// How long to wait for another process holding the write lock.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            synchronous: "FULL".into(),
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    opts: SqliteOptions,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

use rows::{claim_columns, view_columns};

impl SqliteStore {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(opts: SqliteOptions) -> Result<Self, StoreError> {
        if let Some(dir) = opts.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "无法创建数据库目录 / cannot create {}: {e}",
                        dir.display()
                    ))
                })?;
            }
        }
        let conn = open_conn(&opts)?;
        schema::install(&conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer: Writer::spawn(conn)?,
                readers: Mutex::new(Vec::new()),
                opts,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.opts.path
    }

    /// Runs a read on a pooled connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_conn(&inner.opts)?,
            };
            let r = f(&conn);
            inner
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
            r
        })
        .await
        .map_err(|e| StoreError::Db(format!("read task failed: {e}")))?
    }
}

fn open_conn(opts: &SqliteOptions) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        &opts.path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        StoreError::Unavailable(format!(
            "无法打开数据库 / cannot open {}: {e}",
            opts.path.display()
        ))
    })?;
    conn.busy_timeout(opts.busy_timeout)?;
    // Room for every statement the store prepares (the fields insert alone has sixteen
    // shapes), so none is re-prepared per call.
    conn.set_prepared_statement_cache_capacity(64);
    conn.execute_batch(match opts.synchronous.to_ascii_uppercase().as_str() {
        "NORMAL" => {
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        }
        _ => "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    })?;
    Ok(conn)
}

fn opt_text(s: &Option<String>) -> Option<&str> {
    s.as_deref()
}

/// SQLite reads a stored status exactly as written (see [`StatusSpelling::Exact`]).
const SPELLING: StatusSpelling = StatusSpelling::Exact;

#[async_trait]
impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.inner.opts.path.display())
    }

    async fn insert_request(&self, new: NewRequest) -> Result<i64, StoreError> {
        self.inner
            .writer
            .write(move |c| Ok(insert_row(c, &new, None)?.request_id))
            .await
    }

    async fn insert_claimed(
        &self,
        new: NewRequest,
        spec: ClaimSpec,
    ) -> Result<ClaimedRequest, StoreError> {
        self.inner
            .writer
            .write(move |c| insert_row(c, &new, Some(&spec)))
            .await
    }

    async fn claim_pending(&self, spec: ClaimSpec) -> Result<Vec<ClaimedRequest>, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = concat!(
                    "UPDATE medical_insurance_requests \
                     SET status = 'PROCESSING', worker_id = ?1, lease_until = ?2, \
                         claim_gen = claim_gen + 1, update_time = ", now!(), " \
                     WHERE request_id IN (SELECT request_id FROM medical_insurance_requests \
                        WHERE status = 'PENDING' AND (next_attempt_at IS NULL OR next_attempt_at <= ?3 \
                            OR typeof(next_attempt_at) NOT IN ('integer', 'real')) \
                        ORDER BY request_id LIMIT ?4) \
                     RETURNING ", claim_columns!()
                );
                let mut st = c.prepare_cached(SQL)?;
                let rows = st.query_map(
                    params![spec.worker_id, spec.lease_until_ms, spec.now_ms, spec.limit],
                    rows::claimed,
                )?;
                let mut out = rows.collect::<Result<Vec<_>, _>>()?;
                out.sort_by_key(|r| r.request_id);
                Ok(out)
            })
            .await
    }

    async fn claim_one(&self, request_id: i64, spec: ClaimSpec) -> Result<ClaimOne, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = concat!(
                    "UPDATE medical_insurance_requests \
                     SET status = 'PROCESSING', worker_id = ?2, lease_until = ?3, \
                         claim_gen = claim_gen + 1, update_time = ",
                    now!(),
                    " \
                     WHERE request_id = ?1 AND status = 'PENDING' \
                     RETURNING ",
                    claim_columns!()
                );
                let claimed = c
                    .prepare_cached(SQL)?
                    .query_row(
                        params![request_id, spec.worker_id, spec.lease_until_ms],
                        rows::claimed,
                    )
                    .optional()?;
                if let Some(r) = claimed {
                    return Ok(ClaimOne::Claimed(r));
                }
                let status: Option<String> = c
                    .prepare_cached(
                        "SELECT status FROM medical_insurance_requests WHERE request_id = ?1",
                    )?
                    .query_row([request_id], |r| r.get(0))
                    .optional()?;
                match status {
                    None => Ok(ClaimOne::NotFound),
                    Some(s) => Ok(ClaimOne::NotPending(parse_status(&s, SPELLING)?)),
                }
            })
            .await
    }

    async fn begin_attempt(&self, start: AttemptStart) -> Result<i64, StoreError> {
        self.inner
            .writer
            .write(move |c| fence::begin_attempt(c, &start))
            .await
    }

    async fn heartbeat(
        &self,
        request_id: i64,
        holder: &Holder,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let holder = holder.clone();
        self.inner
            .writer
            .write(move |c| fence::heartbeat(c, request_id, &holder, lease_until_ms))
            .await
    }

    async fn end_attempt(&self, end: AttemptEnd) -> Result<(), StoreError> {
        self.inner
            .writer
            .write(move |c| fence::close_attempt(c, end))
            .await
    }

    async fn expired_leases(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ExpiredLease>, StoreError> {
        self.read(move |c| recovery::expired(c, now_ms, limit))
            .await
    }

    async fn recover(
        &self,
        lease: &ExpiredLease,
        now_ms: i64,
        status: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let (lease, reason) = (lease.clone(), reason.to_string());
        self.inner
            .writer
            .write(move |c| recovery::recover(c, &lease, now_ms, status, &reason))
            .await
    }

    async fn finish(&self, f: Finish) -> Result<bool, StoreError> {
        self.inner.writer.write(move |c| fence::finish(c, &f)).await
    }

    async fn cancel(&self, request_id: i64, reason: &str) -> Result<CancelOutcome, StoreError> {
        let reason = reason.to_string();
        self.inner
            .writer
            .write(move |c| operator::cancel(c, request_id, &reason))
            .await
    }

    async fn begin_reversal(
        &self,
        original_id: i64,
        reversal: NewRequest,
    ) -> Result<ReversalStart, StoreError> {
        self.inner
            .writer
            .write(move |c| operator::begin_reversal(c, original_id, &reversal))
            .await
    }

    async fn get(&self, request_id: i64) -> Result<Option<RequestView>, StoreError> {
        self.read(move |c| {
            const SQL: &str = concat!(
                "SELECT ",
                view_columns!(),
                " FROM v_medical_insurance_result WHERE request_id = ?1"
            );
            let row = c
                .prepare_cached(SQL)?
                .query_row([request_id], rows::view)
                .optional()?;
            row.map(|r| r.parsed(SPELLING)).transpose()
        })
        .await
    }

    async fn needs_action(&self, limit: u32) -> Result<Vec<RequestView>, StoreError> {
        self.read(move |c| {
            const SQL: &str = concat!(
                "SELECT ",
                view_columns!(),
                " FROM v_medical_insurance_result \
                 WHERE status IN ('UNCERTAIN', 'ERROR') ORDER BY request_id DESC LIMIT ?1"
            );
            let mut st = c.prepare_cached(SQL)?;
            let rows = st.query_map([limit], rows::view)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?.parsed(SPELLING)?);
            }
            Ok(out)
        })
        .await
    }

    async fn transition(
        &self,
        request_id: i64,
        from: RequestStatus,
        to: RequestStatus,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let reason = reason.to_string();
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = concat!(
                    "UPDATE medical_insurance_requests SET status = ?3, last_error = ?4, \
                     update_time = ",
                    now!(),
                    " WHERE request_id = ?1 AND status = ?2"
                );
                let n = c.prepare_cached(SQL)?.execute(params![
                    request_id,
                    from.as_str(),
                    to.as_str(),
                    reason
                ])?;
                Ok(n == 1)
            })
            .await
    }

    async fn counts(&self) -> Result<Vec<StatusCount>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT status, COUNT(*) FROM medical_insurance_requests GROUP BY status",
            )?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            Ok(status_counts(rows.collect::<Result<Vec<_>, _>>()?))
        })
        .await
    }

    async fn last_msgid(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT msgid FROM medical_insurance_attempts ORDER BY attempt_id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn response_fields(&self, request_id: i64) -> Result<Vec<ResponseField>, StoreError> {
        self.read(move |c| Ok(fields::read_fields(c, request_id)?))
            .await
    }

    async fn add_file(&self, file: NewFile) -> Result<i64, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = "INSERT INTO medical_insurance_files \
                     (request_id, direction, file_qury_no, filename, path, size, sha256) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING file_id";
                Ok(c.prepare_cached(SQL)?.query_row(
                    params![
                        file.request_id,
                        file.direction.as_str(),
                        file.file_qury_no,
                        file.filename,
                        file.path,
                        file.size,
                        file.sha256
                    ],
                    |r| r.get(0),
                )?)
            })
            .await
    }

    async fn file_content(
        &self,
        file_id: i64,
        max_bytes: u64,
    ) -> Result<Option<FileContent>, StoreError> {
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        self.read(move |c| {
            const SQL: &str = "SELECT filename, \
                 CASE WHEN length(CAST(content AS BLOB)) <= ?2 THEN content END, path, \
                 length(CAST(content AS BLOB)) \
                 FROM medical_insurance_files WHERE file_id = ?1";
            Ok(c.prepare_cached(SQL)?
                .query_row(params![file_id, max], |r| {
                    Ok(FileContent {
                        filename: rows::lossy_text(r, 0, "filename")?.unwrap_or_default(),
                        // SQLite keeps what was inserted: bytes as BLOB or as TEXT.
                        content: match r.get_ref(1)? {
                            rusqlite::types::ValueRef::Blob(b)
                            | rusqlite::types::ValueRef::Text(b) => Some(b.to_vec()),
                            _ => None,
                        },
                        content_size: rows::integer(r, 3)?,
                        path: rows::lossy_text(r, 2, "path")?,
                    })
                })
                .optional()?)
        })
        .await
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
        self.batch_catalog_version(code.to_string()).await
    }

    async fn load_catalog(&self, load: CatalogLoad) -> Result<CatalogLoaded, StoreError> {
        self.batch_load_catalog(load).await
    }

    async fn settlements(&self, from: &str, to: &str) -> Result<Vec<SettlementRow>, StoreError> {
        self.batch_settlements(from.to_string(), to.to_string())
            .await
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

/// Inserts a request: PENDING, or PROCESSING under `claim` when the broker makes the
/// request itself and must hold it from the first moment.
pub(super) fn insert_row(
    c: &Connection,
    new: &NewRequest,
    claim: Option<&ClaimSpec>,
) -> Result<ClaimedRequest, StoreError> {
    let o = &new.overrides;
    const SQL: &str = concat!(
        "INSERT INTO medical_insurance_requests (interface_code, input_data, \
         insuplc_admdvs, mdtrtarea_admvs, opter, opter_name, opter_type, \
         status, worker_id, lease_until, claim_gen, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         RETURNING ",
        claim_columns!()
    );
    let status = if claim.is_some() {
        RequestStatus::Processing
    } else {
        RequestStatus::Pending
    };
    Ok(c.prepare_cached(SQL)?.query_row(
        params![
            new.interface_code,
            new.input_data,
            opt_text(&o.insuplc_admdvs),
            opt_text(&o.mdtrtarea_admvs),
            opt_text(&o.opter),
            opt_text(&o.opter_name),
            opt_text(&o.opter_type),
            status.as_str(),
            claim.map(|s| s.worker_id.as_str()),
            claim.map(|s| s.lease_until_ms),
            i64::from(claim.is_some()),
            new.expires_at,
        ],
        rows::claimed,
    )?)
}

#[cfg(test)]
mod tests;
