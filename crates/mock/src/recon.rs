//! 对账: 3201 医药机构费用结算对总账 and 3202 医药机构费用结算对明细账, answered from the
//! settlements the simulator applied (its book, see `ledger`, with any planted
//! disagreement). Dates are the settlements' `setl_time` dates (Beijing time), the period
//! `[stmt_begndate, stmt_enddate]` includes both ends, and amounts are compared as decimals
//! with 2 places.
//!
//! **3201** `input.data`: `insutype`, `clr_type`, `setl_optins`, `stmt_begndate`,
//! `stmt_enddate`, `medfee_sumamt`, `fund_pay_sumamt`, `acct_pay`, `fixmedins_setl_cnt`
//! (other fields, e.g. `cash_payamt` or `refd_setl_flag`, are accepted and ignored). The
//! platform sums the records of the period with that `insutype` and that `clr_type` (a
//! record without one matches any): a settlement adds its amounts and 1, a cancellation
//! its negated amounts and −1. `setl_optins` is echoed, not filtered on. Answer:
//! `{"stmtinfo": {"setl_optins", "stmt_rslt": "0" 平 | "1" 不平, "stmt_rslt_dscr"}}`, the
//! description naming each total that differs with both values (Chinese, then English).
//!
//! **3202** `input.data`: `file_qury_no` (of a file uploaded with 9101), `setl_optins`,
//! `stmt_begndate`, `stmt_enddate` and the totals (the catalog checks their format; the
//! lines are compared, not the totals). The file is a ZIP (every entry is read) or plain text, UTF-8, one settlement per line,
//! tab-separated, no header:
//! `setl_id  mdtrt_id  psn_no  medfee_sumamt  fund_pay_sumamt  acct_pay  refd_setl_flag`
//! (more columns, e.g. `exp_content`, are ignored; "null" is an empty value). A cancellation
//! is a line with `refd_setl_flag` "1" and negated amounts, under the cancelled
//! settlement's `setl_id` or the one the 2208/2305 reply carried. Lines are matched by
//! (`setl_id`, `refd_setl_flag`) with the period's records (every `insutype`). A line that
//! cannot be read is a business error naming its line number.
//!
//! The answer is `{"fileinfo": {"file_qury_no", "filename", "dld_endtime"}}`, the result
//! fetched with 9102: a ZIP holding `<file_qury_no>.txt`, UTF-8, one line per settlement
//! that differs (none when all agree), tab-separated:
//! `setl_id  mdtrt_id  psn_no  stmt_rslt  memo  refd_setl_flag`, where `stmt_rslt` is
//! "1" 医药机构有、中心无 (only in the file), "2" 中心有、医药机构无 (only on the platform) or
//! "3" 金额不符 (the memo names each amount with both values). This layout (the upload's
//! and the result's) is the simulator's contract: it follows the upload layout public HIS
//! integrations use; provinces' result files carry more columns.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};
use yibao_core::RequestEnvelope;

use crate::checks::required;
use crate::files;
use crate::ledger::{amount_value, fmt_cents, parse_cents, parse_date, Amounts, Entry};
use crate::state::{lock, MockState};

/// The most text a detail file may unpack to (a ZIP bomb is refused, not unpacked).
const MAX_TEXT: u64 = 64 * 1024 * 1024;

/// The records of `[begin, end]`, as the platform sees them.
fn period(state: &MockState, d: &Map<String, Value>) -> Result<Vec<Entry>, String> {
    let date = |k: &str| {
        let s = d.get(k).and_then(Value::as_str).unwrap_or_default();
        parse_date(s).ok_or(format!("{k} {s} 应为 yyyy-MM-dd 日期"))
    };
    let (begin, end) = (date("stmt_begndate")?, date("stmt_enddate")?);
    if begin > end {
        return Err(format!(
            "对账开始日期 {begin} 晚于结束日期 {end} / stmt_begndate is after stmt_enddate"
        ));
    }
    let within = |day: NaiveDate| begin <= day && day <= end;
    Ok(lock(&state.ledger)
        .view()
        .into_iter()
        .filter(|e| within(e.date))
        .collect())
}

fn str_of<'a>(d: &'a Map<String, Value>, k: &str) -> &'a str {
    d.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn declared_amount(d: &Map<String, Value>, k: &str) -> Result<i64, String> {
    d.get(k)
        .and_then(amount_value)
        .ok_or(format!("{k} 金额格式错误，应为最多两位小数的数字"))
}

/// 3201 医药机构费用结算对总账.
pub fn total(state: &MockState, e: &RequestEnvelope) -> Result<Value, String> {
    let d = required(
        &e.input,
        "data",
        &[
            "insutype",
            "clr_type",
            "setl_optins",
            "stmt_begndate",
            "stmt_enddate",
            "medfee_sumamt",
            "fund_pay_sumamt",
            "acct_pay",
            "fixmedins_setl_cnt",
        ],
    )?;
    let declared = [
        declared_amount(d, "medfee_sumamt")?,
        declared_amount(d, "fund_pay_sumamt")?,
        declared_amount(d, "acct_pay")?,
    ];
    let count = match d.get("fixmedins_setl_cnt") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or("fixmedins_setl_cnt 应为整数")?;
    let (insutype, clr_type) = (str_of(d, "insutype"), str_of(d, "clr_type"));
    let mut sum = Amounts::default();
    let mut n = 0i64;
    for r in period(state, d)? {
        if r.insutype == insutype && r.clr_type.as_deref().is_none_or(|c| c == clr_type) {
            sum.add(r.amounts);
            n += if r.refund { -1 } else { 1 };
        }
    }
    let held = [sum.medfee, sum.fund, sum.acct];
    let names = [
        ("医疗费总额", "medfee_sumamt"),
        ("基金支付总额", "fund_pay_sumamt"),
        ("个人账户支付金额", "acct_pay"),
    ];
    let mut zh = Vec::new();
    let mut en = Vec::new();
    for (((cn, key), ours), theirs) in names.iter().zip(declared).zip(held) {
        if ours != theirs {
            let (a, b) = (fmt_cents(ours), fmt_cents(theirs));
            zh.push(format!("{cn}不符：医药机构 {a}，中心 {b}"));
            en.push(format!("{key} differs: institution {a}, platform {b}"));
        }
    }
    if count != n {
        zh.push(format!("结算笔数不符：医药机构 {count}，中心 {n}"));
        en.push(format!(
            "fixmedins_setl_cnt differs: institution {count}, platform {n}"
        ));
    }
    let (rslt, dscr) = if zh.is_empty() {
        ("0", "平 / balanced".to_string())
    } else {
        ("1", format!("不平：{} / {}", zh.join("；"), en.join("; ")))
    };
    Ok(json!({ "stmtinfo": {
        "setl_optins": str_of(d, "setl_optins"),
        "stmt_rslt": rslt,
        "stmt_rslt_dscr": dscr,
    }}))
}

/// One line of an uploaded detail file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    setl_id: String,
    mdtrt_id: String,
    psn_no: String,
    refund: bool,
    amounts: Amounts,
}

/// 3202 医药机构费用结算对明细账.
pub fn detail(state: &MockState, e: &RequestEnvelope) -> Result<Value, String> {
    let d = required(
        &e.input,
        "data",
        &[
            "file_qury_no",
            "setl_optins",
            "stmt_begndate",
            "stmt_enddate",
            "medfee_sumamt",
            "fund_pay_sumamt",
            "fixmedins_setl_cnt",
        ],
    )?;
    let no = str_of(d, "file_qury_no");
    let file = lock(&state.files)
        .get(no)
        .ok_or(format!("文件查询号[{no}]对应的文件不存在或已过期"))?;
    if file.infno != "9101" {
        return Err(format!("文件查询号[{no}]不是经 9101 上传的对账明细文件"));
    }
    let records = period(state, d)?;
    let lines = read_lines(&file.bytes)?;
    let text = compare(&lines, &records);
    let result_no = files::next_no(state);
    let zipped = files::zip_one(&format!("{result_no}.txt"), text.as_bytes())?;
    let filename = format!("{result_no}.zip");
    Ok(json!({ "fileinfo": files::keep(state, result_no, "3202", &filename, zipped) }))
}

/// The lines of a detail file (ZIP or plain text), each with where it came from.
fn read_lines(bytes: &[u8]) -> Result<Vec<Line>, String> {
    let mut texts = Vec::new();
    if bytes.starts_with(b"PK\x03\x04") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("明细文件不是可读的ZIP：{e}"))?;
        let mut budget = MAX_TEXT;
        for i in 0..archive.len() {
            let entry = archive
                .by_index(i)
                .map_err(|e| format!("明细文件ZIP第{}个条目无法读取：{e}", i + 1))?;
            if entry.is_dir() {
                continue;
            }
            let name = entry
                .name()
                .map_or_else(|_| format!("#{}", i + 1), |n| n.to_string());
            let mut raw = Vec::new();
            entry
                .take(budget + 1)
                .read_to_end(&mut raw)
                .map_err(|e| format!("明细文件 {name} 解压失败：{e}"))?;
            if raw.len() as u64 > budget {
                return Err(format!("明细文件解压后超过 {MAX_TEXT} 字节"));
            }
            budget -= raw.len() as u64;
            texts.push((format!("明细文件 {name} "), raw));
        }
    } else {
        texts.push(("明细文件".to_string(), bytes.to_vec()));
    }
    let mut lines = Vec::new();
    for (label, raw) in texts {
        let text = String::from_utf8(raw).map_err(|_| format!("{label}不是UTF-8编码"))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            lines.push(parse_line(line).map_err(|why| format!("{label}第{}行：{why}", i + 1))?);
        }
    }
    let mut seen = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(first) = seen.insert((&l.setl_id, l.refund), i) {
            return Err(format!(
                "明细文件中结算ID {}（退费标志 {}）出现两次（第{}条与第{}条） / setl_id listed twice",
                l.setl_id,
                u8::from(l.refund),
                first + 1,
                i + 1
            ));
        }
    }
    Ok(lines)
}

/// One tab-separated line; `Err` says what is wrong with it.
fn parse_line(line: &str) -> Result<Line, String> {
    let cells: Vec<&str> = line
        .split('\t')
        .map(|c| match c.trim() {
            "null" | "NULL" => "",
            c => c,
        })
        .collect();
    if cells.len() < 7 {
        return Err(format!(
            "应有7列（制表符分隔），实有{}列 / expected 7 tab-separated columns",
            cells.len()
        ));
    }
    if cells[0].is_empty() {
        return Err("结算ID为空 / setl_id is empty".into());
    }
    let amount = |i: usize, name: &str| {
        parse_cents(cells[i]).ok_or(format!(
            "{name} [{}] 不是最多两位小数的金额 / not an amount",
            cells[i]
        ))
    };
    let refund = match cells[6].parse::<u32>() {
        Ok(0) => false,
        Ok(1) => true,
        _ => {
            return Err(format!(
                "退费结算标志 [{}] 应为 0 或 1 / refd_setl_flag must be 0 or 1",
                cells[6]
            ))
        }
    };
    Ok(Line {
        setl_id: cells[0].to_string(),
        mdtrt_id: cells[1].to_string(),
        psn_no: cells[2].to_string(),
        refund,
        amounts: Amounts {
            medfee: amount(3, "medfee_sumamt")?,
            fund: amount(4, "fund_pay_sumamt")?,
            acct: amount(5, "acct_pay")?,
            cash: 0,
        },
    })
}

/// The result file's text: one line per settlement that differs, in the file's order, then
/// the platform's.
fn compare(lines: &[Line], records: &[Entry]) -> String {
    // A cancellation may be named by the setl_id its own reply carried.
    let alias: BTreeMap<&str, &str> = records
        .iter()
        .filter_map(|r| Some((r.cancel_setl_id.as_deref()?, r.setl_id.as_str())))
        .collect();
    let mut platform: BTreeMap<(&str, bool), &Entry> = BTreeMap::new();
    let mut order = Vec::new();
    for r in records {
        if platform.insert((r.setl_id.as_str(), r.refund), r).is_none() {
            order.push((r.setl_id.as_str(), r.refund));
        }
    }
    let mut out = String::new();
    let mut row = |id: &str, mdtrt: &str, psn: &str, rslt: &str, memo: &str, refund: bool| {
        let flag = if refund { "1" } else { "0" };
        out.push_str(&format!("{id}\t{mdtrt}\t{psn}\t{rslt}\t{memo}\t{flag}\n"));
    };
    let mut matched = std::collections::BTreeSet::new();
    for l in lines {
        let id = match alias.get(l.setl_id.as_str()) {
            Some(orig) if l.refund => orig,
            _ => l.setl_id.as_str(),
        };
        let Some(r) = platform.get(&(id, l.refund)) else {
            let memo = "医药机构有、中心无 / only in the institution's file";
            row(&l.setl_id, &l.mdtrt_id, &l.psn_no, "1", memo, l.refund);
            continue;
        };
        matched.insert((id, l.refund));
        let mut zh = Vec::new();
        let mut en = Vec::new();
        for ((name, ours), (_, theirs)) in l.amounts.named().iter().zip(r.amounts.named()).take(3) {
            if *ours != theirs {
                let (a, b) = (fmt_cents(*ours), fmt_cents(theirs));
                zh.push(format!("{name} 医药机构 {a} 中心 {b}"));
                en.push(format!("{name} institution {a} platform {b}"));
            }
        }
        if !zh.is_empty() {
            let memo = format!(
                "金额不符：{} / amounts differ: {}",
                zh.join("，"),
                en.join(", ")
            );
            row(&l.setl_id, &l.mdtrt_id, &l.psn_no, "3", &memo, l.refund);
        }
    }
    for key in order {
        if matched.contains(&key) {
            continue;
        }
        if let Some(r) = platform.get(&key) {
            let memo = "中心有、医药机构无 / only on the platform";
            row(&r.setl_id, &r.mdtrt_id, &r.psn_no, "2", memo, r.refund);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::today;

    fn record(id: &str, medfee: i64, refund: bool) -> Entry {
        Entry {
            infno: "2207".into(),
            setl_id: id.into(),
            cancel_setl_id: refund.then(|| format!("C{id}")),
            mdtrt_id: "M".into(),
            psn_no: "P".into(),
            insutype: "310".into(),
            clr_type: None,
            refund,
            date: today(),
            amounts: Amounts {
                medfee,
                fund: 0,
                acct: 0,
                cash: 0,
            },
        }
    }

    #[test]
    fn lines_are_read_strictly_and_named_by_number() {
        let ok = "S1\tM1\tP1\t100.00\t70\t15.00\t0\tnull\r\n\nS1\tM1\tP1\t-100\t-70\t-15\t001\n";
        let lines = read_lines(ok.as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].amounts.fund, 7000);
        assert!(lines[1].refund && lines[1].amounts.medfee == -10000);
        let zipped = files::zip_one("d.txt", ok.as_bytes()).unwrap();
        assert_eq!(read_lines(&zipped).unwrap(), lines);
        for (bad, needle) in [
            (
                "S1\tM1\tP1\t1\t1\t1\t0\nS2\tM\tP\t1.234\t0\t0\t0\n",
                "第2行",
            ),
            ("S1\tM1\tP1\t1\t1\t1\n", "第1行"),
            ("\tM1\tP1\t1\t1\t1\t0\n", "结算ID为空"),
            ("S1\tM1\tP1\t1\t1\t1\t2\n", "退费结算标志"),
            ("S1\tM\tP\t1\t1\t1\t0\nS1\tM\tP\t1\t1\t1\t0\n", "两次"),
        ] {
            let err = read_lines(bad.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
        assert!(read_lines(&[0xff, 0xfe, b'\n'])
            .unwrap_err()
            .contains("UTF-8"));
        assert!(read_lines(b"PK\x03\x04broken").is_err());
    }

    #[test]
    fn compare_names_each_kind_of_difference() {
        let lines =
            read_lines("A\tM\tP\t1.00\t0\t0\t0\nB\tM\tP\t2.00\t0\t0\t0\nCB\tM\tP\t-5\t0\t0\t1\nH\tM\tP\t1\t0\t0\t0\n".as_bytes())
                .unwrap();
        let records = [
            record("A", 100, false),
            record("B", 250, false),
            record("B", -500, true),
            record("Z", 900, false),
        ];
        let text = compare(&lines, &records);
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert_eq!(rows[0][..4], ["B", "M", "P", "3"]);
        assert!(
            rows[0][4].contains("medfee_sumamt 医药机构 2.00 中心 2.50"),
            "{text}"
        );
        assert_eq!(rows[1][..4], ["H", "M", "P", "1"]);
        assert_eq!(rows[2][..4], ["Z", "M", "P", "2"]);
        assert!(compare(&lines[..1], &records[..1]).is_empty());
    }
}
