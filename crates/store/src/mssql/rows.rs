//! Reading rows without trusting them, and the deadline in the form SQL Server reads.
//!
//! A claim's text columns arrive as the UTF-16LE bytes of NVARCHAR (see statements.sql):
//! the driver would fail the whole result on one value that is not valid UTF-16 (a lone
//! surrogate the HIS wrote), after the claim had committed, and one bad row would stop the
//! queue. Decoded here, such a value becomes that row's `defect`, which the broker turns
//! into an ERROR for that row alone.

use tiberius::Row;
use yibao_proto::Overrides;

use super::{corrupt, opt_str, req_i32, req_str, SPELLING};
use crate::types::{parse_status, ClaimedRequest, RequestView};
use crate::StoreError;

/// A text column sent as UTF-16LE bytes, or why it cannot be read.
fn text(row: &Row, i: usize, name: &str) -> Result<Option<String>, String> {
    row.try_get::<&[u8], _>(i)
        .map_err(|e| format!("{name} 无法读取 / {name} cannot be read: {e}"))?
        .map(|bytes| utf16le(bytes, name))
        .transpose()
}

/// NVARCHAR's bytes as text, strictly: SQL Server stores unchecked UTF-16, in which a
/// lone surrogate is possible.
fn utf16le(bytes: &[u8], name: &str) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(format!(
            "{name} 不是完整的 UTF-16 文本 / {name} is not whole UTF-16 text"
        ));
    }
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| {
            format!(
                "{name} 含无效的 UTF-16（孤立的代理项）/ {name} holds invalid UTF-16 (an unpaired surrogate)"
            )
        })
}

/// Collects what is wrong with a row while its columns are read.
#[derive(Default)]
struct Defects(Vec<String>);

impl Defects {
    fn optional(&mut self, r: Result<Option<String>, String>) -> Option<String> {
        r.unwrap_or_else(|why| {
            self.0.push(why);
            None
        })
    }

    fn required(&mut self, r: Result<Option<String>, String>, name: &str) -> String {
        match r {
            Ok(Some(s)) => s,
            Ok(None) => {
                self.0.push(format!("{name} 为空（NULL）/ {name} is NULL"));
                String::new()
            }
            Err(why) => {
                self.0.push(why);
                String::new()
            }
        }
    }

    fn integer(&mut self, row: &Row, i: usize, name: &str) -> Option<i32> {
        row.try_get::<i32, _>(i).unwrap_or_else(|e| {
            self.0
                .push(format!("{name} 无法读取 / {name} cannot be read: {e}"));
            None
        })
    }
}

/// A claimed row, in the column order of the claim statements. Only the id must be
/// readable; every other problem becomes the row's defect.
pub(super) fn claimed(row: &Row) -> Result<ClaimedRequest, StoreError> {
    let request_id = i64::from(req_i32(row, 0)?);
    let mut d = Defects::default();
    let interface_code = d.required(text(row, 1, "interface_code"), "interface_code");
    let input_data = d.required(text(row, 2, "input_data"), "input_data");
    let retry_count = d.integer(row, 3, "retry_count").unwrap_or(0);
    let overrides = Overrides {
        insuplc_admdvs: d.optional(text(row, 4, "insuplc_admdvs")),
        mdtrtarea_admvs: d.optional(text(row, 5, "mdtrtarea_admvs")),
        opter: d.optional(text(row, 6, "opter")),
        opter_name: d.optional(text(row, 7, "opter_name")),
        opter_type: d.optional(text(row, 8, "opter_type")),
    };
    let fence = d.integer(row, 9, "claim_gen").unwrap_or(0);
    // Computed by the statement; unreadable counts as passed (never send on a guess).
    let expired = row.try_get::<i32, _>(10).ok().flatten() != Some(0);
    Ok(ClaimedRequest {
        request_id,
        interface_code,
        input_data,
        retry_count: i64::from(retry_count),
        overrides,
        fence: i64::from(fence),
        expired,
        defect: (!d.0.is_empty()).then(|| d.0.join("; ")),
    })
}

/// A text column sent as UTF-16LE bytes, or a description of why it cannot be read.
fn lossy(row: &Row, i: usize, name: &str) -> String {
    match text(row, i, name) {
        Ok(s) => s.unwrap_or_default(),
        Err(why) => format!("<{why}>"),
    }
}

/// A row of the view, in the column order of the `get` and `needs_action` statements.
/// Unreadable input is shown as a description rather than failing the read (as on
/// SQLite), so `result`, `wait` and the list of rows needing a human still answer.
pub(super) fn view(r: &Row) -> Result<RequestView, StoreError> {
    Ok(RequestView {
        request_id: i64::from(req_i32(r, 0)?),
        interface_code: lossy(r, 1, "interface_code"),
        input_data: lossy(r, 2, "input_data"),
        status: parse_status(&req_str(r, 3)?, SPELLING)?,
        retry_count: i64::from(r.try_get::<i32, _>(4).map_err(corrupt)?.unwrap_or(0)),
        msgid: opt_str(r, 5)?,
        response_data: opt_str(r, 6)?,
        infcode: opt_str(r, 7)?,
        err_msg: opt_str(r, 8)?,
    })
}

/// The earliest DATETIME: where an unreadable deadline is put, so the request is still
/// recorded (every call stays audited) but counts as expired and is never sent, as on
/// SQLite.
const UNREADABLE_DEADLINE: &str = "1753-01-01T00:00:00.000";

/// `NewRequest::expires_at` (local `yyyy-MM-dd HH:mm:ss[.fff]`) as ISO 8601
/// `yyyy-mm-ddThh:mi:ss.mmm`, which `CONVERT(DATETIME, …, 126)` reads the same under every
/// SET LANGUAGE and DATEFORMAT (the form with a space does not: under `dmy` it swaps month
/// and day).
pub(super) fn deadline(expires_at: Option<&str>) -> Option<String> {
    let text = expires_at?;
    Some(iso_datetime(text).unwrap_or_else(|| {
        tracing::warn!(
            expires_at = text,
            "expires_at is not a yyyy-MM-dd HH:mm:ss[.fff] time: the request counts as expired"
        );
        UNREADABLE_DEADLINE.to_string()
    }))
}

fn iso_datetime(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if !(b.len() == 19 || (21..=23).contains(&b.len())) {
        return None;
    }
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b' ' || c == b'T',
        13 | 16 => c == b':',
        19 => c == b'.',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let num = |from: usize, to: usize| -> u32 {
        b[from..to]
            .iter()
            .fold(0, |n, &c| n * 10 + u32::from(c - b'0'))
    };
    let (year, month, day) = (num(0, 4), num(5, 7), num(8, 10));
    let (hour, minute, second) = (num(11, 13), num(14, 16), num(17, 19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1753..=9999).contains(&year)
        || !(1..=days).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Milliseconds, padded to three digits; .998 and .999 would round up to the next
    // second in DATETIME (1/300 s), past 9999-12-31 at the very end, so they become .997.
    let millis = match b.len() {
        21 => num(20, 21) * 100,
        22 => num(20, 22) * 10,
        23 => num(20, 23),
        _ => 0,
    };
    Some(format!(
        "{}T{}.{:03}",
        &s[..10],
        &s[11..19],
        millis.min(997)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(units: &[u16]) -> Vec<u8> {
        units.iter().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn text_is_decoded_strictly_and_its_defect_named() {
        let good = "{\"psn_name\":\"张三𠀀\"}";
        let units: Vec<u16> = good.encode_utf16().collect();
        assert_eq!(utf16le(&utf16(&units), "input_data").as_deref(), Ok(good));
        assert_eq!(utf16le(&[], "input_data").as_deref(), Ok(""));
        // A lone high surrogate, as SQL Server will store in NVARCHAR.
        let lone = utf16(&[0x7B, 0xD840, 0x7D]);
        let why = utf16le(&lone, "input_data").unwrap_err();
        assert!(
            why.contains("input_data") && why.contains("surrogate"),
            "{why}"
        );
        let odd = utf16le(&[0x41, 0x00, 0x42], "opter_name").unwrap_err();
        assert!(odd.contains("opter_name"), "{odd}");
    }

    #[test]
    fn deadlines_become_language_neutral_iso_8601() {
        let d = |s: &str| deadline(Some(s));
        assert_eq!(deadline(None), None);
        assert_eq!(
            d("2026-03-04 05:06:07").as_deref(),
            Some("2026-03-04T05:06:07.000")
        );
        assert_eq!(
            d("2026-03-04 05:06:07.5").as_deref(),
            Some("2026-03-04T05:06:07.500")
        );
        assert_eq!(
            d("2026-03-04 05:06:07.12").as_deref(),
            Some("2026-03-04T05:06:07.120")
        );
        assert_eq!(
            d("2001-02-03 04:05:06.789").as_deref(),
            Some("2001-02-03T04:05:06.789")
        );
        assert_eq!(
            d("9999-12-31 23:59:59.999").as_deref(),
            Some("9999-12-31T23:59:59.997")
        );
        assert_eq!(
            d("2024-02-29 00:00:00").as_deref(),
            Some("2024-02-29T00:00:00.000")
        );
        for bad in [
            "2023-02-29 00:00:00",
            "2026-13-01 00:00:00",
            "2026-04-31 00:00:00",
            "2026-01-01 24:00:00",
            "1700-01-01 00:00:00",
            "2026-01-01",
            "2026-01-01 00:00:00.",
            "2026-01-01 00:00:00.1234",
            "26-01-01 00:00:00",
            "２０２６-01-01 00:00:00",
            "tomorrow",
            "",
        ] {
            assert_eq!(d(bad).as_deref(), Some(UNREADABLE_DEADLINE), "{bad:?}");
        }
    }
}
