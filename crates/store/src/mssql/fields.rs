//! A response's field rows on SQL Server: written after `finish`, read for `response_fields`.
//!
//! The number of rows varies per reply, and `finish` must stay one transaction. The
//! `finish` batch leaves its transaction open when rows follow; they go as plain
//! parameterised multi-row INSERTs (SQL Server 2008 takes multi-row `VALUES`) on the same
//! connection, the last batch commits. Each batch stays under SQL Server's limits of 2,100
//! parameters per request and 1,000 rows per `VALUES` list. Values travel as NVARCHAR
//! parameters, so nothing in them (quotes, `<`, control characters) is ever SQL text.

use tiberius::{Row, ToSql};

use super::{corrupt, req_str};
use crate::types::ResponseField;
use crate::StoreError;

/// Rows per INSERT batch: 1 + 3 × 600 = 1,801 parameters (limit 2,100), 600 rows (limit
/// 1,000 per `VALUES`).
pub(super) const ROWS_PER_BATCH: usize = 600;

/// The SQL of one INSERT batch of `rows` rows (`@P1` is the request id, then path,
/// row_index, value per row); the last batch commits the transaction `finish` left open.
/// A batch run with no transaction open does nothing: the rows are never written outside
/// the `finish` they belong to.
pub(super) fn insert_sql(rows: usize, last: bool) -> String {
    let mut sql = String::from(
        "IF @@TRANCOUNT = 0 RETURN;\n\
         INSERT INTO dbo.medical_insurance_response_fields (request_id, path, row_index, value)\n\
         VALUES ",
    );
    for i in 0..rows {
        let p = 2 + 3 * i;
        if i > 0 {
            sql.push_str(",\n    ");
        }
        sql.push_str(&format!("(@P1, @P{}, @P{}, @P{})", p, p + 1, p + 2));
    }
    sql.push_str(";\n");
    if last {
        sql.push_str("COMMIT TRANSACTION;\n");
    }
    sql
}

/// The INSERT batches of `fields` for request `id`: SQL text and the values it binds.
pub(super) struct InsertBatches<'a> {
    pub sql: Vec<String>,
    row_index: Vec<i32>,
    fields: &'a [ResponseField],
}

impl<'a> InsertBatches<'a> {
    pub fn new(fields: &'a [ResponseField]) -> Self {
        let chunks = fields.len().div_ceil(ROWS_PER_BATCH);
        let sql = fields
            .chunks(ROWS_PER_BATCH)
            .enumerate()
            .map(|(i, c)| insert_sql(c.len(), i + 1 == chunks))
            .collect();
        let row_index = fields
            .iter()
            .map(|f| i32::try_from(f.row_index).unwrap_or(i32::MAX))
            .collect();
        Self {
            sql,
            row_index,
            fields,
        }
    }

    /// The parameters of batch `n`: the request id, then path, row_index, value per row.
    pub fn params<'s>(&'s self, n: usize, id: &'s dyn ToSql) -> Vec<&'s dyn ToSql> {
        let start = n * ROWS_PER_BATCH;
        let end = (start + ROWS_PER_BATCH).min(self.fields.len());
        let mut out: Vec<&dyn ToSql> = Vec::with_capacity(1 + 3 * (end - start));
        out.push(id);
        for i in start..end {
            out.push(&self.fields[i].path);
            out.push(&self.row_index[i]);
            out.push(&self.fields[i].value);
        }
        out
    }
}

/// Rows of the `response_fields` statement: path, row_index, value.
pub(super) fn from_rows(rows: &[Row]) -> Result<Vec<ResponseField>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let row_index = r.try_get::<i32, _>(1).map_err(corrupt)?.unwrap_or(0);
        out.push(ResponseField {
            path: req_str(r, 0)?,
            row_index: u32::try_from(row_index).unwrap_or(0),
            value: super::opt_str(r, 2)?.unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: usize) -> ResponseField {
        ResponseField {
            path: format!("setldetail[*].f{n}"),
            row_index: n as u32,
            value: "张三'<\"&\u{1}".into(),
        }
    }

    #[test]
    fn batches_stay_under_the_servers_limits_and_only_the_last_commits() {
        let fields: Vec<ResponseField> = (0..1301).map(field).collect();
        let b = InsertBatches::new(&fields);
        assert_eq!(b.sql.len(), 3);
        let id = 7i32;
        let mut rows = 0;
        for (n, sql) in b.sql.iter().enumerate() {
            let params = b.params(n, &id);
            assert!(params.len() <= 2100, "{} parameters", params.len());
            let tuples = sql.matches("(@P1, ").count();
            assert!(tuples <= 1000);
            assert_eq!(params.len(), 1 + 3 * tuples);
            let highest = format!("@P{}", params.len());
            assert!(sql.contains(&highest) && !sql.contains(&format!("@P{}", params.len() + 1)));
            assert!(sql.starts_with("IF @@TRANCOUNT = 0 RETURN;"));
            assert_eq!(sql.contains("COMMIT"), n + 1 == b.sql.len(), "batch {n}");
            rows += tuples;
        }
        assert_eq!(rows, fields.len());
    }

    #[test]
    fn values_are_parameters_never_sql_text() {
        let fields = vec![field(1)];
        let b = InsertBatches::new(&fields);
        assert!(!b.sql[0].contains("张三"));
        assert_eq!(b.params(0, &1i32).len(), 4);
        assert!(InsertBatches::new(&[]).sql.is_empty());
    }
}
