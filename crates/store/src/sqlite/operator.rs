//! Operator actions decided atomically in the store: cancelling a PENDING request and
//! starting the one 2601 冲正 a request may have in flight.

use rusqlite::{params, Connection, OptionalExtension};
use yibao_proto::RequestStatus;

use super::schema::now;
use super::SPELLING;
use crate::types::{parse_status, CancelOutcome, NewRequest, ReversalStart};
use crate::StoreError;

fn status_of(c: &Connection, request_id: i64) -> Result<Option<RequestStatus>, StoreError> {
    let s: Option<String> = c
        .prepare_cached("SELECT status FROM medical_insurance_requests WHERE request_id = ?1")?
        .query_row([request_id], |r| r.get(0))
        .optional()?;
    s.map(|s| parse_status(&s, SPELLING)).transpose()
}

/// The row a 冲正 is asked for: its status as stored and the 2601 already linked to it.
struct Original {
    status: String,
    reversal_id: Option<i64>,
}

pub(super) fn cancel(
    c: &Connection,
    request_id: i64,
    reason: &str,
) -> Result<CancelOutcome, StoreError> {
    const SQL: &str = concat!(
        "UPDATE medical_insurance_requests SET status = 'ERROR', last_error = ?2, \
         worker_id = NULL, lease_until = NULL, update_time = ",
        now!(),
        " \
         WHERE request_id = ?1 AND status = 'PENDING'"
    );
    let n = c
        .prepare_cached(SQL)?
        .execute(params![request_id, reason])?;
    if n == 1 {
        return Ok(CancelOutcome::Cancelled);
    }
    Ok(match status_of(c, request_id)? {
        Some(s) => CancelOutcome::NotPending(s),
        None => CancelOutcome::NotFound,
    })
}

pub(super) fn begin_reversal(
    c: &Connection,
    original_id: i64,
    reversal: &NewRequest,
) -> Result<ReversalStart, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT status, reversal_id FROM medical_insurance_requests WHERE request_id = ?1",
        )?
        .query_row([original_id], |r| {
            Ok(Original {
                status: r.get(0)?,
                reversal_id: r.get(1)?,
            })
        })
        .optional()?;
    let Some(original) = row else {
        return Ok(ReversalStart::NotFound);
    };
    if let Some(reversal_id) = original.reversal_id {
        match status_of(c, reversal_id)? {
            // A reversal the platform refused (or that was never sent) may be replaced.
            Some(RequestStatus::Error) | None => {}
            Some(status) => {
                return Ok(ReversalStart::Existing {
                    reversal_id,
                    status,
                })
            }
        }
    }
    let status = parse_status(&original.status, SPELLING)?;
    if !matches!(status, RequestStatus::Uncertain | RequestStatus::Completed) {
        return Ok(ReversalStart::WrongState(status));
    }
    let id = super::insert_row(c, reversal, None)?.request_id;
    c.prepare_cached(
        "UPDATE medical_insurance_requests SET reversal_id = ?2 WHERE request_id = ?1",
    )?
    .execute(params![original_id, id])?;
    Ok(ReversalStart::Started(id))
}
