//! `reconcile`: 对账 of one day, from the settlements this store holds.
//!
//! 1. Our side: the day's COMPLETED settlements (2207, 2207A, 2304; `setlinfo.setl_time` on
//!    the day) and cancellations (2208, 2305, counted negative under the cancelled
//!    settlement's `setl_id`, in its insutype and clr_type), summed per insutype and
//!    clr_type; UNCERTAIN settlement requests kept aside.
//! 2. 3201 per group. When a group does not balance, or an UNCERTAIN request exists (its
//!    fate is what the platform's detail can show), the detail: one line per settlement
//!    (`setl_id mdtrt_id psn_no medfee_sumamt fund_pay_sumamt acct_pay refd_setl_flag`)
//!    uploaded with 9101, 3202 with its `file_qury_no`, and the platform's result file
//!    downloaded with 9102 (`setl_id mdtrt_id psn_no stmt_rslt memo refd_setl_flag`).
//! 3. Each difference becomes a row of `medical_insurance_reconcile_diffs`: `ONLY_OURS`
//!    (1 医药机构有、中心无), `ONLY_PLATFORM` (2 中心有、医药机构无), `AMOUNT_DIFFERS` (3), and
//!    for each UNCERTAIN request `UNCERTAIN_APPLIED` (the platform holds a settlement of its
//!    mdtrt_id we do not) or `UNCERTAIN_NOT_APPLIED` (it holds none) — the evidence an
//!    operator needs to resolve it.
//!
//! Every step is a request like any other and read-only on the platform's books, so a job
//! taken over runs again from the start; its differences replace the earlier run's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value};
use yibao_proto::RequestStatus;
use yibao_store::{JobView, ReconcileDiff, SettlementRow};

use super::catalog::{entry_path, step, text};
use super::{Ending, Jobs};

pub const KIND: &str = "reconcile";

const CANCELS: &[&str] = &["2208", "2305"];
/// The longest memo kept per difference.
const MAX_MEMO: usize = 1000;

/// `{"date": "2026-12-01", "setl_optins": "430100"}` (`setl_optins` defaults to the
/// institution's `mdtrtarea_admvs`; `detail: true` asks for 3202 even when balanced).
/// `date` may also be `yesterday` or `today`, counted from the job's schedule slot (so a
/// job taken over after midnight still reconciles its own day), else from now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub date: Day,
    pub setl_optins: Option<String>,
    pub detail: bool,
}

/// The day a reconciliation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    On(NaiveDate),
    /// Days before the job's slot (or today): 0 today, 1 yesterday.
    Before(i64),
}

impl Day {
    fn resolve(self, job: &JobView) -> NaiveDate {
        match self {
            Day::On(d) => d,
            Day::Before(n) => {
                let base = job
                    .slot
                    .as_deref()
                    .and_then(|s| s.get(..10))
                    .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                    .unwrap_or_else(|| yibao_core::time::now().date_naive());
                base - chrono::Duration::days(n)
            }
        }
    }
}

impl Params {
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let date = match v.get("date").and_then(Value::as_str).map(str::trim) {
            Some("yesterday") => Day::Before(1),
            Some("today") => Day::Before(0),
            Some(s) => Day::On(NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                "对账日期 date 应为 yyyy-MM-dd、yesterday 或 today / date must be yyyy-MM-dd, yesterday or today".to_string()
            })?),
            None => return Err("缺少对账日期 date / missing date".into()),
        };
        let setl_optins = match v.get("setl_optins") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) => {
                Some(s.clone())
            }
            Some(_) => {
                return Err("结算经办机构 setl_optins 应为 6 位区划代码 / setl_optins must be a 6-digit area code".into())
            }
        };
        let detail = v.get("detail").and_then(Value::as_bool).unwrap_or(false);
        Ok(Self {
            date,
            setl_optins,
            detail,
        })
    }
}

/// One settlement (or cancellation) of ours, amounts in fen.
#[derive(Debug, Clone)]
struct Record {
    request_id: i64,
    setl_id: String,
    mdtrt_id: String,
    psn_no: String,
    group: (String, String),
    refund: bool,
    amounts: [i64; 4],
}

/// medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay.
const AMOUNTS: [&str; 4] = [
    "medfee_sumamt",
    "fund_pay_sumamt",
    "acct_pay",
    "psn_cash_pay",
];

pub async fn run(jobs: &Arc<Jobs>, job: &JobView, params: &Value) -> Ending {
    let p = Params::from_json(params)?;
    let date = p.date.resolve(job);
    let day = date.format("%Y-%m-%d").to_string();
    let around = |d: i64| {
        (date + chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let queue = &jobs.worker.queue;
    let (from, to) = (around(-1), around(2));
    let rows = queue
        .durably("settlements", || queue.store.settlements(&from, &to))
        .await
        .map_err(|e| e.to_string())?;
    let (records, uncertain) = ours(&rows, &day);
    let setl_optins = p
        .setl_optins
        .clone()
        .unwrap_or_else(|| jobs.setl_optins.clone());

    let mut groups: BTreeMap<(String, String), ([i64; 4], i64)> = BTreeMap::new();
    for r in &records {
        let g = groups.entry(r.group.clone()).or_default();
        for (sum, v) in g.0.iter_mut().zip(r.amounts) {
            *sum += v;
        }
        g.1 += if r.refund { -1 } else { 1 };
    }
    let mut totals = Vec::new();
    let mut balanced = true;
    for ((insutype, clr_type), (a, count)) in &groups {
        let input = json!({"data": {
            "insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
            "stmt_begndate": day, "stmt_enddate": day,
            "medfee_sumamt": fen(a[0]), "fund_pay_sumamt": fen(a[1]), "acct_pay": fen(a[2]),
            "fixmedins_setl_cnt": count.to_string(),
        }});
        let (id, answer) = step(jobs, "3201", input).await?;
        let info = &answer["output"]["stmtinfo"];
        let ok = text(info, "stmt_rslt").as_deref() == Some("0");
        balanced &= ok;
        totals.push(json!({
            "insutype": insutype, "clr_type": clr_type, "count": count,
            "medfee_sumamt": fen(a[0]), "fund_pay_sumamt": fen(a[1]), "acct_pay": fen(a[2]),
            "balanced": ok, "request_id": id, "stmt_rslt_dscr": text(info, "stmt_rslt_dscr"),
        }));
    }
    let mut result = json!({
        "date": day, "settlements": records.len(), "uncertain": uncertain.len(),
        "balanced": balanced, "groups": totals,
    });
    if balanced && uncertain.is_empty() && !p.detail {
        queue
            .durably("reconcile diffs", || {
                queue.store.record_diffs(job.job_id, Vec::new())
            })
            .await
            .map_err(|e| e.to_string())?;
        result["differences"] = json!(0);
        return Ok(result);
    }
    let (detail, lines) = detail(jobs, job, date, &setl_optins, &records).await?;
    let diffs = differences(&day, &lines, &records, &uncertain);
    let n = diffs.len();
    queue
        .durably("reconcile diffs", || {
            queue.store.record_diffs(job.job_id, diffs.clone())
        })
        .await
        .map_err(|e| e.to_string())?;
    result["detail"] = detail;
    result["differences"] = json!(n);
    Ok(result)
}

/// Our records of `day` and the UNCERTAIN settlement requests around it.
fn ours(rows: &[SettlementRow], day: &str) -> (Vec<Record>, Vec<SettlementRow>) {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    // insutype and clr_type of every settlement we hold, for the cancellations of it.
    let mut groups: HashMap<String, (String, String)> = HashMap::new();
    let mut records = Vec::new();
    let mut uncertain = Vec::new();
    for row in rows {
        if row.status == RequestStatus::Uncertain {
            uncertain.push(row.clone());
            continue;
        }
        let input = parse(&row.input_data);
        let data = &input["data"];
        let out = parse(row.response_data.as_deref().unwrap_or("null"));
        let s = &out["output"]["setlinfo"];
        let refund = CANCELS.contains(&row.interface_code.as_str());
        let field = |k: &str| text(s, k).or_else(|| text(data, k)).unwrap_or_default();
        let setl_id = if refund {
            // Counted under the settlement it cancels.
            text(data, "setl_id").unwrap_or_default()
        } else {
            field("setl_id")
        };
        if setl_id.is_empty() {
            continue;
        }
        let group = if refund {
            groups.get(&setl_id).cloned().unwrap_or_default()
        } else {
            let g = (field("insutype"), field("clr_type"));
            groups.insert(setl_id.clone(), g.clone());
            g
        };
        let on_day = text(s, "setl_time").is_some_and(|t| t.starts_with(day));
        if !on_day || group.0.is_empty() {
            continue;
        }
        records.push(Record {
            request_id: row.request_id,
            setl_id,
            mdtrt_id: field("mdtrt_id"),
            psn_no: field("psn_no"),
            group,
            refund,
            amounts: AMOUNTS.map(|k| s.get(k).and_then(cents).unwrap_or(0)),
        });
    }
    (records, uncertain)
}

/// 9101 of our detail file, 3202, 9102 of the platform's result; the result's lines.
async fn detail(
    jobs: &Arc<Jobs>,
    job: &JobView,
    date: NaiveDate,
    setl_optins: &str,
    records: &[Record],
) -> Result<(Value, Vec<Vec<String>>), String> {
    let day = date.format("%Y-%m-%d").to_string();
    let mut text_out = String::new();
    let mut sums = [0i64; 4];
    let mut count = 0i64;
    for r in records {
        let [medfee, fund, acct, _] = r.amounts;
        text_out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            r.setl_id,
            r.mdtrt_id,
            r.psn_no,
            fen(medfee),
            fen(fund),
            fen(acct),
            if r.refund { "1" } else { "0" }
        ));
        for (s, v) in sums.iter_mut().zip(r.amounts) {
            *s += v;
        }
        count += if r.refund { -1 } else { 1 };
    }
    let dir = jobs
        .worker
        .files
        .dir
        .join("reconcile")
        .join(job.job_id.to_string());
    let path = std::path::absolute(dir.join(format!("{}.txt", date.format("%Y%m%d"))))
        .map_err(|e| format!("无法确定明细文件路径 / cannot place the detail file: {e}"))?;
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&path, text_out.as_bytes()).await
    };
    written.await.map_err(|e| {
        format!(
            "无法写入对账明细文件 / cannot write the detail file {}: {e}",
            path.display()
        )
    })?;
    let upload = json!({"fsUploadIn": {
        "file_path": path.to_string_lossy(), "zip": true, "fixmedins_code": jobs.fixmedins_code,
    }});
    let (upload_id, up) = step(jobs, "9101", upload).await?;
    let no = text(&up["output"], "file_qury_no").ok_or_else(|| {
        format!("9101 的应答没有 file_qury_no / no file_qury_no in the 9101 answer (request {upload_id})")
    })?;
    let input = json!({"data": {
        "setl_optins": setl_optins, "file_qury_no": no,
        "stmt_begndate": day, "stmt_enddate": day,
        "medfee_sumamt": fen(sums[0]), "fund_pay_sumamt": fen(sums[1]),
        "cash_payamt": fen(sums[3]), "fixmedins_setl_cnt": count.to_string(),
    }});
    let (check_id, checked) = step(jobs, "3202", input).await?;
    let info = &checked["output"]["fileinfo"];
    let result_no = text(info, "file_qury_no").ok_or_else(|| {
        format!("3202 的应答没有 fileinfo.file_qury_no / no fileinfo.file_qury_no in the 3202 answer (request {check_id})")
    })?;
    let download = json!({"fsDownloadIn": {
        "file_qury_no": result_no,
        "filename": text(info, "filename").unwrap_or_else(|| "plc".into()),
        "fixmedins_code": jobs.fixmedins_code,
    }});
    let (download_id, file) = step(jobs, "9102", download).await?;
    let lines = match entry_path(&file["output"]) {
        Some(path) => tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("无法读取对账结果文件 / cannot read the result file {path}: {e}"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('\t').map(|f| f.trim().to_string()).collect())
            .collect(),
        // A result zip holding nothing: no differences.
        None => Vec::new(),
    };
    let detail = json!({
        "file": path.to_string_lossy(), "upload_request": upload_id, "request_3202": check_id,
        "download_request": download_id, "lines": records.len(),
    });
    Ok((detail, lines))
}

/// The platform's result lines and our UNCERTAIN requests as difference rows.
fn differences(
    day: &str,
    lines: &[Vec<String>],
    records: &[Record],
    uncertain: &[SettlementRow],
) -> Vec<ReconcileDiff> {
    let get = |l: &Vec<String>, i: usize| l.get(i).filter(|s| !s.is_empty()).cloned();
    let mut diffs = Vec::new();
    let mut platform_only_mdtrt: HashMap<String, usize> = HashMap::new();
    for l in lines {
        let setl_id = get(l, 0);
        let flag = get(l, 5).unwrap_or_else(|| "0".into());
        let kind = match get(l, 3).as_deref() {
            Some("1") => "ONLY_OURS",
            Some("2") => "ONLY_PLATFORM",
            Some("3") => "AMOUNT_DIFFERS",
            _ => "OTHER",
        };
        let ours = records
            .iter()
            .find(|r| Some(&r.setl_id) == setl_id.as_ref() && (r.refund == (flag == "1")));
        if kind == "ONLY_PLATFORM" {
            if let Some(m) = get(l, 1) {
                platform_only_mdtrt.insert(m, diffs.len());
            }
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
    for u in uncertain {
        let input: Value = serde_json::from_str(&u.input_data).unwrap_or(Value::Null);
        let mdtrt_id = text(&input["data"], "mdtrt_id");
        let psn_no = text(&input["data"], "psn_no");
        let held = mdtrt_id
            .as_ref()
            .and_then(|m| platform_only_mdtrt.get(m))
            .map(|&i| diffs[i].clone());
        diffs.push(ReconcileDiff {
            stmt_date: day.to_string(),
            kind: if held.is_some() {
                "UNCERTAIN_APPLIED"
            } else {
                "UNCERTAIN_NOT_APPLIED"
            }
            .into(),
            setl_id: held.as_ref().and_then(|d| d.setl_id.clone()),
            mdtrt_id,
            psn_no,
            refd_setl_flag: Some(if CANCELS.contains(&u.interface_code.as_str()) { "1" } else { "0" }.into()),
            memo: Some(match held {
                Some(_) => format!(
                    "平台有此就诊的结算，本地请求 {} 为 UNCERTAIN：已生效 / the platform holds a settlement of this visit: request {} took effect",
                    u.request_id, u.request_id
                ),
                None => format!(
                    "平台没有此就诊的结算：本地请求 {} 未生效 / the platform holds none: request {} did not take effect",
                    u.request_id, u.request_id
                ),
            }),
            request_id: Some(u.request_id),
        });
    }
    diffs
}

/// An amount in fen from JSON (a decimal text or a number, at most 2 places).
fn cents(v: &Value) -> Option<i64> {
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
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !dec.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (kept, rest) = dec.split_at(dec.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let v =
        int.parse::<i64>().ok()?.checked_mul(100)? + format!("{kept:0<2}").parse::<i64>().ok()?;
    Some(if neg { -v } else { v })
}

/// Fen as a decimal text with 2 places (`-12.05`).
fn fen(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_fen_both_ways() {
        assert_eq!(cents(&json!("12.3")), Some(1230));
        assert_eq!(cents(&json!(70.0)), Some(7000));
        assert_eq!(cents(&json!("-0.05")), Some(-5));
        assert_eq!(cents(&json!("1.234")), None);
        assert_eq!(cents(&json!("x")), None);
        assert_eq!(fen(-1205), "-12.05");
        assert_eq!(fen(7), "0.07");
    }

    #[test]
    fn params_are_checked() {
        assert!(Params::from_json(&json!({"date": "2026-12-01"})).is_ok());
        let p = Params::from_json(&json!({"date": "yesterday"})).unwrap();
        let job = JobView {
            job_id: 1,
            kind: KIND.into(),
            params: "{}".into(),
            schedule: Some("daily".into()),
            slot: Some("2026-12-01T07:00".into()),
            status: yibao_store::JobStatus::Running,
            worker_id: None,
            claim_gen: 1,
            result: None,
            err_msg: None,
            create_time: None,
            end_time: None,
        };
        assert_eq!(
            p.date.resolve(&job),
            NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
        );
        assert!(Params::from_json(&json!({"date": "2026-13-01"})).is_err());
        assert!(Params::from_json(&json!({"date": "2026-12-01", "setl_optins": "43"})).is_err());
    }
}
