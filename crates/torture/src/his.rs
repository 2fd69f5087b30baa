//! The HIS side of the store: rows inserted and read with plain SQL, as a stored procedure
//! does, on the harness's own connections to the SQLite file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

/// How long an HIS statement waits for a lock (longer than the harness's longest lock).
pub const BUSY: Duration = Duration::from_secs(40);

/// When a row's `expires_at` is, relative to its insert (SQLite's clock, local time, like
/// the broker's comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    None,
    /// Seconds from now; negative: already passed.
    In(i64),
}

/// An input that is not UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poison {
    /// `X'FF00'` stored as a BLOB.
    Blob,
    /// `CAST(X'C328' AS TEXT)`: TEXT that is not UTF-8.
    BadUtf8,
}

/// One HIS connection.
pub struct His {
    c: Connection,
}

impl His {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let c = Connection::open(path)?;
        c.busy_timeout(BUSY)?;
        Ok(Self { c })
    }

    pub fn conn(&self) -> &Connection {
        &self.c
    }

    /// Runs `INSERT … RETURNING` in an explicit transaction. In autocommit mode SQLite
    /// commits when the statement is reset, after the returned row was read, and a failed
    /// commit (a full disk) would go unnoticed: the id would name a row that never existed
    /// and is handed to the next insert.
    fn insert_returning<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let tx = self.c.unchecked_transaction()?;
        let out = tx.query_row(sql, params, row)?;
        tx.commit()?;
        Ok(out)
    }

    /// Inserts a PENDING row; returns its id and its `expires_at`.
    pub fn insert(
        &self,
        code: &str,
        input: &str,
        deadline: Deadline,
    ) -> rusqlite::Result<(i64, Option<String>)> {
        let modifier = match deadline {
            Deadline::None => None,
            Deadline::In(s) => Some(format!("{s:+} seconds")),
        };
        self.insert_returning(
            "INSERT INTO medical_insurance_requests (interface_code, input_data, status, expires_at) \
             VALUES (?1, ?2, 'PENDING', \
                     CASE WHEN ?3 IS NULL THEN NULL \
                          ELSE strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime', ?3) END) \
             RETURNING request_id, expires_at",
            params![code, input, modifier],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Inserts a PENDING row whose input is not UTF-8 text.
    pub fn insert_poison(&self, code: &str, poison: Poison) -> rusqlite::Result<i64> {
        let value = match poison {
            Poison::Blob => "X'FF00'",
            Poison::BadUtf8 => "CAST(X'C328' AS TEXT)",
        };
        self.insert_returning(
            &format!(
                "INSERT INTO medical_insurance_requests (interface_code, input_data, status) \
                 VALUES (?1, {value}, 'PENDING') RETURNING request_id"
            ),
            [code],
            |r| r.get(0),
        )
    }

    pub fn status(&self, id: i64) -> rusqlite::Result<Option<String>> {
        self.c
            .query_row(
                "SELECT status FROM medical_insurance_requests WHERE request_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
    }

    /// The view's `err_msg` of a row.
    pub fn err_msg(&self, id: i64) -> rusqlite::Result<Option<String>> {
        self.c
            .query_row(
                "SELECT err_msg FROM v_medical_insurance_result WHERE request_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
    }

    pub fn attempts(&self, id: i64) -> rusqlite::Result<usize> {
        self.c.query_row(
            "SELECT COUNT(*) FROM medical_insurance_attempts WHERE request_id = ?1",
            [id],
            |r| r.get(0),
        )
    }

    /// When the row is still PENDING and its `expires_at` passed more than a second ago
    /// (by SQLite's clock, in one statement): its attempts so far. `None` otherwise.
    pub fn pending_past_deadline(&self, id: i64) -> rusqlite::Result<Option<usize>> {
        self.c
            .query_row(
                "SELECT (SELECT COUNT(*) FROM medical_insurance_attempts a \
                         WHERE a.request_id = r.request_id) \
                 FROM medical_insurance_requests r WHERE r.request_id = ?1 \
                 AND r.status = 'PENDING' AND r.expires_at IS NOT NULL \
                 AND julianday('now', 'localtime') > julianday(r.expires_at) + 1.0 / 86400",
                [id],
                |r| r.get(0),
            )
            .optional()
    }

    /// Rows still PENDING or PROCESSING.
    pub fn unfinished(&self) -> rusqlite::Result<i64> {
        self.c.query_row(
            "SELECT COUNT(*) FROM medical_insurance_requests \
             WHERE status IN ('PENDING', 'PROCESSING')",
            [],
            |r| r.get(0),
        )
    }

    /// The newest ids (at most `limit`) of these interfaces in these states.
    pub fn ids_in(
        &self,
        codes: &[&str],
        statuses: &[&str],
        limit: u32,
    ) -> rusqlite::Result<Vec<i64>> {
        let list = |xs: &[&str]| {
            xs.iter()
                .map(|x| format!("'{}'", x.replace('\'', "")))
                .collect::<Vec<_>>()
                .join(",")
        };
        let sql = format!(
            "SELECT request_id FROM medical_insurance_requests \
             WHERE interface_code IN ({}) AND status IN ({}) \
             ORDER BY request_id DESC LIMIT {limit}",
            list(codes),
            list(statuses)
        );
        let mut st = self.c.prepare(&sql)?;
        let ids = st.query_map([], |r| r.get(0))?;
        ids.collect()
    }
}

/// Holds `BEGIN EXCLUSIVE` on the store for `hold` (checking `stop` every 50 ms), then
/// rolls back. Returns how long the lock was held, or the error taking it.
pub fn hold_exclusive(
    path: &Path,
    hold: Duration,
    stop: &dyn Fn() -> bool,
) -> rusqlite::Result<Duration> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    c.execute_batch("BEGIN EXCLUSIVE")?;
    let t = std::time::Instant::now();
    while t.elapsed() < hold && !stop() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let held = t.elapsed();
    c.execute_batch("ROLLBACK")?;
    Ok(held)
}
