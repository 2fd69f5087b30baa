//! The simulator's answers: the real response envelope, with realistic, deterministic
//! output derived from the input (same input, same ids and amounts) — or, for 9102 文件下载,
//! the file itself.

use axum::body::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use yibao_core::{time, RequestEnvelope, ResponseEnvelope};

use crate::checks::{self, required};
use crate::ledger::{self, Amounts, Entry};
use crate::state::Applied;
use crate::state::{lock, stamp, MockState};
use crate::{catalogs, files, recon};

type Output = Result<Value, String>;

/// What the platform sends back for one request.
#[derive(Debug)]
pub enum Answer {
    /// A response envelope (JSON, sealed under `sm`).
    Envelope(Value),
    /// A file's bytes (9102): sent raw, never sealed.
    File(Bytes),
}

impl From<Value> for Answer {
    fn from(v: Value) -> Self {
        Answer::Envelope(v)
    }
}

/// A stable number from text (for deterministic ids and names).
fn h(parts: &[&str]) -> u64 {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p.as_bytes());
        d.update([0]);
    }
    let b = d.finalize();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn envelope(infcode: i64, err_msg: Option<String>, output: Value) -> Value {
    let now = time::format_datetime(&time::now());
    let reply = ResponseEnvelope {
        infcode,
        inf_refmsgid: Some(format!(
            "430000{}{:010}",
            stamp(),
            h(&[&now]) % 10_000_000_000
        )),
        refmsg_time: Some(now.clone()),
        respond_time: Some(now),
        err_msg,
        warn_msg: None,
        cainfo: None,
        signtype: None,
        output,
    };
    serde_json::to_value(reply).unwrap_or_else(|_| json!({"infcode": -1}))
}

/// The platform's error shape.
pub fn error_reply(_msgid: &str, msg: &str) -> Value {
    envelope(-1, Some(msg.to_string()), json!({}))
}

/// Answers one POSTed body.
pub fn handle(state: &MockState, body: &[u8]) -> Answer {
    let e = match checked(state, body) {
        Ok(e) => e,
        Err(refusal) => return refusal.into(),
    };
    // A settlement's cainfo is read before anything is applied.
    let cainfo = match checks::cainfo(state.config.cainfo.as_deref(), &e) {
        Ok(cainfo) => cainfo,
        Err(msg) => return error_reply(&e.msgid, &msg).into(),
    };
    match answer(state, &e) {
        Ok(answer) => {
            state.record_applied(Applied {
                infno: e.infno.clone(),
                msgid: e.msgid.clone(),
                input: files::logged_input(&e.infno, &e.input),
                cainfo,
            });
            answer
        }
        Err(msg) => error_reply(&e.msgid, &msg).into(),
    }
}

/// The envelope, once it passed every check the platform makes before it looks at the
/// business: format, a new msgid, a valid sign-in, the catalog's rules. `Err` is the reply.
fn checked(state: &MockState, body: &[u8]) -> Result<RequestEnvelope, Value> {
    let raw: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            state.count_rejected(None);
            return Err(error_reply(
                "",
                &format!("报文格式错误，不是合法的JSON：{e}"),
            ));
        }
    };
    let e: RequestEnvelope = match serde_json::from_value(raw) {
        Ok(e) => e,
        Err(err) => {
            state.count_rejected(None);
            return Err(error_reply("", &format!("报文结构错误：{err}")));
        }
    };
    if let Err(msg) = checks::check_envelope(&e, state.config.fixmedins_code.as_deref()) {
        state.count_rejected(Some(&e.infno));
        return Err(error_reply(&e.msgid, &msg));
    }
    if !state.first_use_of_msgid(&e.msgid) {
        state.count_rejected(Some(&e.infno));
        return Err(error_reply(&e.msgid, &format!("报文ID[{}]重复", e.msgid)));
    }
    if e.infno != "9001" && !state.sign_in_valid(&e.sign_no) {
        state.count_call(&e.infno);
        return Err(error_reply(&e.msgid, "签到信息无效或已过期，请重新签到"));
    }
    state.count_call(&e.infno);
    if state.config.catalog.contains(&e.infno) {
        // The platform validates the input before anything is applied.
        let problems = state.config.catalog.validate(&e.infno, &e.input);
        if !problems.is_empty() {
            return Err(error_reply(&e.msgid, &problems.zh_message()));
        }
    }
    Ok(e)
}

/// The business answer to a checked envelope; `Err` is the platform's error text.
fn answer(state: &MockState, e: &RequestEnvelope) -> Result<Answer, String> {
    if e.infno == "9102" {
        return files::download(state, e).map(Answer::File);
    }
    let out = match e.infno.as_str() {
        "9001" => sign_in(state, e),
        "9002" => sign_out(state, e),
        "1101" => person(e),
        "2201" => register(e),
        "2202" | "2203" | "2203A" | "2204" | "2205" => simple_ack(e),
        "2206" | "2206A" => settle(e, false),
        "2207" | "2207A" => settle(e, true).inspect(|out| book(state, e, out)),
        "2304" => settle_inpatient(e).inspect(|out| book(state, e, out)),
        "2208" | "2305" => cancel_settlement(state, e),
        "2601" => reversal(state, e),
        "5201" => Ok(json!({ "mdtrtinfo": [] })),
        "9101" => files::upload(state, e),
        "3201" => recon::total(state, e),
        "3202" => recon::detail(state, e),
        other if catalogs::serves(other) => catalogs::download(state, e),
        other if state.config.catalog.contains(other) => Ok(generic(state, e)),
        other => Err(format!("交易编号[{other}]不存在或未开通")),
    };
    out.map(|output| envelope(0, None, output).into())
}

fn sign_in(state: &MockState, e: &RequestEnvelope) -> Output {
    let d = required(&e.input, "signIn", &["opter_no", "mac", "ip"])?;
    let opter = d["opter_no"].as_str().unwrap_or_default();
    let sign_no = state.issue_sign_in(opter);
    Ok(json!({ "signinoutb": {
        "sign_time": time::format_datetime(&time::now()),
        "sign_no": sign_no,
    }}))
}

fn sign_out(state: &MockState, e: &RequestEnvelope) -> Output {
    let d = required(&e.input, "signOut", &["sign_no", "opter_no"])?;
    let sign_no = d["sign_no"].as_str().unwrap_or_default();
    if !state.sign_out(sign_no) {
        return Err(format!("签到流水号[{sign_no}]不存在"));
    }
    Ok(json!({ "signoutoutb": { "sign_time": time::format_datetime(&time::now()) } }))
}

const SURNAMES: &[&str] = &["张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: &[&str] = &["伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军"];

fn person(e: &RequestEnvelope) -> Output {
    let d = required(&e.input, "data", &["mdtrt_cert_type", "mdtrt_cert_no"])?;
    let cert = str_of(d, "certno")
        .filter(|s| !s.is_empty())
        .or_else(|| str_of(d, "mdtrt_cert_no"))
        .unwrap_or_default();
    let k = h(&[cert]);
    let psn_no = format!("43{:018}", k % 1_000_000_000_000_000_000);
    let name = str_of(d, "psn_name")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "{}{}",
                SURNAMES[(k % 10) as usize],
                GIVEN[((k / 10) % 10) as usize]
            )
        });
    // An 18-character 身份证号 carries birth date and sex.
    let (brdy, gend) = if cert.len() == 18 && cert.is_ascii() {
        let b = &cert[6..14];
        let sex = cert.as_bytes()[16];
        (
            format!("{}-{}-{}", &b[..4], &b[4..6], &b[6..8]),
            if sex % 2 == 1 { "1" } else { "2" },
        )
    } else {
        ("1980-01-01".to_string(), "1")
    };
    let insuplc = if e.insuplc_admdvs.is_empty() {
        e.mdtrtarea_admvs.clone()
    } else {
        e.insuplc_admdvs.clone()
    };
    Ok(json!({
        "baseinfo": {
            "psn_no": psn_no, "psn_cert_type": "01", "certno": cert, "psn_name": name,
            "gend": gend, "naty": "01", "brdy": brdy, "age": 40,
        },
        "insuinfo": [{
            "balc": format!("{:.2}", (k % 500_000) as f64 / 100.0),
            "insutype": "310", "psn_type": "11", "psn_insu_stas": "1",
            "psn_insu_date": "2015-01-01", "paus_insu_date": null, "cvlserv_flag": "0",
            "insuplc_admdvs": insuplc, "emp_name": "示例单位",
        }],
        "idetinfo": [],
    }))
}

fn register(e: &RequestEnvelope) -> Output {
    let d = required(
        &e.input,
        "data",
        &[
            "psn_no",
            "insutype",
            "begntime",
            "mdtrt_cert_type",
            "ipt_otp_no",
        ],
    )?;
    let key = [
        str_of(d, "psn_no").unwrap_or_default(),
        str_of(d, "ipt_otp_no").unwrap_or_default(),
        str_of(d, "begntime").unwrap_or_default(),
    ];
    Ok(json!({ "data": {
        "mdtrt_id": format!("{:020}", h(&key) % 100_000_000_000_000_000_000u128 as u64),
        "psn_no": key[0],
        "ipt_otp_no": key[1],
    }}))
}

fn simple_ack(e: &RequestEnvelope) -> Output {
    if !e.input.is_object() || e.input.as_object().is_some_and(|o| o.is_empty()) {
        return Err("input 不能为空".into());
    }
    Ok(json!({}))
}

fn amount(d: &Map<String, Value>, key: &str) -> Result<f64, String> {
    let v = match d.get(key) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    match v {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{key} 金额格式错误")),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn settle(e: &RequestEnvelope, final_settlement: bool) -> Output {
    let d = required(
        &e.input,
        "data",
        &[
            "psn_no",
            "mdtrt_cert_type",
            "med_type",
            "medfee_sumamt",
            "mdtrt_id",
            "chrg_bchno",
            "insutype",
        ],
    )?;
    let chrg = str_of(d, "chrg_bchno").unwrap_or_default();
    setlinfo(e, d, "11", final_settlement.then_some(chrg))
}

/// 2304 住院结算: the same amounts as an outpatient settlement, 清算类别 21 (住院); one
/// settlement per 就诊 (a repeat for the same mdtrt_id answers the same setl_id).
fn settle_inpatient(e: &RequestEnvelope) -> Output {
    let d = required(
        &e.input,
        "data",
        &[
            "psn_no",
            "mdtrt_cert_type",
            "medfee_sumamt",
            "mdtrt_id",
            "insutype",
        ],
    )?;
    setlinfo(e, d, "21", Some("2304"))
}

/// `{"setlinfo", "setldetail"}` of a settlement; with `setl_key`, a final one (with a
/// `setl_id` derived from psn_no, mdtrt_id and the key).
fn setlinfo(
    e: &RequestEnvelope,
    d: &Map<String, Value>,
    clr_type: &str,
    setl_key: Option<&str>,
) -> Output {
    let total = round2(amount(d, "medfee_sumamt")?);
    let fund = round2(total * 0.7);
    let acct = round2((total - fund) * 0.5);
    let cash = round2(total - fund - acct);
    let psn_no = str_of(d, "psn_no").unwrap_or_default();
    let mdtrt_id = str_of(d, "mdtrt_id").unwrap_or_default();
    let mut setl = json!({
        "mdtrt_id": mdtrt_id, "psn_no": psn_no, "psn_name": "", "psn_cert_type": "01",
        "insutype": str_of(d, "insutype").unwrap_or_default(), "med_type": str_of(d, "med_type").unwrap_or_default(),
        "medfee_sumamt": total, "fulamt_ownpay_amt": 0.0, "overlmt_selfpay": 0.0,
        "preselfpay_amt": 0.0, "inscp_scp_amt": total, "hifp_pay": fund,
        "fund_pay_sumamt": fund, "acct_pay": acct, "psn_cash_pay": cash,
        "psn_part_amt": round2(acct + cash), "balc": 1000.0,
        "clr_optins": e.mdtrtarea_admvs, "clr_way": "1", "clr_type": clr_type,
        "setl_time": time::format_datetime(&time::now()),
    });
    if let Some(key) = setl_key {
        setl["setl_id"] = json!(format!(
            "{:020}",
            h(&[psn_no, mdtrt_id, key]) % 100_000_000_000_000_000_000u128 as u64
        ));
    }
    Ok(json!({ "setlinfo": setl, "setldetail": [] }))
}

/// Books an applied settlement with exactly the numbers its reply carries (`ledger`).
fn book(state: &MockState, e: &RequestEnvelope, out: &Value) {
    let s = &out["setlinfo"];
    let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
    let amount = |k: &str| ledger::amount_value(&s[k]).unwrap_or(0);
    let date = text("setl_time")
        .get(..10)
        .and_then(ledger::parse_date)
        .unwrap_or_else(ledger::today);
    lock(&state.ledger).settle(Entry {
        infno: e.infno.clone(),
        setl_id: text("setl_id"),
        cancel_setl_id: None,
        mdtrt_id: text("mdtrt_id"),
        psn_no: text("psn_no"),
        insutype: text("insutype"),
        clr_type: Some(text("clr_type")).filter(|c| !c.is_empty()),
        refund: false,
        date,
        amounts: Amounts {
            medfee: amount("medfee_sumamt"),
            fund: amount("fund_pay_sumamt"),
            acct: amount("acct_pay"),
            cash: amount("psn_cash_pay"),
        },
    });
}

/// 2208 门诊结算撤销 / 2305 住院结算撤销: a new setl_id for the cancellation, and the
/// cancelled settlement's amounts negated (zero for a settlement the simulator never
/// applied), as booked for reconciliation (`ledger`).
fn cancel_settlement(state: &MockState, e: &RequestEnvelope) -> Output {
    let d = required(&e.input, "data", &["psn_no", "mdtrt_id", "setl_id"])?;
    let setl_id = str_of(d, "setl_id").unwrap_or_default();
    let cancel_id = format!(
        "{:020}",
        h(&["cancel", setl_id]) % 100_000_000_000_000_000_000u128 as u64
    );
    let now = time::now();
    let negated = lock(&state.ledger)
        .cancel(&e.infno, setl_id, &cancel_id, now.date_naive())
        .unwrap_or_default();
    Ok(json!({ "setlinfo": {
        "setl_id": cancel_id,
        "mdtrt_id": str_of(d, "mdtrt_id").unwrap_or_default(),
        "psn_no": str_of(d, "psn_no").unwrap_or_default(),
        "setl_time": time::format_datetime(&now),
        "medfee_sumamt": ledger::cents_number(negated.medfee),
        "fund_pay_sumamt": ledger::cents_number(negated.fund),
        "acct_pay": ledger::cents_number(negated.acct),
        "psn_cash_pay": ledger::cents_number(negated.cash),
    }}))
}

/// 2601 冲正: only a msgid this platform has received can be reversed.
fn reversal(state: &MockState, e: &RequestEnvelope) -> Output {
    let d = required(&e.input, "data", &["psn_no", "omsgid", "oinfno"])?;
    let omsgid = str_of(d, "omsgid").unwrap_or_default();
    if !state.msgid_seen(omsgid) {
        return Err(format!("原交易报文ID[{omsgid}]不存在，无法冲正"));
    }
    Ok(json!({}))
}

/// Any other catalog interface: every output path the catalog names, filled with a value
/// derived from the request (deterministic), so HIS code and the fields table see the
/// shape they will get from the platform.
fn generic(state: &MockState, e: &RequestEnvelope) -> Value {
    let mut out = json!({});
    let seed = e.input.to_string();
    for p in state.config.catalog.output_paths(&e.infno) {
        let mut node = &mut out;
        for (i, seg) in p.segments.iter().enumerate() {
            let last = i + 1 == p.segments.len();
            let Some(obj) = node.as_object_mut() else {
                break;
            };
            let child = obj.entry(seg.key.clone()).or_insert_with(|| {
                if seg.each {
                    json!([{}])
                } else if last {
                    Value::Null
                } else {
                    json!({})
                }
            });
            node = if seg.each {
                match child.get_mut(0) {
                    Some(first) => first,
                    None => break,
                }
            } else {
                child
            };
            if last {
                *node = json!(format!("{}", h(&[&seed, &p.text]) % 1_000_000_000));
            }
        }
    }
    out
}

fn str_of<'a>(d: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_str)
}
