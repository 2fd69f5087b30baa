//! Cron times for `[[schedule]]`: the five fields every HIS administrator knows from cron
//! and Windows-era schedulers — minute, hour, day of month, month, day of week — in
//! Beijing time. Each field takes `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`,
//! and lists of those separated by commas. As in cron, when both day fields are
//! restricted a day matches if either does.

use chrono::{DateTime, Datelike, Duration, FixedOffset, Timelike};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

impl Cron {
    pub fn parse(s: &str) -> Result<Self, String> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields.as_slice() else {
            return Err(format!(
                "cron 须为 5 个字段：分 时 日 月 周，如 \"0 2 * * *\" / cron needs 5 fields (minute hour day month weekday): {s:?}"
            ));
        };
        let mut weekdays = field(dow, 0, 7, "weekday")?;
        // 7 is Sunday too.
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        let (days, months) = (field(dom, 1, 31, "day")?, field(mon, 1, 12, "month")?);
        // A day restricted alone must exist in one of the months (`0 0 30 2 *` never runs).
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let exists = (1..=12u32).any(|mo| {
            months & (1 << mo) != 0 && (1..=LONGEST[mo as usize - 1]).any(|d| days & (1 << d) != 0)
        });
        // (With both day fields restricted, a weekday can still match: cron's OR.)
        if !exists && dow.starts_with('*') {
            return Err(format!(
                "cron 的日与月没有共同存在的日期，永远不会运行 / cron day and month never meet, it would never run: {s:?}"
            ));
        }
        Ok(Self {
            minutes: field(m, 0, 59, "minute")?,
            hours: field(h, 0, 23, "hour")?,
            days,
            months,
            weekdays,
            // As in cron, a field that starts with `*` (`*`, `*/2`) does not restrict.
            days_restricted: !dom.starts_with('*'),
            weekdays_restricted: !dow.starts_with('*'),
        })
    }

    /// Whether the minute that `t` falls in is one of the expression's.
    pub fn matches(&self, t: &DateTime<FixedOffset>) -> bool {
        let bit = |mask: u64, v: u32| mask & (1u64 << v) != 0;
        let day = bit(self.days, t.day());
        let weekday = bit(self.weekdays, t.weekday().num_days_from_sunday());
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            _ => day && weekday,
        };
        bit(self.minutes, t.minute())
            && bit(self.hours, t.hour())
            && bit(self.months, t.month())
            && day_ok
    }

    /// The latest matching minute in `[now - window, now]` (whole minutes), if any.
    pub fn latest(
        &self,
        now: &DateTime<FixedOffset>,
        window_minutes: u32,
    ) -> Option<DateTime<FixedOffset>> {
        let minute = now.with_second(0)?.with_nanosecond(0)?;
        (0..=i64::from(window_minutes))
            .map(|back| minute - Duration::minutes(back))
            .find(|t| self.matches(t))
    }
}

/// One field as a bit mask of the values it allows.
fn field(s: &str, min: u32, max: u32, name: &str) -> Result<u64, String> {
    let bad = || {
        format!("cron 的 {name} 字段无法识别（允许 {min}-{max}、*、a-b、*/n、逗号列表）/ cron {name} field not understood (allowed {min}-{max}, *, a-b, */n, lists): {s:?}")
    };
    let mut mask = 0u64;
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (
                r,
                st.parse::<u32>().ok().filter(|&n| n > 0).ok_or_else(bad)?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                a.parse::<u32>().map_err(|_| bad())?,
                b.parse::<u32>().map_err(|_| bad())?,
            )
        } else {
            let v = range.parse::<u32>().map_err(|_| bad())?;
            // `5/10` means from 5 to the end, every 10.
            (v, if step > 1 { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(bad());
        }
        for v in (lo..=hi).step_by(step as usize) {
            mask |= 1u64 << v;
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn fields_and_days_match_as_in_cron() {
        let nightly = Cron::parse("0 2 * * *").unwrap();
        assert!(nightly.matches(&at("2026-12-02T02:00:30+08:00")));
        assert!(!nightly.matches(&at("2026-12-02T02:01:00+08:00")));
        let steps = Cron::parse("*/15 8-17 * * 1-5").unwrap();
        assert!(steps.matches(&at("2026-12-02T08:45:00+08:00"))); // a Wednesday
        assert!(!steps.matches(&at("2026-12-06T08:45:00+08:00"))); // a Sunday
        assert!(!steps.matches(&at("2026-12-02T18:00:00+08:00")));
        let sunday = Cron::parse("30 23 * * 7").unwrap();
        assert!(sunday.matches(&at("2026-12-06T23:30:00+08:00")));
        // Both day fields restricted: either matches (the 1st, or any Monday).
        let either = Cron::parse("0 0 1 * 1").unwrap();
        assert!(either.matches(&at("2026-12-01T00:00:00+08:00"))); // Tuesday the 1st
        assert!(either.matches(&at("2026-12-07T00:00:00+08:00"))); // Monday the 7th
        assert!(!either.matches(&at("2026-12-08T00:00:00+08:00")));
        let list = Cron::parse("5,35 1,13 * * *").unwrap();
        assert!(list.matches(&at("2026-12-02T13:35:00+08:00")));
    }

    #[test]
    fn bad_expressions_are_named() {
        for bad in [
            "",
            "0 2 * *",
            "0 0 30 2 *",
            "0 0 31 4,6 *",
            "60 2 * * *",
            "0 24 * * *",
            "0 2 0 * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
            "0 2 * * 8",
        ] {
            let e = Cron::parse(bad).unwrap_err();
            assert!(e.contains("cron"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_latest_slot_within_the_window() {
        let nightly = Cron::parse("0 2 * * *").unwrap();
        let now = at("2026-12-02T02:40:10+08:00");
        assert_eq!(
            nightly.latest(&now, 60),
            Some(at("2026-12-02T02:00:00+08:00"))
        );
        assert_eq!(nightly.latest(&now, 30), None);
        let every = Cron::parse("* * * * *").unwrap();
        assert_eq!(every.latest(&now, 0), Some(at("2026-12-02T02:40:00+08:00")));
    }
}
