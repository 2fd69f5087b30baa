//! `reconcile`: 对账 of one day, from the settlements this store holds.
//!
//! 1. Our side: the day's COMPLETED settlements (2207, 2207A, 2304; `setlinfo.setl_time` on
//!    the day) and cancellations (2208, 2305, counted negative under the cancelled
//!    settlement's `setl_id`, in its insutype and clr_type), summed per insutype and
//!    clr_type; UNCERTAIN settlement requests kept aside.
//! 2. 3201 per group, then always the detail (three requests a day; the platform's detail
//!    also covers groups and settlements we do not hold): one line per settlement
//!    (`setl_id mdtrt_id psn_no medfee_sumamt fund_pay_sumamt acct_pay refd_setl_flag`)
//!    uploaded with 9101, 3202 with its `file_qury_no`, and the platform's result file
//!    downloaded with 9102 (`setl_id mdtrt_id psn_no stmt_rslt memo refd_setl_flag`).
//! 3. Each difference becomes a row of `medical_insurance_reconcile_diffs`: `ONLY_OURS`
//!    (1 医药机构有、中心无), `ONLY_PLATFORM` (2 中心有、医药机构无), `AMOUNT_DIFFERS` (3), and
//!    for each UNCERTAIN request of the day the evidence an operator needs (see
//!    [`book`](super::book)): `UNCERTAIN_APPLIED`, `UNCERTAIN_NOT_APPLIED` only when the
//!    platform's answer is complete and unambiguous, else `UNCERTAIN_UNKNOWN`.
//!
//! Every step is a request like any other and read-only on the platform's books, so a job
//! taken over runs again from the start; its differences replace the earlier run's.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value};
use yibao_store::JobView;

use super::book::{differences, fen, ours, Record, Verdict};
use super::catalog::{entry_path, step, text};
use super::{Ending, Jobs};

pub const KIND: &str = "reconcile";
/// Days back the settlements are read, to find the settlement a cancellation of the day
/// cancels (its insutype and clr_type).
const LOOK_BACK_DAYS: i64 = 62;

/// `{"date": "2026-12-01", "setl_optins": "430100"}` (`setl_optins` defaults to the
/// institution's `mdtrtarea_admvs`; `detail`, from older callers, is accepted: the detail
/// is always reconciled).
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
                // The slot's day, else the day the job was recorded: a job taken over after
                // midnight still reconciles the day it was asked for.
                // The slot is Beijing time already; create_time is the store's local time.
                let created = job
                    .create_time
                    .as_deref()
                    .map(yibao_core::time::local_text_in_beijing);
                let base = [job.slot.clone(), created]
                    .into_iter()
                    .flatten()
                    .find_map(|s| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
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
    let (from, to) = (around(-LOOK_BACK_DAYS), around(2));
    let rows = queue
        .durably("settlements", || queue.store.settlements(&from, &to))
        .await
        .map_err(|e| e.to_string())?;
    let book = ours(&rows, &day);
    let setl_optins = p
        .setl_optins
        .clone()
        .unwrap_or_else(|| jobs.setl_optins.clone());
    let (groups, balanced) = totals(jobs, &day, &setl_optins, &book.records).await?;
    let (detail, answer) = exchange(jobs, job, date, &setl_optins, &book.records).await?;
    let diffs = differences(&day, &answer, &book);
    let n = diffs.len();
    let ours = queue
        .durably("reconcile diffs", || {
            queue
                .store
                .record_diffs(job.job_id, job.claim_gen, diffs.clone())
        })
        .await
        .map_err(|e| e.to_string())?;
    if !ours {
        return Err(
            "任务已被其他代理接管，本次结果未写入 / the job was taken over; this run's differences were not recorded"
                .into(),
        );
    }
    Ok(json!({
        "date": day, "settlements": book.records.len(), "uncertain": book.uncertain.len(),
        "balanced": balanced && n == 0, "groups": groups, "detail": detail, "differences": n,
        "duplicates": book.duplicates, "unreadable": book.unreadable,
    }))
}

/// 3201 per insutype and clr_type of our records (those whose group is known); the
/// groups as reported, and whether every one balanced.
async fn totals(
    jobs: &Arc<Jobs>,
    day: &str,
    setl_optins: &str,
    records: &[Record],
) -> Result<(Vec<Value>, bool), String> {
    let mut groups: BTreeMap<(String, String), ([i64; 4], i64)> = BTreeMap::new();
    for r in records.iter().filter(|r| !r.group.0.is_empty()) {
        let g = groups.entry(r.group.clone()).or_default();
        for (sum, v) in g.0.iter_mut().zip(r.amounts) {
            *sum += v;
        }
        g.1 += r.count();
    }
    let mut out = Vec::new();
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
        out.push(json!({
            "insutype": insutype, "clr_type": clr_type, "count": count,
            "medfee_sumamt": fen(a[0]), "fund_pay_sumamt": fen(a[1]), "acct_pay": fen(a[2]),
            "balanced": ok, "request_id": id, "stmt_rslt_dscr": text(info, "stmt_rslt_dscr"),
        }));
    }
    Ok((out, balanced))
}

/// Our detail file, written under `[files] dir` (where a 9101 may read).
async fn write_detail(
    jobs: &Arc<Jobs>,
    job: &JobView,
    date: NaiveDate,
    records: &[Record],
) -> Result<std::path::PathBuf, String> {
    let mut text_out = String::new();
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
    Ok(path)
}

/// 9101 of our detail file, 3202, 9102 of the platform's result: the steps' ids and the
/// platform's answer.
async fn exchange(
    jobs: &Arc<Jobs>,
    job: &JobView,
    date: NaiveDate,
    setl_optins: &str,
    records: &[Record],
) -> Result<(Value, Verdict), String> {
    let day = date.format("%Y-%m-%d").to_string();
    let path = write_detail(jobs, job, date, records).await?;
    let upload = json!({"fsUploadIn": {
        "file_path": path.to_string_lossy(), "zip": true, "fixmedins_code": jobs.fixmedins_code,
    }});
    let (upload_id, up) = step(jobs, "9101", upload).await?;
    let no = text(&up["output"], "file_qury_no").ok_or_else(|| {
        format!("9101 的应答没有 file_qury_no / no file_qury_no in the 9101 answer (request {upload_id})")
    })?;
    let mut sums = [0i64; 4];
    for r in records {
        for (s, v) in sums.iter_mut().zip(r.amounts) {
            *s += v;
        }
    }
    let count: i64 = records.iter().map(Record::count).sum();
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
    let output = &file["output"];
    let no_entries = output["entries"].as_array().is_none_or(Vec::is_empty);
    let lines = match entry_path(output) {
        Some(path) => tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("无法读取对账结果文件 / cannot read the result file {path}: {e}"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('\t').map(|f| f.trim().to_string()).collect())
            .collect(),
        // An empty result zip: no differences.
        None if no_entries => Vec::new(),
        None => {
            return Err(format!(
                "对账结果压缩包中无法确定结果文件 / cannot tell which entry of the result zip is the result (request {download_id})"
            ))
        }
    };
    let detail = json!({
        "file": path.to_string_lossy(), "upload_request": upload_id, "request_3202": check_id,
        "download_request": download_id, "lines": records.len(),
    });
    Ok((detail, Verdict { lines }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_fen_both_ways() {
        use super::super::book::cents;
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
