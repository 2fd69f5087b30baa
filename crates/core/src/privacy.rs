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
//! * mobile numbers written with separators or a country code (`138-1234-5678`,
//!   `138 1234 5678`, `+86 138 1234 5678`, `+8613812345678`) → the same digits kept, the
//!   separators too;
//! * names: the value after a key ending in `name` (`"psn_name":"张三"`, `psn_name=张三`)
//!   when it contains Chinese characters → first character kept;
//! * names in free text after a word that announces a person — 患者, 参保人, 就诊人, 病人,
//!   病患, 姓名 (`患者张三丰`, `姓名：张三丰`, `参保人 李四`) → first character kept. Without
//!   a `:`/`：`/`=` after the marker, at most four characters are taken as the name, and
//!   words that commonly follow the marker in platform messages (`参保人信息不存在`,
//!   `患者姓名…`, `就诊人次`) are left alone.
//!
//! * the value after a key ending in `cainfo` (`"cainfo":"…"`, `cainfo=…`, `cainfo: "…"`):
//!   the card / 电子凭证 password or certificate information the HIS passes for a
//!   settlement, or its ciphertext (a ciphertext is as good as the password to whoever can
//!   send it) → replaced by `***` whatever it holds, its length not kept.
//!
//! Any other Chinese name in free text cannot be told from other words and is not masked;
//! the broker therefore never writes request or response bodies to the log.

use std::borrow::Cow;

/// Masks personal data in `text` (see the module docs). Returns the input untouched, without
/// allocating, when there is nothing to mask.
pub fn mask_pii(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_digit())
        && !text.contains("name")
        && !text.contains("cainfo")
        && (text.is_ascii() || !NAME_MARKERS.iter().any(|m| text.contains(m)))
    {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let boundary_before = i == 0 || !is_word(chars[i - 1]);
        if boundary_before && (c.is_ascii_digit() || c == '+') {
            if let Some((end, masked)) = mobile_at(&chars, i) {
                out.push_str(&masked);
                changed = true;
                i = end;
                continue;
            }
        }
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
        if let Some((consumed, masked)) = cainfo_value(&chars, i)
            .or_else(|| name_value(&chars, i))
            .or_else(|| marked_name(&chars, i))
        {
            changed |= masked.chars().ne(chars[i..i + consumed].iter().copied());
            out.push_str(&masked);
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

/// Words after which a person's name is written in free text.
const NAME_MARKERS: [&str; 6] = ["患者", "参保人", "就诊人", "病人", "病患", "姓名"];

/// What follows a marker without a separator when it is not a name (`参保人信息不存在`,
/// `患者姓名`, `就诊人次`): compared with the start of the text after the marker.
const NOT_A_NAME: [&str; 60] = [
    "信息", "身份", "证件", "证号", "姓名", "性别", "年龄", "类型", "类别", "编号", "账户", "余额",
    "基本", "状态", "就诊", "参保", "列表", "记录", "数据", "本人", "个人", "待遇", "医保", "年度",
    "人员", "资格", "费用", "结算", "住院", "门诊", "名下", "名称", "不", "未", "无", "已", "的",
    "与", "和", "及", "或", "在", "为", "是", "须", "应", "需", "请", "可", "能", "有", "没", "号",
    "次", "数", "所", "等", "对", "均", "并",
];

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// At `i`, one of [`NAME_MARKERS`] followed by a Chinese name: returns how many characters
/// to replace and the text with the name masked (first character kept).
fn marked_name(chars: &[char], i: usize) -> Option<(usize, String)> {
    if !is_han(chars[i]) {
        return None;
    }
    let marker = NAME_MARKERS.iter().find(|m| {
        let n = m.chars().count();
        chars
            .get(i..i + n)
            .is_some_and(|w| w.iter().copied().eq(m.chars()))
    })?;
    let mut j = i + marker.chars().count();
    let mut prefix: String = (*marker).into();
    let mut explicit = false;
    while let Some(&c) = chars.get(j) {
        match c {
            ':' | '：' | '=' => explicit = true,
            ' ' | '"' | '\'' | '“' | '”' | '「' | '」' => {}
            _ => break,
        }
        prefix.push(c);
        j += 1;
    }
    let start = j;
    // With an explicit separator the whole value is the name (`姓名：欧阳·娜娜`); without
    // one, at most four characters, and not what usually follows the marker in a sentence.
    let limit = if explicit { 32 } else { 4 };
    // `的` ends a name of two or more characters (`患者张三的费用`).
    while j < chars.len()
        && j - start < limit
        && (is_han(chars[j]) || chars[j] == '·')
        && !(chars[j] == '的' && j - start >= 2)
    {
        j += 1;
    }
    if j == start || !is_han(chars[start]) {
        return None;
    }
    if !explicit {
        let rest: String = chars[start..j].iter().collect();
        if NOT_A_NAME.iter().any(|w| rest.starts_with(w)) {
            return None;
        }
    }
    let mut masked = prefix;
    masked.push(chars[start]);
    masked.extend(std::iter::repeat_n('*', j - start - 1));
    Some((j - i, masked))
}

/// At `i` (a digit or `+` after a word boundary), a mobile number written as 11 digits, in
/// groups of 3-4-4 separated by `-` or a space, or after the country code `+86`: returns
/// where it ends and the masked text (first 3 and last 4 digits kept, separators kept).
fn mobile_at(chars: &[char], i: usize) -> Option<(usize, String)> {
    let mut j = i;
    let mut out = String::new();
    let is_sep = |c: Option<&char>| matches!(c, Some('-') | Some(' '));
    if chars[j] == '+' {
        if chars.get(j + 1..j + 3)? != ['8', '6'] {
            return None;
        }
        out.push_str("+86");
        j += 3;
        if is_sep(chars.get(j)) {
            out.push(chars[j]);
            j += 1;
        }
    }
    let mut digits = 0;
    for (group, len) in [3usize, 4, 4].into_iter().enumerate() {
        if group > 0 && is_sep(chars.get(j)) && chars.get(j + 1).is_some_and(char::is_ascii_digit) {
            out.push(chars[j]);
            j += 1;
        }
        for _ in 0..len {
            let d = *chars.get(j).filter(|c| c.is_ascii_digit())?;
            let first = digits == 0 && d != '1';
            let second = digits == 1 && !('3'..='9').contains(&d);
            if first || second {
                return None;
            }
            out.push(if (3..7).contains(&digits) { '*' } else { d });
            digits += 1;
            j += 1;
        }
    }
    if chars.get(j).is_some_and(|c| is_word(*c)) {
        return None;
    }
    Some((j, out))
}

/// From `j`, just after a key: an optional closing quote (also escaped as \" when the JSON
/// sits inside another JSON string, as in JSON logs), spaces, `:` or `=`, spaces and an
/// optional opening quote. Returns where the value starts, the separator's text and how the value
/// is quoted: `None` unquoted, `Some(true)` with an escaped quote (JSON inside a string).
fn separator(chars: &[char], mut j: usize) -> Option<(usize, String, Option<bool>)> {
    let mut prefix = String::new();
    let quote = |j: &mut usize, prefix: &mut String| {
        if chars.get(*j) == Some(&'\\') && chars.get(*j + 1) == Some(&'"') {
            prefix.push_str("\\\"");
            *j += 2;
            Some(true)
        } else if chars.get(*j) == Some(&'"') {
            prefix.push('"');
            *j += 1;
            Some(false)
        } else {
            None
        }
    };
    quote(&mut j, &mut prefix);
    // Spaces before the colon too: Java's pretty printers write `"key" : "value"`.
    while chars.get(j) == Some(&' ') {
        prefix.push(' ');
        j += 1;
    }
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
    let quoted = quote(&mut j, &mut prefix);
    Some((j, prefix, quoted))
}

/// At `i`, a key ending in `name` followed by `":"`, `": "`, `=` or `: ` and a value with
/// Chinese characters: returns how many characters to replace and the masked text.
fn name_value(chars: &[char], i: usize) -> Option<(usize, String)> {
    const KEY_END: [char; 4] = ['n', 'a', 'm', 'e'];
    if chars.get(i..i + 4)? != KEY_END || chars.get(i + 4).is_some_and(|c| is_word(*c)) {
        return None;
    }
    let (start, sep, _) = separator(chars, i + 4)?;
    let mut j = start;
    while j < chars.len() && !matches!(chars[j], '"' | '\\' | ',' | '&' | ' ' | '}' | ';' | '\n') {
        j += 1;
    }
    let value = &chars[start..j];
    if value.is_empty() || !value.iter().copied().any(is_han) {
        return None;
    }
    let mut masked = format!("name{sep}");
    masked.push(value[0]);
    masked.extend(std::iter::repeat_n('*', value.len() - 1));
    Some((j - i, masked))
}

/// At `i`, a key ending in `cainfo` followed by a separator and a value: returns how many
/// characters to replace and the text with the whole value as `***`. A quoted value runs to
/// its closing quote (a password may hold spaces or commas); an unquoted one to the next
/// space or delimiter.
fn cainfo_value(chars: &[char], i: usize) -> Option<(usize, String)> {
    const KEY: [char; 6] = ['c', 'a', 'i', 'n', 'f', 'o'];
    if chars.get(i..i + 6)? != KEY || chars.get(i + 6).is_some_and(|c| is_word(*c)) {
        return None;
    }
    let (start, sep, quoted) = separator(chars, i + 6)?;
    let j = match quoted {
        Some(escaped) => quoted_end(chars, start, escaped),
        None => {
            let ends =
                |c: char| c == '"' || c == '\\' || c.is_whitespace() || ",&;}])，；".contains(c);
            (start..chars.len())
                .find(|&j| ends(chars[j]))
                .unwrap_or(chars.len())
        }
    };
    if j == start {
        return None;
    }
    Some((j - i, format!("cainfo{sep}***")))
}

/// Where a quoted value that starts at `start` ends (its closing quote). The value's own
/// escapes are skipped — `\"` is a quote inside it, `\\` a backslash — and when the JSON
/// sits inside another JSON string (`escaped`), each of its characters is read through that
/// string's escapes first, so there `\\\"` is the inner quote and `\"` the closing one.
fn quoted_end(chars: &[char], start: usize, escaped: bool) -> usize {
    // One character of the JSON text the value belongs to, and where the next one starts.
    let unit = |j: usize| match (escaped, chars[j], chars.get(j + 1)) {
        (true, '\\', Some(&c)) if c == '\\' || c == '"' => (c, j + 2),
        (_, c, _) => (c, j + 1),
    };
    let mut j = start;
    while j < chars.len() {
        let (c, next) = unit(j);
        j = match c {
            '"' => return j,
            '\\' if next < chars.len() => unit(next).1,
            _ => next,
        };
    }
    chars.len()
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

    #[test]
    fn names_in_free_text_are_masked_after_a_marker() {
        for (text, masked) in [
            ("<html>患者张三丰</html>", "<html>患者张**</html>"),
            ("参保人李四的结算失败", "参保人李*的结算失败"),
            ("就诊人 王五, 请核对", "就诊人 王*, 请核对"),
            ("病人赵六", "病人赵*"),
            ("姓名：欧阳·娜娜，性别：女", "姓名：欧****，性别：女"),
            ("姓名:张三", "姓名:张*"),
            ("患者姓名=张三丰;", "患者姓名=张**;"),
            ("name=张三丰", "name=张**"),
        ] {
            assert_eq!(mask_pii(text), masked, "{text}");
        }
        // What follows the marker in ordinary platform messages stays readable.
        for text in [
            "参保人信息不存在",
            "未查询到参保人信息",
            "姓名与身份证号不一致",
            "患者不在院",
            "就诊人次超过限制",
            "患者 ID missing",
        ] {
            assert!(matches!(mask_pii(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn phones_with_separators_or_a_country_code_are_masked() {
        for (text, masked) in [
            ("tel 138-1234-5678.", "tel 138-****-5678."),
            ("tel 138 1234 5678", "tel 138 **** 5678"),
            ("+86 138 1234 5678", "+86 138 **** 5678"),
            ("+86-13812345678", "+86-138****5678"),
            ("+8613812345678", "+86138****5678"),
            ("电话：139-0000-1111）", "电话：139-****-1111）"),
        ] {
            assert_eq!(mask_pii(text), masked, "{text}");
        }
        // Dates, times, codes and other numbers with separators are not phones.
        for text in [
            "2026-11-24 10:30:00",
            "code 1101-2207 ok",
            "+1 555 1234 5678",
            "138-1234-56789",
            "x138-1234-5678",
            "120 1234 5678",
        ] {
            assert!(matches!(mask_pii(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn a_cainfo_value_is_masked_whole_wherever_it_is_quoted() {
        for (text, masked) in [
            (
                r#"{"data":{"x":1},"cainfo":"E8cRBqWq1u/d0kdvRFZfNw=="}"#,
                r#"{"data":{"x":1},"cainfo":"***"}"#,
            ),
            (
                r#"{\"cainfo\":\"13c71106a5aad6ef\",\"x\":1}"#,
                r#"{\"cainfo\":\"***\",\"x\":1}"#,
            ),
            ("cainfo=123456&infno=2207", "cainfo=***&infno=2207"),
            (r#"cainfo: "pass word, 1""#, r#"cainfo: "***""#),
            (r#"{"cainfo":"电子凭证密码"}"#, r#"{"cainfo":"***"}"#),
            // A 16-digit password is not left to the card-number rule's first/last four.
            ("cainfo=6222021234567890", "cainfo=***"),
            // A quote inside the value is escaped, in JSON and in JSON inside a JSON log
            // line: the value runs to its own closing quote, nothing of it is left.
            (
                r#"{"cainfo":"12\"34x56","x":1}"#,
                r#"{"cainfo":"***","x":1}"#,
            ),
            (
                r#"{\"cainfo\":\"12\\\"34x56\",\"x\":1}"#,
                r#"{\"cainfo\":\"***\",\"x\":1}"#,
            ),
            (
                r#"{"cainfo":"ab\\","x":"y"}"#,
                r#"{"cainfo":"***","x":"y"}"#,
            ),
            // Jackson's pretty printer (a Java platform's echo) puts a space before the colon.
            (r#"{"cainfo" : "123456"}"#, r#"{"cainfo" : "***"}"#),
        ] {
            assert_eq!(mask_pii(text), masked, "{text}");
        }
        for text in [r#"{"cainfo":""}"#, "cainfo 解密失败", "cainfos=1", "no key"] {
            assert!(matches!(mask_pii(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn the_garbage_reply_of_the_issue_is_masked() {
        let excerpt = "cannot read reply: <html>患者张三丰 电话 138-1234-5678</html>";
        let m = mask_pii(excerpt);
        assert!(!m.contains("张三丰") && !m.contains("138-1234-5678"), "{m}");
        assert!(m.contains("患者张**") && m.contains("138-****-5678"), "{m}");
        assert!(matches!(mask_pii("平台返回成功"), Cow::Borrowed(_)));
    }
}
