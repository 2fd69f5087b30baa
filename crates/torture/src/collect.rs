//! Reading the evidence: the store's tables and the simulator's applied-log, into the
//! checker's plain types.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::check::{Applied, Attempt, Request, Snapshot};

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(30))?;
    Ok(c)
}

/// The simulator's applied-log entries as the checker reads them; entries without the
/// expected fields are kept with empty text (they then match no request: evidence too).
pub fn applied(log: &[serde_json::Value]) -> Vec<Applied> {
    let field = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    log.iter()
        .map(|v| Applied {
            infno: field(v, "infno"),
            msgid: field(v, "msgid"),
            input: field(v, "input"),
        })
        .collect()
}

/// Requests (with their responses) and attempts.
pub fn store(path: &Path, applied: Vec<Applied>) -> rusqlite::Result<Snapshot> {
    let c = open(path)?;
    let mut st = c.prepare(
        "SELECT r.request_id, r.interface_code, r.status, typeof(r.input_data), \
                CAST(r.input_data AS BLOB), r.msgid, r.expires_at, r.reversal_id, \
                v.err_msg, v.infcode, v.response_data IS NOT NULL \
         FROM medical_insurance_requests r \
         JOIN v_medical_insurance_result v ON v.request_id = r.request_id \
         ORDER BY r.request_id",
    )?;
    let requests = st
        .query_map([], |r| {
            let kind: String = r.get(3)?;
            let bytes: Option<Vec<u8>> = r.get(4)?;
            let input = match (kind.as_str(), bytes) {
                ("text", Some(b)) => String::from_utf8(b).ok(),
                _ => None,
            };
            Ok(Request {
                id: r.get(0)?,
                interface_code: r.get(1)?,
                status: r.get(2)?,
                input,
                msgid: r.get(5)?,
                expires_at: r.get(6)?,
                reversal_id: r.get(7)?,
                err_msg: r.get(8)?,
                infcode: r.get(9)?,
                has_response: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut st = c.prepare(
        "SELECT a.request_id, a.msgid, a.start_time, a.outcome, \
                CASE WHEN r.expires_at IS NULL THEN NULL \
                     ELSE (julianday(a.start_time) - julianday(r.expires_at)) * 86400.0 END \
         FROM medical_insurance_attempts a \
         JOIN medical_insurance_requests r ON r.request_id = a.request_id \
         ORDER BY a.attempt_id",
    )?;
    let attempts = st
        .query_map([], |r| {
            Ok(Attempt {
                request_id: r.get(0)?,
                msgid: r.get(1)?,
                start_time: r.get(2)?,
                outcome: r.get(3)?,
                late_s: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Snapshot {
        requests,
        attempts,
        applied,
    })
}

/// Rows per (interface, status).
pub fn counts(path: &Path) -> rusqlite::Result<BTreeMap<(String, String), i64>> {
    let c = open(path)?;
    let mut st = c.prepare(
        "SELECT interface_code, status, COUNT(*) FROM medical_insurance_requests \
         GROUP BY interface_code, status",
    )?;
    let rows = st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
    rows.collect()
}

/// Faults the simulator reports it injected (`injecting fault <Kind>` lines of its log).
pub fn faults_fired(mock_log: &Path) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(mock_log).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some((_, kind)) = line.split_once("injecting fault ") {
            let kind: String = kind
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            *out.entry(kind).or_default() += 1;
        }
    }
    out
}
