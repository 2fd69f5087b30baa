//! The statements that act on a held row: begin an attempt, extend the lease, finish.
//! Each checks the holder's claim generation (fencing token) in the same statement that
//! changes the row, so a broker whose claim was superseded can neither send nor write.

use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};

use super::fields;
use super::rows::deadline_not_passed;
use super::schema::{now, NOW};
use crate::types::{AttemptEnd, AttemptStart, Finish, Holder, Origin};
use crate::StoreError;

pub(super) fn begin_attempt(c: &Connection, start: &AttemptStart) -> Result<i64, StoreError> {
    let AttemptStart {
        request_id,
        ref holder,
        ref infno,
        ref msgid,
        lease_until_ms,
    } = *start;
    let attempt_no: i64 = c
        .prepare_cached(
            "SELECT COALESCE(MAX(attempt_no), 0) + 1 FROM medical_insurance_attempts \
             WHERE request_id = ?1",
        )?
        .query_row([request_id], |r| r.get(0))?;
    const SQL: &str = concat!(
        "UPDATE medical_insurance_requests \
         SET msgid = ?3, retry_count = ?4, lease_until = MAX(COALESCE(lease_until, 0), ?5) \
         WHERE request_id = ?1 AND status = 'PROCESSING' AND worker_id = ?2 AND claim_gen = ?6 \
           AND ",
        deadline_not_passed!()
    );
    let held = c.prepare_cached(SQL)?.execute(params![
        request_id,
        holder.worker_id,
        msgid,
        attempt_no - 1,
        lease_until_ms,
        holder.fence
    ])?;
    if held == 0 {
        return Err(if holds(c, request_id, holder)? {
            StoreError::Expired(request_id)
        } else {
            StoreError::LeaseLost(request_id)
        });
    }
    c.prepare_cached(
        "INSERT INTO medical_insurance_attempts (request_id, attempt_no, infno, msgid, worker_id) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        request_id,
        attempt_no,
        infno,
        msgid,
        holder.worker_id
    ])
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation) => {
            StoreError::DuplicateMsgid(msgid.to_string())
        }
        _ => e.into(),
    })?;
    Ok(c.last_insert_rowid())
}

/// Whether `holder`'s claim on the row is the current one.
fn holds(c: &Connection, request_id: i64, holder: &Holder) -> Result<bool, StoreError> {
    Ok(c.prepare_cached(
        "SELECT 1 FROM medical_insurance_requests WHERE request_id = ?1 \
             AND status = 'PROCESSING' AND worker_id = ?2 AND claim_gen = ?3",
    )?
    .query_row(params![request_id, holder.worker_id, holder.fence], |_| {
        Ok(())
    })
    .optional()?
    .is_some())
}

pub(super) fn heartbeat(
    c: &Connection,
    request_id: i64,
    holder: &Holder,
    lease_until_ms: i64,
) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE medical_insurance_requests \
             SET lease_until = MAX(COALESCE(lease_until, 0), ?4) \
             WHERE request_id = ?1 AND status = 'PROCESSING' AND worker_id = ?2 AND claim_gen = ?3",
        )?
        .execute(params![
            request_id,
            holder.worker_id,
            holder.fence,
            lease_until_ms
        ])?;
    Ok(n == 1)
}

pub(super) fn finish(c: &Connection, f: &Finish) -> Result<bool, StoreError> {
    // The second branch: a platform reply may still replace the guess recovery made while
    // this broker could not reach the store, if nobody claimed the row since and no 冲正 was
    // started for it.
    let reply_in_hand = f
        .response
        .as_ref()
        .is_some_and(|r| r.origin == Origin::Platform);
    // Built once at first use: the 2601 code is a constant of the crate, not a literal.
    static FINISH: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE medical_insurance_requests \
             SET status = ?3, update_time = {NOW}, lease_until = NULL, last_error = ?4 \
             WHERE request_id = ?1 AND claim_gen = ?5 AND ( \
                 (status = 'PROCESSING' AND worker_id = ?2) \
                 OR (?6 AND status IN ('UNCERTAIN', 'PENDING') AND reversal_id IS NULL)) \
             RETURNING interface_code = '{}'",
            crate::REVERSAL_CODE
        )
    });
    let held: Option<bool> = c
        .prepare_cached(&FINISH)?
        .query_row(
            params![
                f.request_id,
                f.holder.worker_id,
                f.status.as_str(),
                f.error,
                f.holder.fence,
                reply_in_hand
            ],
            |r| r.get(0),
        )
        .optional()?;
    let Some(is_reversal) = held else {
        return Ok(false);
    };
    if let Some(a) = f.attempt {
        close_attempt(c, a)?;
    }
    if let Some(r) = &f.response {
        const SQL: &str = concat!(
            "INSERT INTO medical_insurance_responses \
             (request_id, response_data, infcode, err_msg, origin) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (request_id) DO UPDATE SET response_data = excluded.response_data, \
             infcode = excluded.infcode, err_msg = excluded.err_msg, \
             origin = excluded.origin, create_time = ",
            now!()
        );
        c.prepare_cached(SQL)?.execute(params![
            f.request_id,
            r.response_data,
            r.infcode,
            r.err_msg,
            r.origin.as_str()
        ])?;
        fields::write_fields(c, f.request_id, &r.fields)?;
    }
    if is_reversal && f.status == yibao_proto::RequestStatus::Completed {
        // A completed 2601 reverses the request(s) it was started for, in this transaction.
        const REVERSED: &str = concat!(
            "UPDATE medical_insurance_requests SET status = 'REVERSED', last_error = ?2, \
             update_time = ",
            now!(),
            " WHERE reversal_id = ?1 AND status IN ('UNCERTAIN', 'COMPLETED')"
        );
        c.prepare_cached(REVERSED)?
            .execute(params![f.request_id, crate::reversed_reason(f.request_id)])?;
    }
    Ok(true)
}

/// Records how an attempt ended.
pub(super) fn close_attempt(c: &Connection, a: AttemptEnd) -> Result<(), StoreError> {
    const SQL: &str = concat!(
        "UPDATE medical_insurance_attempts SET end_time = ",
        now!(),
        ", duration_ms = ?2, \
         outcome = ?3 WHERE attempt_id = ?1"
    );
    c.prepare_cached(SQL)?.execute(params![
        a.attempt_id,
        i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
        a.outcome.as_str()
    ])?;
    Ok(())
}
