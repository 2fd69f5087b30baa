//! Jobs and catalog rows on SQL Server (see `crate::batch`); statements in
//! `statements.sql`, except the catalog rows' INSERT, whose VALUES list is as long as the
//! batch of rows (its text depends only on the row count; every value is a parameter).

use tiberius::{Row, ToSql};

use super::statements::Stmt;
use super::{clip, corrupt, first_row, opt_str, req_i32, req_str, row_id, MssqlStore};
use crate::batch::*;
use crate::StoreError;

/// Rows per INSERT: 4 parameters each plus 2 shared stay under SQL Server's 2,100.
const ROWS_PER_INSERT: usize = 400;

fn job_view(r: &Row) -> Result<JobView, StoreError> {
    let job_id = i64::from(req_i32(r, 0)?);
    let status = req_str(r, 5)?;
    Ok(JobView {
        job_id,
        kind: req_str(r, 1)?,
        params: opt_str(r, 2)?.unwrap_or_default(),
        schedule: opt_str(r, 3)?,
        slot: opt_str(r, 4)?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("job {job_id}: status {status:?}")))?,
        worker_id: opt_str(r, 6)?,
        claim_gen: i64::from(req_i32(r, 7)?),
        result: opt_str(r, 8)?,
        err_msg: opt_str(r, 9)?,
        create_time: opt_str(r, 10)?,
        end_time: opt_str(r, 11)?,
    })
}

/// The first result set's first column as "rows changed" (extend_job, finish_job).
fn changed(sets: &[Vec<Row>]) -> Result<bool, StoreError> {
    let r = sets
        .last()
        .and_then(|rows| rows.first())
        .ok_or_else(|| corrupt("no row count returned"))?;
    Ok(req_i32(r, 0)? == 1)
}

impl MssqlStore {
    pub(super) async fn batch_insert_job(&self, job: NewJob) -> Result<JobInsert, StoreError> {
        let sets = self
            .query(
                Stmt::InsertJob,
                &[&job.kind, &job.params, &job.schedule, &job.slot],
            )
            .await?;
        let r = sets
            .last()
            .and_then(|rows| rows.first())
            .ok_or_else(|| corrupt("insert_job returned no row"))?;
        Ok(JobInsert {
            job_id: i64::from(req_i32(r, 0)?),
            created: req_i32(r, 1)? == 1,
        })
    }

    pub(super) async fn batch_claim_job(
        &self,
        spec: JobClaimSpec,
    ) -> Result<Option<JobView>, StoreError> {
        let id = match spec.job_id {
            None => None,
            Some(id) => match row_id(id) {
                Some(id) => Some(id),
                None => return Ok(None),
            },
        };
        let sets = self
            .query(
                Stmt::ClaimJob,
                &[&id, &spec.worker_id, &spec.lease_until_ms, &spec.now_ms],
            )
            .await?;
        sets.last()
            .and_then(|rows| rows.first())
            .map(job_view)
            .transpose()
    }

    pub(super) async fn batch_extend_job(
        &self,
        job_id: i64,
        claim_gen: i64,
        lease_until_ms: i64,
    ) -> Result<bool, StoreError> {
        let (Some(id), Ok(gen)) = (row_id(job_id), i32::try_from(claim_gen)) else {
            return Ok(false);
        };
        changed(
            &self
                .query(Stmt::ExtendJob, &[&id, &gen, &lease_until_ms])
                .await?,
        )
    }

    pub(super) async fn batch_finish_job(&self, f: JobFinish) -> Result<bool, StoreError> {
        let (Some(id), Ok(gen)) = (row_id(f.job_id), i32::try_from(f.claim_gen)) else {
            return Ok(false);
        };
        let sets = self
            .query(
                Stmt::FinishJob,
                &[&id, &gen, &f.status.as_str(), &f.result, &clip(&f.err_msg)],
            )
            .await?;
        changed(&sets)
    }

    pub(super) async fn batch_get_job(&self, job_id: i64) -> Result<Option<JobView>, StoreError> {
        let Some(id) = row_id(job_id) else {
            return Ok(None);
        };
        let sets = self.query(Stmt::GetJob, &[&id]).await?;
        first_row(&sets, 0).map(job_view).transpose()
    }

    pub(super) async fn batch_recent_jobs(&self, limit: u32) -> Result<Vec<JobView>, StoreError> {
        let n = i32::try_from(limit).unwrap_or(i32::MAX);
        let sets = self.query(Stmt::RecentJobs, &[&n]).await?;
        // One hand-edited row the broker cannot read must not hide the others.
        Ok(sets
            .first()
            .map(|rows| rows.iter().filter_map(|r| job_view(r).ok()).collect())
            .unwrap_or_default())
    }

    pub(super) async fn batch_catalog_version(
        &self,
        code: &str,
    ) -> Result<Option<CatalogVersion>, StoreError> {
        let sets = self.query(Stmt::CatalogVersion, &[&code]).await?;
        first_row(&sets, 0)
            .map(|r| {
                Ok(CatalogVersion {
                    ver_name: req_str(r, 0)?,
                    row_count: r.try_get::<i64, _>(1).map_err(corrupt)?.unwrap_or(0),
                    job_id: r.try_get::<i32, _>(2).map_err(corrupt)?.map(i64::from),
                })
            })
            .transpose()
    }

    /// One transaction over several batches on one connection: begin (checks and locks the
    /// version), the rows in INSERTs of [`ROWS_PER_INSERT`], end (version, commit). A
    /// failure or timeout closes the connection, and the server rolls the load back.
    pub(super) async fn batch_load_catalog(
        &self,
        load: CatalogLoad,
    ) -> Result<CatalogLoaded, StoreError> {
        let job_id = load.job_id.and_then(row_id);
        let added = i64::try_from(load.rows.len()).unwrap_or(i64::MAX);
        let inserts: Vec<(String, Vec<&dyn ToSql>)> = load
            .rows
            .chunks(ROWS_PER_INSERT)
            .map(|chunk| {
                // XACT_ABORT per batch: each runs in its own sp_executesql scope.
                let mut sql = String::from(
                    "SET XACT_ABORT ON; INSERT INTO dbo.medical_insurance_catalog_rows \
                     (catalog_code, job_id, ver_name, row_no, item_code, fields) VALUES ",
                );
                let mut params: Vec<&dyn ToSql> = vec![&load.catalog_code, &job_id];
                for (i, r) in chunk.iter().enumerate() {
                    let p = 3 + i * 4;
                    if i > 0 {
                        sql.push(',');
                    }
                    sql.push_str(&format!(
                        "(@P1, @P2, @P{}, @P{}, @P{}, @P{})",
                        p,
                        p + 1,
                        p + 2,
                        p + 3
                    ));
                    params.extend([
                        &r.ver_name as &dyn ToSql,
                        &r.row_no,
                        &r.item_code,
                        &r.fields,
                    ]);
                }
                (sql, params)
            })
            .collect();
        let begin: [&dyn ToSql; 2] = [&load.catalog_code, &load.from_ver];
        let end: [&dyn ToSql; 4] = [&load.catalog_code, &load.to_ver, &added, &job_id];
        let mut batches: Vec<(&str, &[&dyn ToSql])> = vec![(Stmt::LoadCatalogBegin.sql(), &begin)];
        for (sql, params) in &inserts {
            batches.push((sql.as_str(), params.as_slice()));
        }
        batches.push((Stmt::LoadCatalogEnd.sql(), &end));
        // The command timeout is for one statement's worth of work; a load of many INSERTs
        // gets it once per 20 of them.
        let timeout = self.opts.command_timeout
            * (1 + u32::try_from(inserts.len() / 20).unwrap_or(u32::MAX / 2));
        let sets = super::pool::run_sequence(&self.pool, timeout, &batches, |sets| {
            match sets.first().and_then(|s| s.first()) {
                // The begin batch: go on only while its transaction is open.
                Some(r) if r.columns().len() == 2 && r.columns()[1].name() == "open_tran" => {
                    matches!(r.try_get::<i32, _>(1), Ok(Some(1)))
                }
                _ => true,
            }
        })
        .await?;
        if sets.len() < batches.len() {
            let current = match sets.first().and_then(|s| first_row(s, 0)) {
                Some(r) => opt_str(r, 0)?,
                None => None,
            };
            return Ok(CatalogLoaded::Moved { current });
        }
        let total = sets
            .last()
            .and_then(|s| first_row(s, 0))
            .ok_or_else(|| corrupt("load_catalog_end returned no row"))?
            .try_get::<i64, _>(0)
            .map_err(corrupt)?
            .unwrap_or(0);
        Ok(CatalogLoaded::Added { added, total })
    }

    pub(super) async fn batch_settlements(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Vec<SettlementRow>, StoreError> {
        let sets = self.query(Stmt::Settlements, &[&from, &to]).await?;
        let mut out = Vec::new();
        for r in sets.first().map(Vec::as_slice).unwrap_or_default() {
            let Some(status) = opt_str(r, 2)?.and_then(|s| yibao_proto::RequestStatus::parse(&s))
            else {
                continue;
            };
            out.push(SettlementRow {
                request_id: i64::from(req_i32(r, 0)?),
                interface_code: req_str(r, 1)?,
                status,
                input_data: opt_str(r, 3)?.unwrap_or_default(),
                response_data: opt_str(r, 4)?,
                create_time: opt_str(r, 5)?,
            });
        }
        Ok(out)
    }

    /// One transaction over several batches: delete the job's rows, insert each, commit.
    pub(super) async fn batch_record_diffs(
        &self,
        job_id: i64,
        claim_gen: i64,
        diffs: Vec<ReconcileDiff>,
    ) -> Result<bool, StoreError> {
        let id = row_id(job_id).ok_or_else(|| corrupt("job_id out of range"))?;
        let gen = i32::try_from(claim_gen).map_err(corrupt)?;
        let request_ids: Vec<Option<i32>> = diffs
            .iter()
            .map(|d| d.request_id.and_then(row_id))
            .collect();
        let begin: [&dyn ToSql; 2] = [&id, &gen];
        let rows: Vec<[&dyn ToSql; 9]> = diffs
            .iter()
            .zip(&request_ids)
            .map(|(d, rid)| -> [&dyn ToSql; 9] {
                [
                    &id,
                    &d.stmt_date,
                    &d.kind,
                    &d.setl_id,
                    &d.mdtrt_id,
                    &d.psn_no,
                    &d.refd_setl_flag,
                    &d.memo,
                    rid,
                ]
            })
            .collect();
        let mut batches: Vec<(&str, &[&dyn ToSql])> = vec![(Stmt::RecordDiffsBegin.sql(), &begin)];
        for r in &rows {
            batches.push((Stmt::RecordDiff.sql(), r));
        }
        batches.push((Stmt::RecordDiffsEnd.sql(), &[]));
        let sets = self
            .sequence(&batches, |sets| {
                match sets.first().and_then(|s| s.first()) {
                    // The begin batch: go on only while its transaction is open.
                    Some(r) if r.columns().first().is_some_and(|c| c.name() == "open_tran") => {
                        matches!(r.try_get::<i32, _>(0), Ok(Some(1)))
                    }
                    _ => true,
                }
            })
            .await?;
        Ok(sets.len() == batches.len())
    }
}
