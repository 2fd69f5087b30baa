//! `medical_insurance_response_fields`: the catalog's output values as rows.

use std::sync::OnceLock;

use rusqlite::{params_from_iter, Connection, ToSql};

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
    // Several rows per statement: a reply adds a dozen rows, and one statement per row
    // costs the single writer measurably at thousands of calls per second.
    for chunk in fields.chunks(ROWS_PER_INSERT) {
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(1 + 3 * chunk.len());
        values.push(&request_id);
        for f in chunk {
            values.push(&f.path);
            values.push(&f.row_index);
            values.push(&f.value);
        }
        c.prepare_cached(insert_sql(chunk.len()))?
            .execute(params_from_iter(values))?;
    }
    Ok(())
}

/// Rows per INSERT; the statement for each count up to this is cached once.
const ROWS_PER_INSERT: usize = 16;

/// `INSERT … VALUES (?1, ?2, ?3, ?4), (?1, ?5, ?6, ?7), …` for `rows` rows (1 to
/// [`ROWS_PER_INSERT`]), built once per process rather than per call.
fn insert_sql(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        (1..=ROWS_PER_INSERT)
            .map(|n| {
                let tuples: Vec<String> = (0..n)
                    .map(|i| {
                        let p = 2 + 3 * i;
                        format!("(?1, ?{}, ?{}, ?{})", p, p + 1, p + 2)
                    })
                    .collect();
                format!(
                    "INSERT OR REPLACE INTO medical_insurance_response_fields \
                     (request_id, path, row_index, value) VALUES {}",
                    tuples.join(", ")
                )
            })
            .collect()
    });
    &all[rows.clamp(1, ROWS_PER_INSERT) - 1]
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
