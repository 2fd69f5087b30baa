//! Recovery of rows whose broker died or hung while holding them (expired leases).
//! The store only finds and moves them; the broker decides the target state by interface
//! class, because only it knows the catalog.

use rusqlite::{params, Connection};
use yibao_proto::RequestStatus;

use super::rows::{integer, lossy_text};
use super::schema::now;
use crate::types::ExpiredLease;
use crate::StoreError;

pub(super) fn expired(
    c: &Connection,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<ExpiredLease>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT r.request_id, r.interface_code, r.worker_id, r.lease_until, \
                (SELECT COUNT(*) FROM medical_insurance_attempts a WHERE a.request_id = r.request_id), \
                (SELECT a.msgid FROM medical_insurance_attempts a WHERE a.request_id = r.request_id \
                 ORDER BY a.attempt_no DESC LIMIT 1), \
                r.claim_gen \
         FROM medical_insurance_requests r \
         WHERE r.status = 'PROCESSING' AND (r.lease_until IS NULL OR r.lease_until < ?1 \
               OR typeof(r.lease_until) <> 'integer') \
         ORDER BY r.request_id LIMIT ?2",
    )?;
    // Read leniently: one row a DBA filled with odd values must not stop recovery.
    let rows = st.query_map(params![now_ms, limit], |r| {
        let worker_id = lossy_text(r, 2, "worker_id")?;
        let fence = integer(r, 6)?.unwrap_or(0);
        Ok(ExpiredLease {
            request_id: r.get(0)?,
            interface_code: lossy_text(r, 1, "interface_code")?.unwrap_or_default(),
            claimed_by_broker: fence > 0 && worker_id.is_some(),
            worker_id,
            lease_until_ms: integer(r, 3)?,
            attempts: integer(r, 4)?.unwrap_or(0),
            last_msgid: lossy_text(r, 5, "msgid")?,
            fence,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn recover(
    c: &Connection,
    lease: &ExpiredLease,
    now_ms: i64,
    status: RequestStatus,
    reason: &str,
) -> Result<bool, StoreError> {
    // Same row, same claim (generation), same lease, still expired: otherwise its broker
    // came back — an attempt or a heartbeat moves the lease — or another broker recovered or
    // claimed it, and the row is not ours to move.
    const MOVE: &str = concat!(
        "UPDATE medical_insurance_requests \
         SET status = ?2, worker_id = NULL, lease_until = NULL, last_error = ?3, update_time = ", now!(), " \
         WHERE request_id = ?1 AND status = 'PROCESSING' AND COALESCE(CAST(claim_gen AS INTEGER), 0) = ?4 \
           AND ((lease_until IS ?5 AND (lease_until IS NULL OR lease_until < ?6)) \
                OR typeof(lease_until) NOT IN ('integer', 'null'))"
    );
    let moved = c.prepare_cached(MOVE)?.execute(params![
        lease.request_id,
        status.as_str(),
        reason,
        lease.fence,
        lease.lease_until_ms,
        now_ms,
    ])?;
    if moved == 1 {
        // Close attempts that never got an outcome: their fate is what the row now says.
        const ABANDON: &str = concat!(
            "UPDATE medical_insurance_attempts SET end_time = ",
            now!(),
            ", outcome = 'ABANDONED' \
             WHERE request_id = ?1 AND outcome = 'SENDING'"
        );
        c.prepare_cached(ABANDON)?.execute([lease.request_id])?;
    }
    Ok(moved == 1)
}
