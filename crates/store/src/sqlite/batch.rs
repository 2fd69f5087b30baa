//! Jobs and catalog rows on SQLite (see `crate::batch`). Every write goes through the
//! single writer, so each method is one transaction like the rest of the store.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::rows;
use super::schema::now;
use super::SqliteStore;
use crate::batch::*;
use crate::StoreError;

/// The columns [`job_view`] reads, in its order.
const JOB_COLUMNS: &str = "job_id, kind, params, schedule_name, slot, status, worker_id, \
                           claim_gen, result, err_msg, create_time, end_time";

fn job_view(r: &Row<'_>) -> rusqlite::Result<(JobView, String)> {
    let status = rows::lossy_text(r, 5, "status")?.unwrap_or_default();
    Ok((
        JobView {
            job_id: r.get(0)?,
            kind: rows::lossy_text(r, 1, "kind")?.unwrap_or_default(),
            params: rows::lossy_text(r, 2, "params")?.unwrap_or_default(),
            schedule: rows::lossy_text(r, 3, "schedule_name")?,
            slot: rows::lossy_text(r, 4, "slot")?,
            status: JobStatus::Pending,
            worker_id: rows::lossy_text(r, 6, "worker_id")?,
            claim_gen: rows::integer(r, 7)?.unwrap_or(0),
            result: rows::lossy_text(r, 8, "result")?,
            err_msg: rows::lossy_text(r, 9, "err_msg")?,
            create_time: rows::lossy_text(r, 10, "create_time")?,
            end_time: rows::lossy_text(r, 11, "end_time")?,
        },
        status,
    ))
}

/// A job row with its status parsed; an unknown status (a hand-edited row) is a defect of
/// that row, named.
fn parsed((mut v, status): (JobView, String)) -> Result<JobView, StoreError> {
    v.status = JobStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("job {}: status {status:?}", v.job_id)))?;
    Ok(v)
}

impl SqliteStore {
    pub(super) async fn batch_insert_job(&self, job: NewJob) -> Result<JobInsert, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = "INSERT INTO medical_insurance_jobs \
                     (kind, params, schedule_name, slot) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT DO NOTHING RETURNING job_id";
                let id: Option<i64> = c
                    .prepare_cached(SQL)?
                    .query_row(params![job.kind, job.params, job.schedule, job.slot], |r| {
                        r.get(0)
                    })
                    .optional()?;
                if let Some(job_id) = id {
                    return Ok(JobInsert {
                        job_id,
                        created: true,
                    });
                }
                let job_id: i64 = c
                    .prepare_cached(
                        "SELECT job_id FROM medical_insurance_jobs \
                         WHERE schedule_name = ?1 AND slot = ?2",
                    )?
                    .query_row(params![job.schedule, job.slot], |r| r.get(0))?;
                Ok(JobInsert {
                    job_id,
                    created: false,
                })
            })
            .await
    }

    pub(super) async fn batch_claim_job(
        &self,
        spec: JobClaimSpec,
    ) -> Result<Option<JobView>, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                let sql = format!(
                    "UPDATE medical_insurance_jobs \
                     SET status = 'RUNNING', worker_id = ?2, lease_until = ?3, \
                         claim_gen = claim_gen + 1, err_msg = NULL, \
                         start_time = COALESCE(start_time, {now}) \
                     WHERE job_id = (SELECT job_id FROM medical_insurance_jobs \
                         WHERE (?1 IS NULL OR job_id = ?1) \
                           AND (status = 'PENDING' \
                                OR (status = 'RUNNING' AND COALESCE(lease_until, 0) < ?4)) \
                         ORDER BY job_id LIMIT 1) \
                     RETURNING {JOB_COLUMNS}",
                    now = now!()
                );
                let row = c
                    .prepare_cached(&sql)?
                    .query_row(
                        params![
                            spec.job_id,
                            spec.worker_id,
                            spec.lease_until_ms,
                            spec.now_ms
                        ],
                        job_view,
                    )
                    .optional()?;
                row.map(parsed).transpose()
            })
            .await
    }

    pub(super) async fn batch_extend_job(
        &self,
        job_id: i64,
        claim_gen: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                Ok(c.prepare_cached(
                    "UPDATE medical_insurance_jobs SET lease_until = ?3 \
                     WHERE job_id = ?1 AND claim_gen = ?2 AND status = 'RUNNING'",
                )?
                .execute(params![job_id, claim_gen, lease_until_ms])?
                    == 1)
            })
            .await
    }

    pub(super) async fn batch_finish_job(&self, f: JobFinish) -> Result<bool, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                const SQL: &str = concat!(
                    "UPDATE medical_insurance_jobs \
                     SET status = ?3, result = ?4, err_msg = ?5, lease_until = NULL, \
                         end_time = ",
                    now!(),
                    " WHERE job_id = ?1 AND claim_gen = ?2 AND status = 'RUNNING'"
                );
                Ok(c.prepare_cached(SQL)?.execute(params![
                    f.job_id,
                    f.claim_gen,
                    f.status.as_str(),
                    f.result,
                    f.err_msg
                ])? == 1)
            })
            .await
    }

    pub(super) async fn batch_get_job(&self, job_id: i64) -> Result<Option<JobView>, StoreError> {
        self.read(move |c| {
            let sql = format!("SELECT {JOB_COLUMNS} FROM medical_insurance_jobs WHERE job_id = ?1");
            let row = c
                .prepare_cached(&sql)?
                .query_row([job_id], job_view)
                .optional()?;
            row.map(parsed).transpose()
        })
        .await
    }

    pub(super) async fn batch_recent_jobs(&self, limit: u32) -> Result<Vec<JobView>, StoreError> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM medical_insurance_jobs ORDER BY job_id DESC LIMIT ?1"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([limit], job_view)?;
            // One hand-edited row the broker cannot read must not hide the others.
            Ok(rows.filter_map(|r| parsed(r.ok()?).ok()).collect())
        })
        .await
    }

    pub(super) async fn batch_catalog_version(
        &self,
        code: String,
    ) -> Result<Option<CatalogVersion>, StoreError> {
        self.read(move |c| Ok(version(c, &code)?)).await
    }

    pub(super) async fn batch_load_catalog(
        &self,
        load: CatalogLoad,
    ) -> Result<CatalogLoaded, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                let current = version(c, &load.catalog_code)?.map(|v| v.ver_name);
                if current != load.from_ver {
                    return Ok(CatalogLoaded::Moved { current });
                }
                let mut add = c.prepare_cached(
                    "INSERT INTO medical_insurance_catalog_rows \
                     (catalog_code, ver_name, row_no, item_code, fields, job_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for r in &load.rows {
                    add.execute(params![
                        load.catalog_code,
                        r.ver_name,
                        r.row_no,
                        r.item_code,
                        r.fields,
                        load.job_id
                    ])?;
                }
                let added = i64::try_from(load.rows.len()).unwrap_or(i64::MAX);
                let total: i64 = c.query_row(
                    concat!(
                        "INSERT INTO medical_insurance_catalog_versions \
                         (catalog_code, ver_name, row_count, job_id) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (catalog_code) DO UPDATE SET ver_name = excluded.ver_name, \
                         row_count = row_count + excluded.row_count, job_id = excluded.job_id, \
                         update_time = ",
                        now!(),
                        " RETURNING row_count"
                    ),
                    params![load.catalog_code, load.to_ver, added, load.job_id],
                    |r| r.get(0),
                )?;
                Ok(CatalogLoaded::Added { added, total })
            })
            .await
    }
}

impl SqliteStore {
    pub(super) async fn batch_settlements(
        &self,
        from: String,
        to: String,
    ) -> Result<Vec<SettlementRow>, StoreError> {
        self.read(move |c| {
            let codes = SETTLEMENT_CODES
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(",");
            // The codes are the store's own constants, not input.
            let sql = format!(
                "SELECT r.request_id, r.interface_code, r.status, r.input_data, resp.response_data, \
                 r.create_time \
                 FROM medical_insurance_requests r \
                 LEFT JOIN medical_insurance_responses resp ON resp.request_id = r.request_id \
                 WHERE r.interface_code IN ({codes}) AND r.status IN ('COMPLETED', 'UNCERTAIN') \
                   AND r.create_time >= ?1 AND r.create_time < ?2 ORDER BY r.request_id"
            );
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params![from, to], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    rows::lossy_text(r, 1, "interface_code")?.unwrap_or_default(),
                    rows::lossy_text(r, 2, "status")?.unwrap_or_default(),
                    rows::lossy_text(r, 3, "input_data")?.unwrap_or_default(),
                    rows::lossy_text(r, 4, "response_data")?,
                    rows::lossy_text(r, 5, "create_time")?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (request_id, interface_code, status, input_data, response_data, create_time) =
                    row?;
                // Read as the claim compares: an odd spelling is not a settlement we know.
                let Some(status) = yibao_proto::RequestStatus::parse(&status) else {
                    continue;
                };
                out.push(SettlementRow {
                    request_id,
                    interface_code,
                    status,
                    input_data,
                    response_data,
                    create_time,
                });
            }
            Ok(out)
        })
        .await
    }

    pub(super) async fn batch_record_diffs(
        &self,
        job_id: i64,
        claim_gen: i64,
        diffs: Vec<ReconcileDiff>,
    ) -> Result<bool, StoreError> {
        self.inner
            .writer
            .write(move |c| {
                let held: Option<i64> = c
                    .prepare_cached(
                        "SELECT 1 FROM medical_insurance_jobs \
                         WHERE job_id = ?1 AND claim_gen = ?2 AND status = 'RUNNING'",
                    )?
                    .query_row(params![job_id, claim_gen], |r| r.get(0))
                    .optional()?;
                if held.is_none() {
                    return Ok(false);
                }
                c.prepare_cached(
                    "DELETE FROM medical_insurance_reconcile_diffs WHERE job_id = ?1",
                )?
                .execute([job_id])?;
                let mut add = c.prepare_cached(
                    "INSERT INTO medical_insurance_reconcile_diffs (job_id, stmt_date, kind, \
                     setl_id, mdtrt_id, psn_no, refd_setl_flag, memo, request_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for d in &diffs {
                    add.execute(params![
                        job_id,
                        d.stmt_date,
                        d.kind,
                        d.setl_id,
                        d.mdtrt_id,
                        d.psn_no,
                        d.refd_setl_flag,
                        d.memo,
                        d.request_id
                    ])?;
                }
                Ok(true)
            })
            .await
    }
}

fn version(c: &Connection, code: &str) -> rusqlite::Result<Option<CatalogVersion>> {
    c.prepare_cached(
        "SELECT ver_name, row_count, job_id FROM medical_insurance_catalog_versions \
         WHERE catalog_code = ?1",
    )?
    .query_row([code], |r| {
        Ok(CatalogVersion {
            ver_name: rows::lossy_text(r, 0, "ver_name")?.unwrap_or_default(),
            row_count: rows::integer(r, 1)?.unwrap_or(0),
            job_id: rows::integer(r, 2)?,
        })
    })
    .optional()
}
