//! The invariants, checked on plain data: what the simulator applied (its applied-log),
//! what the store holds (requests, attempts, responses) and what the harness did (rows it
//! inserted, poisoned, cancelled, gave up on). Pure functions, so the unit tests below can
//! feed them fabricated rows and prove that every check fires.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

/// One entry of the simulator's applied-log (`GET /__mock/applied`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub infno: String,
    pub msgid: String,
    /// The envelope's `input` as compact JSON text.
    pub input: String,
}

/// One row of `medical_insurance_requests` with its response (through the view).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    pub id: i64,
    pub interface_code: String,
    pub status: String,
    /// The input as text; `None` when it is not UTF-8 text (a poisoned row).
    pub input: Option<String>,
    /// The msgid of the last attempt.
    pub msgid: Option<String>,
    pub expires_at: Option<String>,
    pub reversal_id: Option<i64>,
    /// The view's `err_msg` (the platform's, else the broker's reason).
    pub err_msg: Option<String>,
    /// The stored response's infcode; `None` without a response row.
    pub infcode: Option<String>,
    pub has_response: bool,
}

/// One row of `medical_insurance_attempts`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attempt {
    pub request_id: i64,
    pub msgid: String,
    pub start_time: String,
    pub outcome: String,
    /// Seconds by which the attempt started after its request's `expires_at` (negative:
    /// before); `None` when the request has no deadline.
    pub late_s: Option<f64>,
}

/// The store and the platform at quiescence.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub requests: Vec<Request>,
    pub attempts: Vec<Attempt>,
    pub applied: Vec<Applied>,
}

/// What the harness knows it did.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Every id the harness inserted by SQL or was given back (`Accepted`) by the broker.
    pub known_ids: BTreeSet<i64>,
    /// Rows inserted with an input that is not UTF-8 text.
    pub poisoned: BTreeSet<i64>,
    /// Rows `yibao-call cancel` reported cancelled (exit 0), with the number of attempts
    /// the row had right after (when the harness could read it): no attempt may follow.
    pub cancelled: BTreeMap<i64, Option<usize>>,
    /// Rows a cashier replaced with a new row for the same business key because they were
    /// still PENDING after their `expires_at` (so, by contract, never to be sent), with
    /// their attempts at that moment.
    pub superseded: BTreeMap<i64, Option<usize>>,
}

/// A broken invariant, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// 1–9, as numbered in [`INVARIANTS`].
    pub invariant: u8,
    pub detail: String,
}

/// The invariants, by number.
pub const INVARIANTS: [&str; 9] = [
    "no business key of a state-changing interface applied twice (2601: no omsgid reversed twice)",
    "every COMPLETED state-changing row applied exactly once, its response stored with infcode 0",
    "every applied state-changing msgid belongs to a COMPLETED, UNCERTAIN or REVERSED row",
    "every UNCERTAIN row has at least one attempt on record",
    "nothing PENDING or PROCESSING at quiescence",
    "no row lost; poisoned rows ERROR with a reason; cancelled rows ERROR and never sent; \
     no attempt started after a row's expires_at",
    "every REVERSED row's 2601 (its reversal_id) is COMPLETED and was applied with one of \
     the row's msgids as omsgid",
    "every err_msg is 中文 first and says each detail once",
    "a downloaded catalog holds exactly the platform's rows of the versions it holds, each once",
];

/// Slack for "started after expires_at": the store checks the deadline and stamps the
/// attempt's start in two statements of one transaction, a few milliseconds apart.
pub const LATE_TOLERANCE_S: f64 = 0.5;

/// Read-only interfaces (design §9); every other code, known or not, changes state, as the
/// product treats unknown codes.
pub fn is_state_changing(infno: &str) -> bool {
    let read_only = matches!(
        infno,
        "1101"
            | "1201"
            | "2206"
            | "2206A"
            | "2303"
            | "3101"
            | "3102"
            | "3201"
            | "3202"
            | "9001"
            | "9101"
            | "9102"
    ) || infno.starts_with("13")
        || infno.starts_with('5');
    !read_only
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The business key of a state-changing request: what the platform must apply at most
/// once. `None` for read-only interfaces. Inputs the harness did not build fall back to
/// the whole input text (identical input, same business request).
pub fn business_key(infno: &str, input: &str) -> Option<String> {
    if !is_state_changing(infno) {
        return None;
    }
    let key = known_key(infno, input).unwrap_or_else(|| input.to_string());
    Some(format!("{infno}:{key}"))
}

/// The key of an input shaped as the harness builds it (就诊ID/收费批次号, 人员编号/门诊号,
/// 费用明细流水号, the 2601's omsgid); `None` for any other shape.
pub fn known_key(infno: &str, input: &str) -> Option<String> {
    let v: Value = serde_json::from_str(input).ok()?;
    match infno {
        "2207" | "2207A" | "2206" => text(&v, &["data", "mdtrt_id"])
            .zip(text(&v, &["data", "chrg_bchno"]))
            .map(|(m, c)| format!("{m}/{c}")),
        "2201" => text(&v, &["data", "psn_no"])
            .zip(text(&v, &["data", "ipt_otp_no"]))
            .map(|(p, o)| format!("{p}/{o}")),
        "2204" => {
            let sns: Vec<&str> = v
                .get("feedetail")?
                .as_array()?
                .iter()
                .filter_map(|i| i.get("feedetl_sn").and_then(Value::as_str))
                .collect();
            (!sns.is_empty()).then(|| sns.join(","))
        }
        "2601" => text(&v, &["data", "omsgid"]).map(|m| format!("omsgid={m}")),
        _ => None,
    }
}

fn violation(out: &mut Vec<Violation>, invariant: u8, detail: String) {
    out.push(Violation { invariant, detail });
}

fn describe(r: &Request) -> String {
    format!(
        "request {} ({} {}, msgid {}, err_msg {:?})",
        r.id,
        r.interface_code,
        r.status,
        r.msgid.as_deref().unwrap_or("-"),
        r.err_msg.as_deref().unwrap_or("")
    )
}

/// Every invariant on one snapshot; empty when all hold.
pub fn check(s: &Snapshot, f: &Facts) -> Vec<Violation> {
    let mut out = Vec::new();
    let requests: HashMap<i64, &Request> = s.requests.iter().map(|r| (r.id, r)).collect();
    let mut attempts_of: HashMap<i64, Vec<&Attempt>> = HashMap::new();
    let mut request_of_msgid: HashMap<&str, i64> = HashMap::new();
    for a in &s.attempts {
        attempts_of.entry(a.request_id).or_default().push(a);
        request_of_msgid.insert(a.msgid.as_str(), a.request_id);
    }
    let mut applied_by_msgid: HashMap<&str, Vec<&Applied>> = HashMap::new();
    for a in &s.applied {
        applied_by_msgid
            .entry(a.msgid.as_str())
            .or_default()
            .push(a);
    }

    // 1. No business key applied twice.
    let mut by_key: BTreeMap<String, Vec<&Applied>> = BTreeMap::new();
    for a in &s.applied {
        if let Some(key) = business_key(&a.infno, &a.input) {
            by_key.entry(key).or_default().push(a);
        }
    }
    for (key, list) in &by_key {
        if list.len() > 1 {
            let who: Vec<String> = list
                .iter()
                .map(|a| {
                    let req = request_of_msgid
                        .get(a.msgid.as_str())
                        .and_then(|id| requests.get(id))
                        .map_or_else(|| "no request on record".to_string(), |r| describe(r));
                    format!("msgid {} → {req}", a.msgid)
                })
                .collect();
            violation(
                &mut out,
                1,
                format!("{key} applied {} times: {}", list.len(), who.join("; ")),
            );
        }
    }

    for r in &s.requests {
        let attempts = attempts_of.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
        let applied: Vec<&str> = attempts
            .iter()
            .filter(|a| applied_by_msgid.contains_key(a.msgid.as_str()))
            .map(|a| a.msgid.as_str())
            .collect();
        let applied_times: usize = attempts
            .iter()
            .map(|a| applied_by_msgid.get(a.msgid.as_str()).map_or(0, Vec::len))
            .sum();
        // 2. COMPLETED state-changing rows: applied exactly once, response stored.
        if r.status == "COMPLETED" && is_state_changing(&r.interface_code) {
            if applied_times != 1 {
                violation(
                    &mut out,
                    2,
                    format!(
                        "{} applied {applied_times} times on the platform (attempt msgids applied: {applied:?})",
                        describe(r)
                    ),
                );
            } else if r.msgid.as_deref() != applied.first().copied() {
                violation(
                    &mut out,
                    2,
                    format!(
                        "{}: its msgid is not the one the platform applied ({:?})",
                        describe(r),
                        applied.first()
                    ),
                );
            }
            if !r.has_response || r.infcode.as_deref() != Some("0") {
                violation(
                    &mut out,
                    2,
                    format!(
                        "{}: response {} with infcode {:?}",
                        describe(r),
                        if r.has_response { "stored" } else { "missing" },
                        r.infcode
                    ),
                );
            }
        }
        // 4. UNCERTAIN rows have an attempt.
        if r.status == "UNCERTAIN" && attempts.is_empty() {
            violation(
                &mut out,
                4,
                format!("{} has no attempt on record", describe(r)),
            );
        }
        // 5. Quiescence.
        if r.status == "PENDING" || r.status == "PROCESSING" {
            violation(&mut out, 5, format!("{} at quiescence", describe(r)));
        }
        // 6. Deadlines: no attempt started after expires_at.
        for a in attempts {
            if let Some(late) = a.late_s.filter(|l| *l > LATE_TOLERANCE_S) {
                violation(
                    &mut out,
                    6,
                    format!(
                        "{}: attempt {} started {} ({late:.3} s after expires_at {})",
                        describe(r),
                        a.msgid,
                        a.start_time,
                        r.expires_at.as_deref().unwrap_or("?")
                    ),
                );
            }
        }
    }

    // 3. Every applied state-changing msgid belongs to a row that may have taken effect.
    for a in &s.applied {
        if !is_state_changing(&a.infno) {
            continue;
        }
        match request_of_msgid
            .get(a.msgid.as_str())
            .and_then(|id| requests.get(id))
        {
            None => violation(
                &mut out,
                3,
                format!(
                    "{} msgid {} applied but recorded in no attempt (input {})",
                    a.infno, a.msgid, a.input
                ),
            ),
            Some(r) if !matches!(r.status.as_str(), "COMPLETED" | "UNCERTAIN" | "REVERSED") => {
                violation(
                    &mut out,
                    3,
                    format!("msgid {} applied, but {}", a.msgid, describe(r)),
                )
            }
            Some(_) => {}
        }
    }

    // 7. REVERSED means the platform applied a 2601 of this very request.
    for r in s.requests.iter().filter(|r| r.status == "REVERSED") {
        let own: BTreeSet<&str> = attempts_of
            .get(&r.id)
            .map(|l| l.iter().map(|a| a.msgid.as_str()).collect())
            .unwrap_or_default();
        let reversal = r.reversal_id.and_then(|id| requests.get(&id));
        let applied_2601 = reversal.is_some_and(|rev| {
            attempts_of.get(&rev.id).is_some_and(|list| {
                list.iter().any(|a| {
                    applied_by_msgid
                        .get(a.msgid.as_str())
                        .is_some_and(|entries| {
                            entries.iter().any(|e| {
                                let v: Value =
                                    serde_json::from_str(&e.input).unwrap_or(Value::Null);
                                text(&v, &["data", "omsgid"]).is_some_and(|m| own.contains(m))
                            })
                        })
                })
            })
        });
        match reversal {
            None => violation(
                &mut out,
                7,
                format!("{} has no reversal request on record", describe(r)),
            ),
            Some(rev) if rev.status != "COMPLETED" || !applied_2601 => violation(
                &mut out,
                7,
                format!(
                    "{} but its reversal {} (applied with one of its msgids {own:?}: {applied_2601})",
                    describe(r),
                    describe(rev)
                ),
            ),
            Some(_) => {}
        }
    }

    // 6. No row lost; poisoned, cancelled and superseded rows.
    for id in &f.known_ids {
        if !requests.contains_key(id) {
            violation(
                &mut out,
                6,
                format!("request {id} was inserted or accepted but is gone"),
            );
        }
    }
    for id in &f.poisoned {
        if let Some(r) = requests.get(id) {
            if r.status != "ERROR" || r.err_msg.as_deref().is_none_or(|m| m.trim().is_empty()) {
                violation(
                    &mut out,
                    6,
                    format!("poisoned {} did not end ERROR with a reason", describe(r)),
                );
            }
        }
    }
    for (what, ids) in [("cancelled", &f.cancelled), ("superseded", &f.superseded)] {
        for (id, before) in ids {
            let Some(r) = requests.get(id) else { continue };
            let sent: Vec<&str> = attempts_of
                .get(id)
                .map(|list| list.iter().map(|a| a.msgid.as_str()).collect())
                .unwrap_or_default();
            let applied: Vec<&str> = sent
                .iter()
                .copied()
                .filter(|m| applied_by_msgid.contains_key(m))
                .collect();
            if r.status != "ERROR" {
                violation(
                    &mut out,
                    6,
                    format!("{what} {} did not end ERROR", describe(r)),
                );
            }
            if let Some(n) = before.filter(|n| sent.len() > *n) {
                violation(
                    &mut out,
                    6,
                    format!(
                        "{what} {} was attempted after it was {what} ({n} attempts then, now {sent:?})",
                        describe(r)
                    ),
                );
            }
            if !applied.is_empty() {
                violation(
                    &mut out,
                    6,
                    format!("{what} {} was applied: {applied:?}", describe(r)),
                );
            }
        }
    }
    // 8. What the HIS shows a cashier is 中文 first and says each detail once.
    for r in &s.requests {
        if let Some(d) = r.err_msg.as_deref().and_then(yibao_core::wording::defect) {
            violation(&mut out, 8, format!("{}: {d}", describe(r)));
        }
    }
    out
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
