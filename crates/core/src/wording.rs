//! Rules for the text a hospital user reads (err_msg, CLI and config messages): 中文 first,
//! then English, and a detail (a platform's reply, an error's own text) said once. The
//! messages are written by hand across the crates; this is the one check the tests and the
//! torture run apply to every message they see.

use std::collections::HashMap;

/// The shortest passage that counts as "the same text said twice": long enough that two
/// ids, a status or an interface code repeated in both languages do not count.
pub const MIN_REPEATED_CHARS: usize = 20;

/// A passage of at least [`MIN_REPEATED_CHARS`] characters that occurs twice in one item
/// of `message` without overlapping (e.g. a detail pasted into both the Chinese and the
/// English half), or `None`. Items are what a list separates (`；`, `; `, lines): a list
/// of problems may well say "为必填项 / is required" once per field. Runs of one character
/// (`========`) are not passages. The same item twice (a line printed twice) is repeated
/// text too.
pub fn repeated_passage(message: &str) -> Option<String> {
    let items: Vec<&str> = message
        .split(['；', '\n'])
        .flat_map(|part| part.split("; "))
        .map(str::trim)
        .collect();
    let mut seen = std::collections::HashSet::new();
    for item in &items {
        if item.chars().count() >= MIN_REPEATED_CHARS && !seen.insert(*item) {
            return Some(item.to_string());
        }
    }
    items.into_iter().find_map(repeated_in_item)
}

fn repeated_in_item(item: &str) -> Option<String> {
    let chars: Vec<char> = item.chars().collect();
    let n = MIN_REPEATED_CHARS;
    if chars.len() < 2 * n {
        return None;
    }
    let mut first_seen: HashMap<&[char], usize> = HashMap::new();
    for start in 0..=chars.len() - n {
        let window = &chars[start..start + n];
        if window.iter().all(|c| c.is_whitespace() || *c == window[0]) {
            continue;
        }
        match first_seen.get(window) {
            Some(&first) if first + n <= start => return Some(window.iter().collect()),
            Some(_) => {}
            None => {
                first_seen.insert(window, start);
            }
        }
    }
    None
}

/// Whether `message` puts 中文 first: it holds a Chinese character, and before the first
/// " / " (where the English half of a message starts) when it has one. Empty text passes.
pub fn chinese_first(message: &str) -> bool {
    if message.trim().is_empty() {
        return true;
    }
    let first_chinese = message.find(|c: char| ('\u{4e00}'..='\u{9fff}').contains(&c));
    match (first_chinese, message.find(" / ")) {
        (None, _) => false,
        (Some(zh), Some(slash)) => zh < slash,
        (Some(_), None) => true,
    }
}

/// What is wrong with a message a hospital user reads, if anything: English only or
/// English first, or a passage said twice. The e2e harness and the torture run call it on
/// every err_msg and every shim message they see.
pub fn defect(message: &str) -> Option<String> {
    if !chinese_first(message) {
        return Some("not 中文 first".into());
    }
    repeated_passage(message).map(|p| format!("repeats {p:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_said_in_both_halves_is_found() {
        let why = "平台返回业务错误 -1：经办人未签到 / business error -1";
        let twice = format!("9001 签到失败：{why} / 9001 sign-in failed: {why}");
        assert!(repeated_passage(&twice).is_some());
        let once = format!("9001 签到失败（请求 7）/ 9001 sign-in failed (request 7): {why}");
        assert_eq!(repeated_passage(&once), None);
    }

    #[test]
    fn chinese_comes_first() {
        assert!(chinese_first("请求 5 不存在 / request 5 does not exist"));
        assert!(chinese_first(
            "9001 签到失败 / 9001 sign-in failed: timeout"
        ));
        assert!(chinese_first("签到信息无效或已过期，请重新签到"));
        assert!(chinese_first(""));
        assert!(!chinese_first("request 5 does not exist"));
        assert!(!chinese_first("request 5 does not exist / 请求 5 不存在"));
        assert_eq!(
            defect("cannot open the store").as_deref(),
            Some("not 中文 first")
        );
        assert_eq!(defect("数据库不可用 / the database is unavailable"), None);
    }

    #[test]
    fn list_items_may_share_their_wording() {
        let list = "入参校验未通过（3 处）/ input rejected (3 problem(s)): data.psn_no （人员编号）为必填项 / is required；data.mdtrt_id （就诊ID）为必填项 / is required；data.insutype （险种类型）为必填项 / is required";
        assert_eq!(repeated_passage(list), None);
        let status = "poll: 数据库不可用 / database unavailable: database is locked (1 秒前 / 1 s ago); write: 数据库不可用 / database unavailable: database is locked (0 秒前 / 0 s ago)";
        assert_eq!(repeated_passage(status), None);
        let twice = "请求 999999 不存在 / request 999999 does not exist\n请求 999999 不存在 / request 999999 does not exist";
        assert!(repeated_passage(twice).is_some());
        let item = "data.mdtrt_cert_no 格式错误（data.mdtrt_cert_type 为 02 时）/ is malformed (when data.mdtrt_cert_type is 02)";
        assert!(repeated_passage(item).is_some());
    }

    #[test]
    fn ids_codes_and_padding_do_not_count() {
        for ok in [
            "冲正未成功（冲正请求 123456 状态 UNCERTAIN）/ reversal not confirmed (request 123456 is UNCERTAIN)",
            "请求 98765 不存在 / request 98765 does not exist",
            "==================================================",
            "",
        ] {
            assert_eq!(repeated_passage(ok), None, "{ok}");
        }
    }
}
