//! `medical_insurance_response_fields`: the catalog's output values as rows.

use rusqlite::{params, Connection};

use crate::types::ResponseField;

/// Replaces the request's field rows (a request re-finished after recovery must not keep
/// values from an earlier reply). Runs inside the caller's transaction.
pub(super) fn write_fields(
    c: &Connection,
    request_id: i64,
    fields: &[ResponseField],
) -> rusqlite::Result<()> {
    c.prepare_cached("DELETE FROM medical_insurance_response_fields WHERE request_id = ?1")?
        .execute([request_id])?;
    let mut insert = c.prepare_cached(
        "INSERT OR REPLACE INTO medical_insurance_response_fields (request_id, path, row_index, value) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for f in fields {
        insert.execute(params![request_id, f.path, f.row_index, f.value])?;
    }
    Ok(())
}

pub(super) fn read_fields(c: &Connection, request_id: i64) -> rusqlite::Result<Vec<ResponseField>> {
    let mut q = c.prepare_cached(
        "SELECT path, row_index, value FROM medical_insurance_response_fields \
         WHERE request_id = ?1 ORDER BY path, row_index",
    )?;
    let rows = q.query_map([request_id], |r| {
        Ok(ResponseField {
            path: r.get(0)?,
            row_index: r.get(1)?,
            value: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        })
    })?;
    rows.collect()
}
