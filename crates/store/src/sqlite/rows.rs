//! Reading rows without trusting them. The HIS (or a DBA) writes these tables with plain
//! SQL, and SQLite stores whatever it is given: a BLOB or invalid UTF-8 in `input_data`, text
//! in `retry_count`. One such row must not make every poll fail and stop the queue, so the
//! columns a claim returns are read leniently and what is wrong is reported as the row's
//! `defect`, which the broker turns into an ERROR for that row alone.

use rusqlite::types::ValueRef;
use rusqlite::Row;
use yibao_proto::Overrides;

use crate::types::{parse_status, ClaimedRequest, RequestView, StatusSpelling};
use crate::StoreError;

/// SQL: the row's `expires_at` has not passed — the one rule for claims and for the send
/// gate. Local time without a zone, like every other time column ('2026-12-01 10:00:00',
/// a 'T' and milliseconds allowed); a value naming its zone ('Z', '+08:00') is compared as
/// the instant it names. Anything else (a number, free text) counts as passed: a request
/// is never sent on a deadline nobody can read.
macro_rules! deadline_not_passed {
    () => {
        "(expires_at IS NULL OR (typeof(expires_at) = 'text' \
          AND expires_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' \
          AND julianday(expires_at) > CASE \
              WHEN expires_at GLOB '*[Zz]' OR expires_at GLOB '*[+-][0-9][0-9]:[0-9][0-9]' \
              THEN julianday('now') ELSE julianday('now', 'localtime') END))"
    };
}
pub(super) use deadline_not_passed;

/// The columns a claim returns, in the order [`claimed`] reads them (a macro, like
/// [`deadline_not_passed!`], so statements `concat!` it into static text).
macro_rules! claim_columns {
    () => {
        concat!(
            "request_id, interface_code, input_data, retry_count, \
             insuplc_admdvs, mdtrtarea_admvs, opter, opter_name, opter_type, claim_gen, \
             CASE WHEN ",
            $crate::sqlite::rows::deadline_not_passed!(),
            " THEN 0 ELSE 1 END"
        )
    };
}
pub(super) use claim_columns;

/// A text column as text, or why it is not.
fn text(row: &Row<'_>, i: usize, name: &str) -> rusqlite::Result<Result<Option<String>, String>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(b) => match std::str::from_utf8(b) {
            Ok(s) => Ok(Some(s.to_string())),
            Err(_) => Err(format!(
                "{name} 不是有效的 UTF-8 文本 / {name} is not valid UTF-8 text"
            )),
        },
        ValueRef::Integer(n) => Ok(Some(n.to_string())),
        ValueRef::Real(f) => Ok(Some(f.to_string())),
        ValueRef::Blob(_) => Err(format!(
            "{name} 是二进制数据（BLOB），不是文本 / {name} is binary data (a BLOB), not text"
        )),
    })
}

/// A text column, with anything unreadable described instead of failing the read.
pub(super) fn lossy_text(row: &Row<'_>, i: usize, name: &str) -> rusqlite::Result<Option<String>> {
    Ok(text(row, i, name)?.unwrap_or_else(|why| Some(format!("<{why}>"))))
}

pub(super) fn integer(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match row.get_ref(i)? {
        ValueRef::Integer(n) => Some(n),
        ValueRef::Real(f) => Some(f as i64),
        ValueRef::Text(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        _ => None,
    })
}

/// A claimed row (columns as in [`claim_columns!`]). Only the id must be readable; every
/// other problem becomes the row's defect.
pub(super) fn claimed(row: &Row<'_>) -> rusqlite::Result<ClaimedRequest> {
    let mut defects = Vec::new();
    let mut take = |r: Result<Option<String>, String>| match r {
        Ok(v) => v,
        Err(why) => {
            defects.push(why);
            None
        }
    };
    let interface_code = take(text(row, 1, "interface_code")?).unwrap_or_default();
    let input_data = take(text(row, 2, "input_data")?).unwrap_or_default();
    let overrides = Overrides {
        insuplc_admdvs: take(text(row, 4, "insuplc_admdvs")?),
        mdtrtarea_admvs: take(text(row, 5, "mdtrtarea_admvs")?),
        opter: take(text(row, 6, "opter")?),
        opter_name: take(text(row, 7, "opter_name")?),
        opter_type: take(text(row, 8, "opter_type")?),
    };
    Ok(ClaimedRequest {
        request_id: row.get(0)?,
        interface_code,
        input_data,
        retry_count: integer(row, 3)?.unwrap_or(0),
        overrides,
        fence: integer(row, 9)?.unwrap_or(0),
        expired: integer(row, 10)? == Some(1),
        defect: (!defects.is_empty()).then(|| defects.join("; ")),
    })
}

/// The view columns the broker reads, in the order [`view`] reads them (a macro, for
/// `concat!`).
macro_rules! view_columns {
    () => {
        "request_id, interface_code, input_data, status, \
         retry_count, msgid, response_data, infcode, err_msg"
    };
}
pub(super) use view_columns;

/// A view row as read, its status still text: a row mapper can only fail with the driver's
/// error, and an unknown status is the store's `Corrupt`, decided by [`ViewRow::parsed`].
pub(super) struct ViewRow {
    /// Every column but the status (which is a placeholder until parsed).
    view: RequestView,
    status: String,
}

impl ViewRow {
    /// The row with its status read as `spelling` says.
    pub(super) fn parsed(self, spelling: StatusSpelling) -> Result<RequestView, StoreError> {
        Ok(RequestView {
            status: parse_status(&self.status, spelling)?,
            ..self.view
        })
    }
}

/// A view row (columns as in [`view_columns!`]). Unreadable text is shown as a description
/// rather than failing the read, so `result` and `wait` still answer.
pub(super) fn view(r: &Row<'_>) -> rusqlite::Result<ViewRow> {
    let lossy = |i: usize, name: &str| lossy_text(r, i, name);
    Ok(ViewRow {
        view: RequestView {
            request_id: r.get(0)?,
            interface_code: lossy(1, "interface_code")?.unwrap_or_default(),
            input_data: lossy(2, "input_data")?.unwrap_or_default(),
            status: yibao_proto::RequestStatus::Pending,
            retry_count: integer(r, 4)?.unwrap_or(0),
            msgid: lossy(5, "msgid")?,
            response_data: lossy(6, "response_data")?,
            infcode: lossy(7, "infcode")?,
            err_msg: lossy(8, "err_msg")?,
        },
        status: lossy(3, "status")?.unwrap_or_default(),
    })
}
