//! Masking personal data in anything written for people to read: logs, status output,
//! error excerpts. A platform reply, an error message or a malformed request may carry a
//! patient's 身份证号, name, phone or card number; logs are copied, mailed and kept for
//! months, so they must not.
//!
//! What is masked (each only where it stands alone, not inside a longer word such as a
//! msgid, which starts with the institution code's letter):
//! * 身份证号: 18 characters (17 digits + digit or X) or 15 digits → first 3 and last 2 kept;
//! * mobile numbers: 11 digits starting 13–19 → first 3 and last 4 kept;
//! * other runs of 16 or more digits (bank and 医保 card numbers, psn_no) → first 4 and last 4;
//! * names: the value after a key ending in `name` (`"psn_name":"张三"`, `psn_name=张三`)
//!   when it contains Chinese characters → first character kept.
//!
//! A Chinese name in free text cannot be told from other words and is not masked; the
//! broker therefore never writes request or response bodies to the log.

use std::borrow::Cow;

/// Masks personal data in `text` (see the module docs). Returns the input untouched, without
/// allocating, when there is nothing to mask.
pub fn mask_pii(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_digit()) && !text.contains("name") {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let boundary_before = i == 0 || !is_word(chars[i - 1]);
        if c.is_ascii_digit() && boundary_before {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let mut end = j;
            // 17 digits + X is an 18-character 身份证号.
            if j - i == 17 && j < chars.len() && matches!(chars[j], 'X' | 'x') {
                end = j + 1;
            }
            let boundary_after = end == chars.len() || !is_word(chars[end]);
            if boundary_after {
                if let Some(masked) = mask_number(&chars[i..end]) {
                    out.push_str(&masked);
                    changed = true;
                    i = end;
                    continue;
                }
            }
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if let Some((consumed, masked)) = name_value(&chars, i) {
            out.push_str(&masked);
            changed = true;
            i += consumed;
            continue;
        }
        out.push(c);
        i += 1;
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn keep(chars: &[char], head: usize, tail: usize) -> String {
    let n = chars.len();
    let mut s: String = chars[..head].iter().collect();
    s.extend(std::iter::repeat_n('*', n - head - tail));
    s.extend(&chars[n - tail..]);
    s
}

/// A standalone number that is personal data, masked; `None` for other numbers.
fn mask_number(d: &[char]) -> Option<String> {
    let n = d.len();
    let is_id = n == 18 || n == 15;
    let is_mobile = n == 11 && d[0] == '1' && ('3'..='9').contains(&d[1]);
    if is_id {
        Some(keep(d, 3, 2))
    } else if is_mobile {
        Some(keep(d, 3, 4))
    } else if n >= 16 {
        Some(keep(d, 4, 4))
    } else {
        None
    }
}

/// At `i`, a key ending in `name` followed by `":"`, `": "`, `=` or `: ` and a value with
/// Chinese characters: returns how many characters to replace and the masked text.
fn name_value(chars: &[char], i: usize) -> Option<(usize, String)> {
    const KEY_END: [char; 4] = ['n', 'a', 'm', 'e'];
    if chars.get(i..i + 4)? != KEY_END || chars.get(i + 4).is_some_and(|c| is_word(*c)) {
        return None;
    }
    let mut j = i + 4;
    let mut prefix: String = "name".into();
    // A quote, also escaped as \" when the JSON sits inside another JSON string (JSON logs).
    let quote = |j: &mut usize, prefix: &mut String| {
        if chars.get(*j) == Some(&'\\') && chars.get(*j + 1) == Some(&'"') {
            prefix.push_str("\\\"");
            *j += 2;
        } else if chars.get(*j) == Some(&'"') {
            prefix.push('"');
            *j += 1;
        }
    };
    // Separator: optional closing quote, then ':' or '=', spaces, optional opening quote.
    quote(&mut j, &mut prefix);
    match chars.get(j) {
        Some(':') | Some('=') => {
            prefix.push(chars[j]);
            j += 1;
        }
        _ => return None,
    }
    while chars.get(j) == Some(&' ') {
        prefix.push(' ');
        j += 1;
    }
    quote(&mut j, &mut prefix);
    let start = j;
    while j < chars.len() && !matches!(chars[j], '"' | '\\' | ',' | '&' | ' ' | '}' | ';' | '\n') {
        j += 1;
    }
    let value = &chars[start..j];
    if value.is_empty() || !value.iter().any(|c| ('\u{4e00}'..='\u{9fff}').contains(c)) {
        return None;
    }
    let mut masked = prefix;
    masked.push(value[0]);
    masked.extend(std::iter::repeat_n('*', value.len() - 1));
    Some((j - i, masked))
}

/// Staff identifiers (opter): the first two characters, for debugging.
pub fn mask_operator(s: &str) -> String {
    let head: String = s.chars().take(2).collect();
    format!("{head}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_masked_and_operational_data_is_not() {
        let line = r#"reply {"psn_name":"张三丰","certno":"43010219900307123X","tel":"13812345678","card":"6222021234567890123"} psn_name=李四 msgid=H43010000001202611241030000001 request_id=42 lease=1764000000000"#;
        let m = mask_pii(line);
        for secret in [
            "张三丰",
            "43010219900307123X",
            "13812345678",
            "6222021234567890123",
            "李四",
        ] {
            assert!(!m.contains(secret), "{secret} leaked: {m}");
        }
        assert!(m.contains(r#""psn_name":"张**""#), "{m}");
        assert!(m.contains("430*************3X"), "{m}");
        assert!(m.contains("138****5678"), "{m}");
        assert!(m.contains("6222***********0123"), "{m}");
        assert!(m.contains("psn_name=李*"), "{m}");
        // What operators need stays readable.
        assert!(m.contains("msgid=H43010000001202611241030000001"), "{m}");
        assert!(
            m.contains("request_id=42") && m.contains("lease=1764000000000"),
            "{m}"
        );
    }

    #[test]
    fn clean_text_is_borrowed_and_odd_input_is_safe() {
        assert!(matches!(mask_pii("all good"), Cow::Borrowed(_)));
        assert!(matches!(mask_pii("code 1101 ok"), Cow::Borrowed(_)));
        for odd in [
            "",
            "name",
            "name=",
            "name:\"",
            "1",
            "12345678901234567",
            "x430102199003071234",
            "张三name=王",
        ] {
            let _ = mask_pii(odd);
        }
        assert_eq!(mask_pii("430102199003071234"), "430*************34");
        assert_eq!(mask_pii("opter_name: 王五"), "opter_name: 王*");
        assert_eq!(mask_operator("001234"), "00***");
        // JSON quoted inside a JSON log line.
        assert_eq!(
            mask_pii(r#"{\"psn_name\":\"张三丰\",\"x\":1}"#),
            r#"{\"psn_name\":\"张**\",\"x\":1}"#
        );
    }
}
