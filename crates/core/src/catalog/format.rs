//! The value formats the national specification uses again and again, checked the way the
//! platform checks them: 身份证号 with its check digit, dates, amounts with two decimals.

use serde::Deserialize;

/// A named format a catalog field can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// 18-character 居民身份证号码: 17 digits + check character (GB 11643), valid birth date.
    Certno,
    /// `yyyy-MM-dd`.
    Date,
    /// `yyyy-MM-dd HH:mm:ss`.
    Datetime,
    /// 数值型(16,2): at most 14 integer digits and 2 decimals.
    Amount,
    /// 数值型: a plain decimal number (no exponent), at most 16 digits before the point.
    Number,
    /// Whole number.
    Integer,
    /// 6-digit 医保区划.
    Admdvs,
    /// "0" or "1".
    Flag,
}

impl Format {
    /// Whether `s` has this format.
    pub fn accepts(self, s: &str) -> bool {
        match self {
            Format::Certno => certno_valid(s),
            Format::Date => date_valid(s),
            Format::Datetime => s.len() == 19 && crate::time::parse_datetime(s).is_some(),
            Format::Amount => decimal(s, 14, 2),
            Format::Number => decimal(s, 16, 6),
            Format::Integer => decimal(s, 18, 0),
            Format::Admdvs => s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()),
            Format::Flag => matches!(s, "0" | "1"),
        }
    }

    /// What the format is, for messages: (中文, English).
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Format::Certno => (
                "应为18位居民身份证号且校验位正确",
                "must be an 18-character 身份证号 with a valid check digit",
            ),
            Format::Date => ("应为 yyyy-MM-dd 日期", "must be a date yyyy-MM-dd"),
            Format::Datetime => (
                "应为 yyyy-MM-dd HH:mm:ss 时间",
                "must be a time yyyy-MM-dd HH:mm:ss",
            ),
            Format::Amount => (
                "应为金额（数字，最多两位小数）",
                "must be an amount (a number with at most 2 decimals)",
            ),
            Format::Number => ("应为数值", "must be a number"),
            Format::Integer => ("应为整数", "must be a whole number"),
            Format::Admdvs => ("应为6位数字区划", "must be a 6-digit area code"),
            Format::Flag => ("应为 0 或 1", "must be 0 or 1"),
        }
    }
}

/// `-?\d{1,int}(\.\d{1,dec})?`
fn decimal(s: &str, int: usize, dec: usize) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (i, d) = match s.split_once('.') {
        Some((i, d)) => (i, Some(d)),
        None => (s, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let int_ok = (1..=int).contains(&i.len()) && digits(i);
    let dec_ok = match d {
        None => true,
        Some(d) => dec > 0 && (1..=dec).contains(&d.len()) && digits(d),
    };
    int_ok && dec_ok
}

fn date_valid(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// GB 11643-1999: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 → X.
pub fn certno_check_char(first17: &str) -> Option<char> {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (b, w) in first17.bytes().zip(W) {
        sum += u32::from(b.checked_sub(b'0').filter(|d| *d <= 9)?) * w;
    }
    Some(C[(sum % 11) as usize] as char)
}

fn certno_valid(s: &str) -> bool {
    if s.len() != 18 || !s.is_ascii() {
        return false;
    }
    let (body, check) = s.split_at(17);
    let birth = &body[6..14];
    let birth_ok = chrono::NaiveDate::parse_from_str(birth, "%Y%m%d").is_ok();
    birth_ok
        && certno_check_char(body)
            .is_some_and(|c| check.eq_ignore_ascii_case(c.encode_utf8(&mut [0; 4])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certno_check_digit() {
        // GB 11643 example numbers (publicly used as test data).
        assert!(Format::Certno.accepts("11010519491231002X"));
        assert!(Format::Certno.accepts("11010519491231002x"));
        assert!(Format::Certno.accepts("430102199003071234"));
        assert!(
            !Format::Certno.accepts("430102199003071235"),
            "wrong check digit"
        );
        assert!(!Format::Certno.accepts("430102199013071234"), "month 13");
        assert!(!Format::Certno.accepts("43010219900307123"), "17 chars");
        assert!(!Format::Certno.accepts("4301021990030712３4"));
        assert_eq!(certno_check_char("11010519491231002"), Some('X'));
        assert_eq!(certno_check_char("1101051949123100a"), None);
    }

    #[test]
    fn amounts_dates_numbers() {
        for ok in ["0", "128.5", "128.50", "-3.10", "12345678901234.99"] {
            assert!(Format::Amount.accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "1.234",
            "1e3",
            "1.",
            ".5",
            "12,00",
            "123456789012345",
            "NaN",
        ] {
            assert!(!Format::Amount.accepts(bad), "{bad}");
        }
        assert!(Format::Number.accepts("2.5000"));
        assert!(!Format::Integer.accepts("2.5"));
        assert!(Format::Integer.accepts("12"));
        assert!(Format::Date.accepts("2026-02-28"));
        assert!(!Format::Date.accepts("2026-02-30"));
        assert!(!Format::Date.accepts("2026-2-3"));
        assert!(Format::Datetime.accepts("2026-11-24 09:00:00"));
        assert!(!Format::Datetime.accepts("2026-11-24T09:00:00"));
        assert!(Format::Admdvs.accepts("430100"));
        assert!(!Format::Admdvs.accepts("43010"));
        assert!(Format::Flag.accepts("1") && !Format::Flag.accepts("Y"));
    }
}
