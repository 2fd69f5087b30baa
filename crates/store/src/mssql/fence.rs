//! The statements that act on a held row: begin an attempt, extend the lease, finish.
//! Each checks the holder's claim generation (fencing token) in the same statement that
//! changes the row, so a broker whose claim was superseded can neither send nor write.

use super::pool::{self, run};
use super::statements::Stmt;
use super::{clip, fields, first_row, row_id, MssqlStore};
use crate::types::{AttemptStart, Finish, Holder, Origin};
use crate::StoreError;

/// What the `begin_attempt` batch returns instead of an id when the claim is current but
/// the deadline has passed (-1, or any other negative value: the claim is lost).
const EXPIRED: i64 = -2;

pub(super) async fn begin_attempt(
    store: &MssqlStore,
    start: &AttemptStart,
) -> Result<i64, StoreError> {
    let request_id = start.request_id;
    let id = row_id(request_id).ok_or(StoreError::LeaseLost(request_id))?;
    let worker_id = start.holder.worker_id.as_str();
    let infno = start.infno.as_str();
    let msgid = start.msgid.as_str();
    let result = run(
        &store.pool,
        store.opts.command_timeout,
        Stmt::BeginAttempt.sql(),
        &[
            &id,
            &worker_id,
            &infno,
            &msgid,
            &start.lease_until_ms,
            &start.holder.fence,
        ],
    )
    .await;
    let sets = match result {
        Ok(sets) => sets,
        Err(f) if matches!(f.server_code, Some(2627 | 2601)) => {
            return Err(StoreError::DuplicateMsgid(start.msgid.clone()))
        }
        Err(f) => return Err(f.into()),
    };
    let attempt_id = first_row(&sets, 0)
        .and_then(|r| r.try_get::<i64, _>(0).ok().flatten())
        .ok_or_else(|| super::corrupt("begin_attempt returned no id"))?;
    match attempt_id {
        EXPIRED => Err(StoreError::Expired(request_id)),
        n if n < 0 => Err(StoreError::LeaseLost(request_id)),
        n => Ok(n),
    }
}

pub(super) async fn heartbeat(
    store: &MssqlStore,
    request_id: i64,
    holder: &Holder,
    lease_until_ms: i64,
) -> Result<bool, StoreError> {
    let Some(id) = row_id(request_id) else {
        return Ok(false);
    };
    let worker_id = holder.worker_id.as_str();
    let sets = store
        .query(
            Stmt::Heartbeat,
            &[&id, &worker_id, &holder.fence, &lease_until_ms],
        )
        .await?;
    Ok(held(&sets))
}

pub(super) async fn finish(store: &MssqlStore, f: Finish) -> Result<bool, StoreError> {
    let Some(id) = row_id(f.request_id) else {
        return Ok(false);
    };
    let attempt_id = f.attempt.map(|a| a.attempt_id);
    let ms = f
        .attempt
        .map(|a| i64::try_from(a.duration_ms).unwrap_or(i64::MAX));
    let outcome = f.attempt.map(|a| a.outcome.as_str());
    let has_response: i32 = f.response.is_some().into();
    let r = f.response.as_ref();
    let response_data = r.map(|r| r.response_data.as_str());
    let infcode = r.and_then(|r| r.infcode.as_deref());
    let err_msg = clip(&r.and_then(|r| r.err_msg.clone()));
    let origin = r.map(|r| r.origin.as_str());
    // Only the platform's own reply may finish a row recovery already moved (see `finish`
    // in statements.sql).
    let reply_in_hand: i32 = r.is_some_and(|r| r.origin == Origin::Platform).into();
    let error = clip(&f.error);
    let field_rows = r.map(|r| r.fields.as_slice()).unwrap_or_default();
    let inserts = fields::InsertBatches::new(field_rows);
    let follow = i32::try_from(field_rows.len()).unwrap_or(i32::MAX);
    let reversed = crate::reversed_reason(f.request_id);
    let finish: [&dyn tiberius::ToSql; 16] = [
        &id,
        &f.holder.worker_id,
        &f.status.as_str(),
        &error,
        &attempt_id,
        &ms,
        &outcome,
        &has_response,
        &response_data,
        &infcode,
        &err_msg,
        &origin,
        &follow,
        &f.holder.fence,
        &reply_in_hand,
        &reversed,
    ];
    let field_params: Vec<Vec<&dyn tiberius::ToSql>> = (0..inserts.sql.len())
        .map(|n| inserts.params(n, &id))
        .collect();
    let mut batches: Vec<pool::Batch<'_>> = vec![(Stmt::Finish.sql(), &finish)];
    batches.extend(
        inserts
            .sql
            .iter()
            .zip(&field_params)
            .map(|(sql, params)| (sql.as_str(), params.as_slice())),
    );
    // The field rows go only where `finish` held the row (and left its transaction open).
    let sets = store.sequence(&batches, held).await?;
    Ok(sets.first().is_some_and(|s| held(s)))
}

/// The `1`/`0` a write batch answers with.
fn held(sets: &[Vec<tiberius::Row>]) -> bool {
    first_row(sets, 0).and_then(|r| r.try_get::<i32, _>(0).ok().flatten()) == Some(1)
}
