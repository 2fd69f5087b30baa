//! The platform's book of settlements, which 3201 对总账 and 3202 对明细账 reconcile against
//! (see `recon`), and the disagreements a test can plant in it.
//!
//! Every applied 2207/2207A 门诊结算 and 2304 住院结算 adds a record with exactly the
//! amounts its reply's `setlinfo` carried (`medfee_sumamt`, `fund_pay_sumamt`, `acct_pay`,
//! `psn_cash_pay`), its `insutype`, `clr_type` and the date of its `setl_time`. A settlement
//! whose `setl_id` the book already holds replaces that record: the simulator derives
//! `setl_id` from the request (psn_no, mdtrt_id, chrg_bchno), so a repeat is the same one.
//!
//! A cancellation (2208 门诊结算撤销, 2305 住院结算撤销) of a settlement the book holds is a
//! record of its own, as the national rules count it: a negative settlement on the day of
//! the cancellation — the cancelled settlement's `setl_id`, `refd_setl_flag` "1", its
//! amounts negated, and −1 in the count. The original record stays. A repeated cancellation
//! adds nothing (its reply carries the same negated amounts); a cancellation of a
//! settlement the simulator never applied is answered with zero amounts and is not booked.
//!
//! Planted disagreements (`POST /__mock/reconcile`, JSON, one key per request):
//! ```json
//! {"forget": "<setl_id>"}
//! {"amount": {"setl_id": "…", "medfee_sumamt": "12.34"}}
//! {"extra": {"setl_id": "X1", "insutype": "310", "medfee_sumamt": "5.00"}}
//! {"clear": true}
//! ```
//! `forget`: the platform lost that settlement (and its cancellation). `amount`: the
//! platform holds other amounts for that settlement (any of `medfee_sumamt`,
//! `fund_pay_sumamt`, `acct_pay`, `psn_cash_pay`; strings or numbers, 2 decimals). `extra`:
//! a settlement only the platform has — `setl_id` required; `mdtrt_id`, `psn_no`, `clr_type`
//! (absent: matches any) optional; `insutype` "310", `setl_date` today, amounts "0" and
//! `refd_setl_flag` "0" unless given. `clear` (or `DELETE /__mock/reconcile`) undoes every
//! plant. `GET /__mock/reconcile` (and every POST) answers
//! `{"settlements": [the book as applied], "planted": {"forget", "amount", "extra"}}`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use crate::state::{lock, MockState};

/// The four amounts of a settlement, in fen (0.01 元): compared exactly, never as floats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    pub medfee: i64,
    pub fund: i64,
    pub acct: i64,
    pub cash: i64,
}

impl Amounts {
    pub fn negated(self) -> Self {
        Self {
            medfee: -self.medfee,
            fund: -self.fund,
            acct: -self.acct,
            cash: -self.cash,
        }
    }

    pub fn add(&mut self, o: Amounts) {
        self.medfee += o.medfee;
        self.fund += o.fund;
        self.acct += o.acct;
        self.cash += o.cash;
    }

    /// `(field, value)` for each amount, in the order messages name them.
    pub fn named(&self) -> [(&'static str, i64); 4] {
        [
            ("medfee_sumamt", self.medfee),
            ("fund_pay_sumamt", self.fund),
            ("acct_pay", self.acct),
            ("psn_cash_pay", self.cash),
        ]
    }
}

/// One record of the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `2207`, `2304`, `2208`, `2305`…, or `extra` for a planted one.
    pub infno: String,
    /// The settlement's `setl_id` (for a cancellation: the cancelled settlement's).
    pub setl_id: String,
    /// For a cancellation: the `setl_id` its own reply carried (accepted in 3202 files too).
    pub cancel_setl_id: Option<String>,
    pub mdtrt_id: String,
    pub psn_no: String,
    pub insutype: String,
    /// `None` matches any `clr_type` in 3201.
    pub clr_type: Option<String>,
    /// A cancellation (退费结算, `refd_setl_flag` "1"): counts −1.
    pub refund: bool,
    pub date: NaiveDate,
    pub amounts: Amounts,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "infno": self.infno, "setl_id": self.setl_id, "mdtrt_id": self.mdtrt_id,
            "psn_no": self.psn_no, "insutype": self.insutype, "clr_type": self.clr_type,
            "refd_setl_flag": if self.refund { "1" } else { "0" },
            "setl_date": self.date.format("%Y-%m-%d").to_string(),
        });
        if let Some(c) = &self.cancel_setl_id {
            v["cancel_setl_id"] = c.as_str().into();
        }
        for (k, a) in self.amounts.named() {
            v[k] = fmt_cents(a).into();
        }
        v
    }
}

/// What a test planted.
#[derive(Debug, Clone, Default)]
struct Planted {
    forget: BTreeSet<String>,
    /// Per setl_id, the amounts the platform holds instead (`None`: as applied).
    amount: BTreeMap<String, [Option<i64>; 4]>,
    extra: Vec<Entry>,
}

/// The book and the plants.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Vec<Entry>,
    planted: Planted,
}

impl Ledger {
    /// Books an applied settlement (replacing one with the same `setl_id`).
    pub fn settle(&mut self, e: Entry) {
        match self
            .entries
            .iter_mut()
            .find(|x| !x.refund && x.setl_id == e.setl_id)
        {
            Some(x) => *x = e,
            None => self.entries.push(e),
        }
    }

    /// Books the cancellation of `setl_id` on `date`; the negated amounts its reply carries,
    /// or `None` if the book never held that settlement.
    pub fn cancel(
        &mut self,
        infno: &str,
        setl_id: &str,
        cancel_setl_id: &str,
        date: NaiveDate,
    ) -> Option<Amounts> {
        if let Some(done) = self
            .entries
            .iter()
            .find(|x| x.refund && x.setl_id == setl_id)
        {
            return Some(done.amounts);
        }
        let orig = self
            .entries
            .iter()
            .find(|x| !x.refund && x.setl_id == setl_id)?;
        let entry = Entry {
            infno: infno.to_string(),
            cancel_setl_id: Some(cancel_setl_id.to_string()),
            refund: true,
            date,
            amounts: orig.amounts.negated(),
            ..orig.clone()
        };
        let amounts = entry.amounts;
        self.entries.push(entry);
        Some(amounts)
    }

    /// The book as the platform reconciles it: planted disagreements applied.
    pub fn view(&self) -> Vec<Entry> {
        let p = &self.planted;
        self.entries
            .iter()
            .filter(|e| !p.forget.contains(&e.setl_id))
            .chain(p.extra.iter())
            .cloned()
            .map(|mut e| {
                if let Some(o) = p.amount.get(&e.setl_id).filter(|_| !e.refund) {
                    let a = &mut e.amounts;
                    for (slot, v) in [&mut a.medfee, &mut a.fund, &mut a.acct, &mut a.cash]
                        .into_iter()
                        .zip(o)
                    {
                        if let Some(v) = v {
                            *slot = *v;
                        }
                    }
                }
                e
            })
            .collect()
    }

    fn to_json(&self) -> Value {
        let p = &self.planted;
        let amount: Vec<Value> = p
            .amount
            .iter()
            .map(|(id, o)| {
                let mut v = json!({ "setl_id": id });
                for ((k, _), a) in Amounts::default().named().into_iter().zip(o) {
                    if let Some(a) = a {
                        v[k] = fmt_cents(*a).into();
                    }
                }
                v
            })
            .collect();
        json!({
            "settlements": self.entries.iter().map(Entry::to_json).collect::<Vec<_>>(),
            "planted": {
                "forget": p.forget,
                "amount": amount,
                "extra": p.extra.iter().map(Entry::to_json).collect::<Vec<_>>(),
            },
        })
    }

    /// Applies one control request (see the module docs).
    fn plant(&mut self, body: &Value) -> Result<(), String> {
        let obj = body
            .as_object()
            .filter(|o| o.len() == 1)
            .ok_or("应为只含一个键的JSON对象 / expected a JSON object with exactly one key")?;
        let p = &mut self.planted;
        match obj.iter().next() {
            Some((k, Value::String(id))) if k == "forget" && !id.is_empty() => {
                p.forget.insert(id.clone());
            }
            Some((k, Value::Object(o))) if k == "amount" => {
                let id = text(o, "setl_id").ok_or("amount.setl_id 缺失 / missing")?;
                let mut slots = [None; 4];
                for ((name, _), slot) in Amounts::default().named().into_iter().zip(&mut slots) {
                    *slot = o.get(name).map(|v| need_amount(v, name)).transpose()?;
                }
                if slots.iter().all(Option::is_none) {
                    return Err("amount 至少给出一个金额 / give at least one amount".into());
                }
                p.amount.insert(id.to_string(), slots);
            }
            Some((k, Value::Object(o))) if k == "extra" => p.extra.push(extra(o)?),
            Some((k, Value::Bool(true))) if k == "clear" => *p = Planted::default(),
            _ => {
                return Err(
                    "应为 forget、amount、extra 或 clear 之一 / expected forget, amount, extra or clear"
                        .into(),
                )
            }
        }
        Ok(())
    }
}

/// A planted settlement only the platform has.
fn extra(o: &Map<String, Value>) -> Result<Entry, String> {
    let setl_id = text(o, "setl_id").ok_or("extra.setl_id 缺失 / missing")?;
    let date = match text(o, "setl_date") {
        None => today(),
        Some(s) => parse_date(s).ok_or(format!(
            "extra.setl_date {s} 应为 yyyy-MM-dd / must be yyyy-MM-dd"
        ))?,
    };
    let amount = |k: &str| o.get(k).map_or(Ok(0), |v| need_amount(v, k));
    let refund = match text(o, "refd_setl_flag").unwrap_or("0") {
        "0" => false,
        "1" => true,
        f => {
            return Err(format!(
                "extra.refd_setl_flag {f} 应为 0 或 1 / must be 0 or 1"
            ))
        }
    };
    Ok(Entry {
        infno: "extra".into(),
        setl_id: setl_id.to_string(),
        cancel_setl_id: None,
        mdtrt_id: text(o, "mdtrt_id").unwrap_or_default().to_string(),
        psn_no: text(o, "psn_no").unwrap_or_default().to_string(),
        insutype: text(o, "insutype").unwrap_or("310").to_string(),
        clr_type: text(o, "clr_type").map(str::to_string),
        refund,
        date,
        amounts: Amounts {
            medfee: amount("medfee_sumamt")?,
            fund: amount("fund_pay_sumamt")?,
            acct: amount("acct_pay")?,
            cash: amount("psn_cash_pay")?,
        },
    })
}

fn text<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn need_amount(v: &Value, name: &str) -> Result<i64, String> {
    amount_value(v).ok_or(format!(
        "{name} 金额格式错误：{v} / {name} is not an amount with 2 decimals"
    ))
}

/// Today in Beijing time.
pub fn today() -> NaiveDate {
    yibao_core::time::now().date_naive()
}

/// `yyyy-MM-dd`, strictly (10 characters).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
}

/// An amount in fen from a decimal text: `-?\d{1,14}(\.\d+)?` with at most 2 significant
/// decimals (more digits only if they are zeros: "70.000").
pub fn parse_cents(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, dec) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !(1..=14).contains(&int.len()) || !digits(int) || !digits(dec) {
        return None;
    }
    if s.contains('.') && dec.is_empty() {
        return None;
    }
    let (kept, rest) = dec.split_at(dec.len().min(2));
    if rest.bytes().any(|b| b != b'0') {
        return None;
    }
    let yuan: i64 = int.parse().ok()?;
    let fen: i64 = format!("{kept:0<2}").parse().ok()?;
    let v = yuan.checked_mul(100)?.checked_add(fen)?;
    Some(if neg { -v } else { v })
}

/// An amount in fen from JSON: a decimal string, or a number (as the simulator's own
/// replies write them, e.g. `70.0`).
pub fn amount_value(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => parse_cents(s),
        Value::Number(n) => parse_cents(&n.to_string()),
        _ => None,
    }
}

/// Fen as a decimal text with 2 places: `-12.05`.
pub fn fmt_cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    let a = c.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Fen as the JSON number the simulator's replies carry (2 decimals exactly).
pub fn cents_number(c: i64) -> Value {
    fmt_cents(c)
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `GET /__mock/reconcile`.
pub async fn show(State(state): State<Arc<MockState>>) -> Json<Value> {
    Json(lock(&state.ledger).to_json())
}

/// `POST /__mock/reconcile`: plant one disagreement (or clear them).
pub async fn set(State(state): State<Arc<MockState>>, body: axum::body::Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("不是合法的JSON / not JSON: {e}"),
            )
                .into_response()
        }
    };
    let mut ledger = lock(&state.ledger);
    match ledger.plant(&body) {
        Ok(()) => Json(ledger.to_json()).into_response(),
        Err(msg) => (StatusCode::BAD_REQUEST, msg).into_response(),
    }
}

/// `DELETE /__mock/reconcile`: undo every plant (the book itself stays).
pub async fn clear(State(state): State<Arc<MockState>>) -> StatusCode {
    lock(&state.ledger).planted = Planted::default();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(setl_id: &str, medfee: i64) -> Entry {
        Entry {
            infno: "2207".into(),
            setl_id: setl_id.into(),
            cancel_setl_id: None,
            mdtrt_id: "M".into(),
            psn_no: "P".into(),
            insutype: "310".into(),
            clr_type: Some("11".into()),
            refund: false,
            date: today(),
            amounts: Amounts {
                medfee,
                fund: medfee / 2,
                acct: 0,
                cash: medfee - medfee / 2,
            },
        }
    }

    #[test]
    fn amounts_are_decimals_with_two_places() {
        assert_eq!(parse_cents("12.34"), Some(1234));
        assert_eq!(parse_cents("-0.5"), Some(-50));
        assert_eq!(parse_cents("70"), Some(7000));
        assert_eq!(parse_cents("70.000"), Some(7000));
        assert_eq!(amount_value(&json!(70.0)), Some(7000));
        assert_eq!(amount_value(&json!(0.29)), Some(29));
        for bad in [
            "",
            "-",
            "1.",
            ".5",
            "1.234",
            "1e3",
            "abc",
            "1,00",
            "123456789012345",
        ] {
            assert_eq!(parse_cents(bad), None, "{bad}");
        }
        assert_eq!(amount_value(&json!(1e300)), None);
        assert_eq!(fmt_cents(-1205), "-12.05");
        assert_eq!(fmt_cents(7), "0.07");
        assert_eq!(cents_number(2999), json!(29.99));
    }

    #[test]
    fn a_cancellation_is_a_negative_record_once() {
        let mut l = Ledger::default();
        l.settle(entry("S1", 10000));
        assert_eq!(l.cancel("2208", "NOPE", "C0", today()), None);
        let neg = l.cancel("2208", "S1", "C1", today());
        assert_eq!(neg.map(|a| a.medfee), Some(-10000));
        assert_eq!(l.cancel("2208", "S1", "C2", today()), neg);
        assert_eq!(l.view().len(), 2);
        // A repeated settlement replaces the record, it does not add one.
        l.settle(entry("S1", 10000));
        assert_eq!(l.view().len(), 2);
    }

    #[test]
    fn plants_change_the_view_and_clear_undoes_them() {
        let mut l = Ledger::default();
        l.settle(entry("S1", 10000));
        l.settle(entry("S2", 500));
        l.plant(&json!({"forget": "S2"})).unwrap();
        l.plant(&json!({"amount": {"setl_id": "S1", "acct_pay": 1.5}}))
            .unwrap();
        l.plant(&json!({"extra": {"setl_id": "X", "medfee_sumamt": "3"}}))
            .unwrap();
        let v = l.view();
        let ids: Vec<&str> = v.iter().map(|e| e.setl_id.as_str()).collect();
        assert_eq!(ids, ["S1", "X"]);
        assert_eq!(v[0].amounts.acct, 150);
        assert_eq!(v[0].amounts.medfee, 10000);
        assert_eq!(v[1].amounts.medfee, 300);
        assert_eq!(v[1].clr_type, None);
        for bad in [
            json!({}),
            json!({"forget": "S1", "clear": true}),
            json!({"amount": {"setl_id": "S1"}}),
            json!({"amount": {"setl_id": "S1", "acct_pay": "x"}}),
            json!({"extra": {"medfee_sumamt": "1"}}),
            json!({"extra": {"setl_id": "Y", "setl_date": "2026-13-01"}}),
            json!({"clear": false}),
            json!([1]),
        ] {
            assert!(l.plant(&bad).is_err(), "{bad}");
        }
        l.plant(&json!({"clear": true})).unwrap();
        assert_eq!(l.view().len(), 2);
    }
}
