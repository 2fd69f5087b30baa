//! Operator actions decided atomically in the database: cancelling a PENDING request and
//! starting the one 2601 冲正 a request may have in flight.

use super::rows::deadline;
use super::statements::Stmt;
use super::{clip, first_row, req_str, row_id, MssqlStore, SPELLING};
use crate::types::{parse_status, CancelOutcome, NewRequest, ReversalStart};
use crate::StoreError;

pub(super) async fn cancel(
    store: &MssqlStore,
    request_id: i64,
    reason: &str,
) -> Result<CancelOutcome, StoreError> {
    let Some(id) = row_id(request_id) else {
        return Ok(CancelOutcome::NotFound);
    };
    let reason = clip(&Some(reason.to_string()));
    let sets = store.query(Stmt::Cancel, &[&id, &reason]).await?;
    let cancelled = first_row(&sets, 0).and_then(|r| r.try_get::<i32, _>(0).ok().flatten());
    if cancelled == Some(1) {
        return Ok(CancelOutcome::Cancelled);
    }
    match first_row(&sets, 1) {
        None => Ok(CancelOutcome::NotFound),
        Some(row) => Ok(CancelOutcome::NotPending(parse_status(
            &req_str(row, 0)?,
            SPELLING,
        )?)),
    }
}

pub(super) async fn begin_reversal(
    store: &MssqlStore,
    original_id: i64,
    reversal: &NewRequest,
) -> Result<ReversalStart, StoreError> {
    let Some(id) = row_id(original_id) else {
        return Ok(ReversalStart::NotFound);
    };
    let o = &reversal.overrides;
    let expires_at = deadline(reversal.expires_at.as_deref());
    let sets = store
        .query(
            Stmt::BeginReversal,
            &[
                &id,
                &reversal.interface_code,
                &reversal.input_data,
                &o.insuplc_admdvs,
                &o.mdtrtarea_admvs,
                &o.opter,
                &o.opter_name,
                &o.opter_type,
                &expires_at,
            ],
        )
        .await?;
    let row =
        first_row(&sets, 0).ok_or_else(|| super::corrupt("begin_reversal returned no row"))?;
    let outcome = req_str(row, 0)?;
    let request_id = || -> Result<i64, StoreError> {
        row.try_get::<i32, _>(1)
            .map_err(super::corrupt)?
            .map(i64::from)
            .ok_or_else(|| super::corrupt("begin_reversal returned no request_id"))
    };
    let status = || parse_status(&req_str(row, 2)?, SPELLING);
    match outcome.as_str() {
        "STARTED" => Ok(ReversalStart::Started(request_id()?)),
        "EXISTING" => Ok(ReversalStart::Existing {
            reversal_id: request_id()?,
            status: status()?,
        }),
        "WRONG_STATE" => Ok(ReversalStart::WrongState(status()?)),
        "NOT_FOUND" => Ok(ReversalStart::NotFound),
        other => Err(super::corrupt(format!("begin_reversal returned {other:?}"))),
    }
}
