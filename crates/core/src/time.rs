//! Time as the platform expects it. The national platform runs on Beijing time (UTC+8) and
//! has no notion of the server's time zone, so every timestamp we send is computed in a
//! fixed UTC+8 offset, whatever the Windows server's zone setting is.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

/// UTC+8.
pub fn beijing() -> FixedOffset {
    // A constant within ±24 h: this cannot fail.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Now, in Beijing time.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&beijing())
}

/// `yyyy-MM-dd HH:mm:ss`, the form of `inf_time` and most date-time fields.
pub fn format_datetime(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `yyyyMMddHHmmss`, the timestamp inside a msgid.
pub fn format_compact(t: &DateTime<FixedOffset>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// Parses `yyyy-MM-dd HH:mm:ss` as Beijing time.
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    beijing().from_local_datetime(&naive).single()
}

/// Parses `yyyyMMddHHmmss` as Beijing time.
pub fn parse_compact(s: &str) -> Option<DateTime<FixedOffset>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    beijing().from_local_datetime(&naive).single()
}

/// A store's human-facing time (`create_time`, …) in Beijing time, `yyyy-MM-dd HH:mm:ss`.
/// The store writes the server's local time (SQLite `localtime`, SQL Server `GETDATE()`);
/// the platform's day is Beijing's, and on a server whose zone is not UTC+8 the two differ
/// for part of every day. Text that does not read as a local date-time is returned as is.
pub fn local_text_in_beijing(text: &str) -> String {
    let head = text.get(..19).unwrap_or(text);
    chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|naive| chrono::Local.from_local_datetime(&naive).earliest())
        .map(|t| format_datetime(&t.with_timezone(&beijing())))
        .unwrap_or_else(|| text.to_string())
}

/// Milliseconds since the Unix epoch (for leases and schedules, which never leave the broker).
pub fn epoch_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_back() {
        let t = now();
        let s = format_datetime(&t);
        assert_eq!(s.len(), 19);
        assert_eq!(format_datetime(&parse_datetime(&s).unwrap()), s);
        let c = format_compact(&t);
        assert_eq!(c.len(), 14);
        assert_eq!(format_compact(&parse_compact(&c).unwrap()), c);
        assert!(parse_datetime("2024-13-01 00:00:00").is_none());
    }

    /// A local time of now is Beijing's date of now, whatever this machine's zone (CI runs
    /// in UTC, where 16:00–24:00 is already tomorrow in Beijing); odd text keeps its date.
    #[test]
    fn a_local_store_time_reads_as_beijing_time() {
        let at = Utc::now();
        let local = at
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string();
        let beijing_now = format_datetime(&at.with_timezone(&beijing()));
        assert_eq!(local_text_in_beijing(&local), beijing_now);
        assert_eq!(local_text_in_beijing("2026-12-02 xx"), "2026-12-02 xx");
        assert_eq!(local_text_in_beijing("short"), "short");
    }

    #[test]
    fn beijing_is_utc_plus_eight() {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 16, 30, 0).unwrap();
        assert_eq!(
            format_datetime(&t.with_timezone(&beijing())),
            "2024-01-02 00:30:00"
        );
    }
}
