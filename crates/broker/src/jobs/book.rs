//! Our side of a reconciliation, and what the platform's answer says about it: the day's
//! settlements as records (amounts in fen, never floats), and the differences — each line
//! of the platform's result, and a verdict for each UNCERTAIN request of the day.
//!
//! An UNCERTAIN verdict is what an operator acts on: `UNCERTAIN_NOT_APPLIED` invites
//! sending the settlement again, so it is given only when the platform's answer is complete
//! (every line understood), the request names its visit (or, for a cancellation, the
//! settlement it cancels), and it was not made in the day's last minutes (its settlement
//! may fall on the next day). Anything less certain is `UNCERTAIN_UNKNOWN`: verify by query.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use yibao_proto::RequestStatus;
use yibao_store::{ReconcileDiff, SettlementRow};

use super::catalog::text;

const CANCELS: &[&str] = &["2208", "2305"];
/// The longest memo kept per difference.
const MAX_MEMO: usize = 1000;
/// An UNCERTAIN request made this late in the day may have settled on the next one.
const LATE: &str = "23:50";

/// One settlement (or cancellation) of ours.
#[derive(Debug, Clone)]
pub struct Record {
    pub request_id: i64,
    pub setl_id: String,
    pub mdtrt_id: String,
    pub psn_no: String,
    /// (insutype, clr_type); empty when a cancellation's settlement is not in the store.
    pub group: (String, String),
    pub refund: bool,
    /// medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay (a cancellation's negative).
    pub amounts: [i64; 4],
}

impl Record {
    /// What the record adds to a settlement count.
    pub fn count(&self) -> i64 {
        if self.refund {
            -1
        } else {
            1
        }
    }
}

/// medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay.
const AMOUNTS: [&str; 4] = [
    "medfee_sumamt",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
];

/// The day's settlements as we hold them.
#[derive(Debug, Default)]
pub struct Book {
    pub records: Vec<Record>,
    /// UNCERTAIN settlement requests made on the day.
    pub uncertain: Vec<SettlementRow>,
    /// Requests that repeat a settlement already counted (same setl_id and flag).
    pub duplicates: Vec<i64>,
    /// Requests of the day that could not be read (no setl_time, an amount that is not a
    /// 2-place decimal, a cancellation whose settlement is unknown): not in the totals.
    pub unreadable: Vec<i64>,
}

fn parse(s: Option<&str>) -> Value {
    s.and_then(|s| serde_json::from_str::<Value>(s).ok())
        .unwrap_or(Value::Null)
}

/// insutype and clr_type of every settlement held, by setl_id, for the cancellations of it.
fn groups_of(rows: &[SettlementRow]) -> HashMap<String, (String, String)> {
    let mut groups = HashMap::new();
    for row in rows.iter().filter(|r| r.status == RequestStatus::Completed) {
        if CANCELS.contains(&row.interface_code.as_str()) {
            continue;
        }
        let out = parse(row.response_data.as_deref());
        let s = &out["output"]["setlinfo"];
        let data = parse(Some(&row.input_data))["data"].clone();
        let field = |k: &str| text(s, k).or_else(|| text(&data, k)).unwrap_or_default();
        groups
            .entry(field("setl_id"))
            .or_insert_with(|| (field("insutype"), field("clr_type")));
    }
    groups
}

/// Our records of `day` (their `setl_time`), from the stored settlement requests.
pub fn ours(rows: &[SettlementRow], day: &str) -> Book {
    let mut book = Book::default();
    let groups = groups_of(rows);
    let mut seen = HashSet::new();
    for row in rows {
        // create_time is the store's local time; `day` is the platform's (Beijing).
        let created_on_day = row
            .create_time
            .as_deref()
            .is_some_and(|t| yibao_core::time::local_text_in_beijing(t).starts_with(day));
        if row.status == RequestStatus::Uncertain {
            if created_on_day {
                book.uncertain.push(row.clone());
            }
            continue;
        }
        let out = parse(row.response_data.as_deref());
        let s = &out["output"]["setlinfo"];
        let data = parse(Some(&row.input_data))["data"].clone();
        let refund = CANCELS.contains(&row.interface_code.as_str());
        let field = |k: &str| text(s, k).or_else(|| text(&data, k)).unwrap_or_default();
        let Some(setl_time) = text(s, "setl_time") else {
            if created_on_day {
                book.unreadable.push(row.request_id);
            }
            continue;
        };
        if !setl_time.starts_with(day) {
            continue;
        }
        // A cancellation is counted under the settlement it cancels.
        let setl_id = if refund {
            text(&data, "setl_id").unwrap_or_default()
        } else {
            field("setl_id")
        };
        let amounts: Option<Vec<i64>> = AMOUNTS
            .iter()
            .map(|k| s.get(*k).map_or(Some(0), cents))
            .collect();
        let group = groups.get(&setl_id).cloned().unwrap_or_default();
        let (Some(amounts), false) = (amounts, setl_id.is_empty()) else {
            book.unreadable.push(row.request_id);
            continue;
        };
        if !seen.insert((setl_id.clone(), refund)) {
            book.duplicates.push(row.request_id);
            continue;
        }
        if group.0.is_empty() {
            // Still in the detail file (the platform compares it); not in a group's total.
            book.unreadable.push(row.request_id);
        }
        let mut a = [0i64; 4];
        for (slot, v) in a.iter_mut().zip(amounts) {
            // A cancellation takes money back, whatever sign the platform wrote.
            *slot = if refund { -v.abs() } else { v };
        }
        book.records.push(Record {
            request_id: row.request_id,
            setl_id,
            mdtrt_id: field("mdtrt_id"),
            psn_no: field("psn_no"),
            group,
            refund,
            amounts: a,
        });
    }
    book
}

/// The platform's result: one line per settlement that differs,
/// `setl_id mdtrt_id psn_no stmt_rslt memo refd_setl_flag`.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub lines: Vec<Vec<String>>,
}

/// A line the platform holds and we do not, for the UNCERTAIN requests to claim.
struct PlatformOnly {
    mdtrt_id: Option<String>,
    psn_no: Option<String>,
    setl_id: Option<String>,
    refund: bool,
    taken: bool,
}

/// The platform's lines and our UNCERTAIN requests as difference rows.
pub fn differences(day: &str, verdict: &Verdict, book: &Book) -> Vec<ReconcileDiff> {
    let get = |l: &Vec<String>, i: usize| l.get(i).filter(|s| !s.is_empty()).cloned();
    let mut diffs = Vec::new();
    let mut platform_only = Vec::new();
    let mut complete = true;
    for l in &verdict.lines {
        let setl_id = get(l, 0);
        let flag = get(l, 5).unwrap_or_else(|| "0".into());
        let kind = match get(l, 3).as_deref() {
            Some("1") => "ONLY_OURS",
            Some("2") => "ONLY_PLATFORM",
            Some("3") => "AMOUNT_DIFFERS",
            _ => {
                complete = false;
                "OTHER"
            }
        };
        let ours = book
            .records
            .iter()
            .find(|r| Some(&r.setl_id) == setl_id.as_ref() && r.refund == (flag == "1"));
        if kind == "ONLY_PLATFORM" {
            platform_only.push(PlatformOnly {
                mdtrt_id: get(l, 1),
                psn_no: get(l, 2),
                setl_id: setl_id.clone(),
                refund: flag == "1",
                taken: false,
            });
        }
        diffs.push(ReconcileDiff {
            stmt_date: day.to_string(),
            kind: kind.to_string(),
            setl_id,
            mdtrt_id: get(l, 1),
            psn_no: get(l, 2),
            refd_setl_flag: Some(flag),
            memo: get(l, 4).map(|m| m.chars().take(MAX_MEMO).collect()),
            request_id: ours.map(|r| r.request_id),
        });
    }
    for u in &book.uncertain {
        diffs.push(uncertain_verdict(day, u, &mut platform_only, complete));
    }
    diffs
}

/// The evidence for one UNCERTAIN request: the platform-only line of its visit (or of the
/// settlement it cancels), used once.
fn uncertain_verdict(
    day: &str,
    u: &SettlementRow,
    platform_only: &mut [PlatformOnly],
    complete: bool,
) -> ReconcileDiff {
    let input: Value = serde_json::from_str(&u.input_data).unwrap_or(Value::Null);
    let data = &input["data"];
    let refund = CANCELS.contains(&u.interface_code.as_str());
    let (mdtrt_id, psn_no, target) = (
        text(data, "mdtrt_id"),
        text(data, "psn_no"),
        text(data, "setl_id"),
    );
    let key_known = if refund {
        target.is_some()
    } else {
        mdtrt_id.is_some()
    };
    let matches: Vec<usize> = platform_only
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.taken && p.refund == refund)
        .filter(|(_, p)| {
            if refund {
                target.is_some() && p.setl_id == target
            } else {
                mdtrt_id.is_some()
                    && p.mdtrt_id == mdtrt_id
                    && (psn_no.is_none() || p.psn_no.is_none() || p.psn_no == psn_no)
            }
        })
        .map(|(i, _)| i)
        .collect();
    let late = u
        .create_time
        .as_deref()
        .map(yibao_core::time::local_text_in_beijing)
        .is_none_or(|t| t.get(11..16).is_none_or(|hm| hm >= LATE));
    let id = u.request_id;
    let (kind, setl_id, memo) = match matches.as_slice() {
        [one] => {
            platform_only[*one].taken = true;
            (
                "UNCERTAIN_APPLIED",
                platform_only[*one].setl_id.clone(),
                format!("平台有此笔而本地没有：请求 {id} 已生效，不要重发 / the platform holds it and we do not: request {id} took effect, do not send it again"),
            )
        }
        [] if complete && key_known && !late => (
            "UNCERTAIN_NOT_APPLIED",
            None,
            format!("平台当天没有此笔：请求 {id} 未生效 / the platform holds none that day: request {id} did not take effect"),
        ),
        _ => (
            "UNCERTAIN_UNKNOWN",
            None,
            format!("无法从对账结果判断请求 {id} 是否生效，请向平台查询核实 / the result cannot tell whether request {id} took effect: verify it with a query"),
        ),
    };
    ReconcileDiff {
        stmt_date: day.to_string(),
        kind: kind.into(),
        setl_id: setl_id.or(if refund { target } else { None }),
        mdtrt_id,
        psn_no,
        refd_setl_flag: Some(if refund { "1" } else { "0" }.into()),
        memo: Some(memo),
        request_id: Some(id),
    }
}

/// An amount in fen from JSON (a decimal text or a number, at most 2 places).
pub fn cents(v: &Value) -> Option<i64> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, s),
    };
    let (int, dec) = s.split_once('.').unwrap_or((&s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 14 || !digits(int) || !digits(dec) {
        return None;
    }
    let (kept, rest) = dec.split_at(dec.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let v = int.parse::<i64>().ok()? * 100 + format!("{kept:0<2}").parse::<i64>().ok()?;
    Some(if neg { -v } else { v })
}

/// Fen as a decimal text with 2 places (`-12.05`).
pub fn fen(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(
        id: i64,
        code: &str,
        status: RequestStatus,
        input: Value,
        out: Value,
        at: &str,
    ) -> SettlementRow {
        SettlementRow {
            request_id: id,
            interface_code: code.into(),
            status,
            input_data: input.to_string(),
            response_data: Some(json!({"infcode": 0, "output": out}).to_string()),
            create_time: Some(local(at)),
        }
    }

    /// A Beijing time as the store writes it: in this machine's local time (the tests give
    /// times as the platform sees them, whatever zone the machine running them is in).
    fn local(beijing: &str) -> String {
        match yibao_core::time::parse_datetime(beijing) {
            Some(t) => t
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string(),
            None => beijing.to_string(),
        }
    }

    fn settled(id: i64, setl: &str, mdtrt: &str, at: &str) -> SettlementRow {
        row(
            id,
            "2207",
            RequestStatus::Completed,
            json!({"data": {"mdtrt_id": mdtrt, "psn_no": "P1", "insutype": "310"}}),
            json!({"setlinfo": {"setl_id": setl, "mdtrt_id": mdtrt, "psn_no": "P1", "insutype": "310",
                "clr_type": "11", "medfee_sumamt": 100.0, "fund_pay_sumamt": "70.00", "acct_pay": 15,
                "psn_cash_pay": "15.00", "setl_time": at}}),
            at,
        )
    }

    #[test]
    fn the_book_dedups_signs_cancellations_and_keeps_the_day() {
        let rows = vec![
            settled(1, "S1", "M1", "2026-11-20 09:00:00"),
            settled(2, "S2", "M2", "2026-12-01 09:00:00"),
            settled(3, "S2", "M2", "2026-12-01 09:00:05"), // the same settlement again
            row(
                4,
                "2208",
                RequestStatus::Completed,
                json!({"data": {"setl_id": "S1", "mdtrt_id": "M1"}}),
                json!({"setlinfo": {"setl_id": "C1", "medfee_sumamt": "100.00", "setl_time": "2026-12-01 10:00:00"}}),
                "2026-12-01 10:00:00",
            ),
            row(
                5,
                "2207",
                RequestStatus::Uncertain,
                json!({"data": {"mdtrt_id": "M5"}}),
                Value::Null,
                "2026-12-01 11:00:00",
            ),
            row(
                6,
                "2207",
                RequestStatus::Uncertain,
                json!({"data": {"mdtrt_id": "M6"}}),
                Value::Null,
                "2026-12-02 06:30:00",
            ),
        ];
        let book = ours(&rows, "2026-12-01");
        assert_eq!(book.duplicates, vec![3]);
        assert_eq!(book.records.len(), 2);
        let cancel = book.records.iter().find(|r| r.refund).unwrap();
        assert_eq!(cancel.setl_id, "S1", "keyed by the settlement it cancels");
        assert_eq!(
            cancel.group,
            ("310".into(), "11".into()),
            "from a settlement weeks before"
        );
        assert_eq!(
            cancel.amounts[0], -10_000,
            "negative whatever the reply's sign"
        );
        assert_eq!(book.uncertain.len(), 1, "only the day's UNCERTAIN requests");
        assert_eq!(book.uncertain[0].request_id, 5);
    }

    #[test]
    fn an_uncertain_request_is_not_applied_only_on_complete_evidence() {
        let u = |id, mdtrt: &str, at: &str| {
            row(
                id,
                "2207",
                RequestStatus::Uncertain,
                json!({"data": {"mdtrt_id": mdtrt, "psn_no": "P1"}}),
                Value::Null,
                at,
            )
        };
        let book = Book {
            uncertain: vec![
                u(7, "M7", "2026-12-01 10:00:00"),
                u(8, "M8", "2026-12-01 10:00:00"),
                u(9, "M9", "2026-12-01 23:55:00"),
                row(
                    10,
                    "2208",
                    RequestStatus::Uncertain,
                    json!({"data": {"setl_id": "S4", "mdtrt_id": "M7"}}),
                    Value::Null,
                    "2026-12-01 12:00:00",
                ),
            ],
            ..Book::default()
        };
        let line = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let verdict = Verdict {
            lines: vec![
                line(&["S7", "M7", "P1", "2", "", "0"]),
                // A cancellation of the same visit must not vouch for the settlement.
                line(&["S4", "M7", "P1", "2", "", "1"]),
            ],
        };
        let d = differences("2026-12-01", &verdict, &book);
        let kind = |id: i64| {
            d.iter()
                .find(|x| x.request_id == Some(id))
                .unwrap()
                .kind
                .clone()
        };
        assert_eq!(kind(7), "UNCERTAIN_APPLIED");
        assert_eq!(kind(8), "UNCERTAIN_NOT_APPLIED");
        assert_eq!(
            kind(9),
            "UNCERTAIN_UNKNOWN",
            "made in the day's last minutes"
        );
        assert_eq!(
            kind(10),
            "UNCERTAIN_APPLIED",
            "the cancellation of S4 took effect"
        );
        // A line the broker cannot read makes every "not applied" unknown.
        let odd = Verdict {
            lines: vec![line(&["S7", "M7", "P1", "000001", "", "0"])],
        };
        let d = differences("2026-12-01", &odd, &book);
        assert!(d.iter().all(|x| x.kind != "UNCERTAIN_NOT_APPLIED"), "{d:?}");
    }
}
