//! The checker must be able to fail: each invariant is broken on purpose in fabricated
//! data and the matching violation must appear (and a consistent picture must pass).

use super::*;

fn settle(n: u32) -> String {
    serde_json::json!({"data": {"psn_no": "43000000000000000001", "mdtrt_id": format!("M{n}"),
        "chrg_bchno": format!("C{n}"), "medfee_sumamt": "100.00"}})
    .to_string()
}

fn reversal_of(omsgid: &str) -> String {
    serde_json::json!({"data": {"psn_no": "43000000000000000001", "omsgid": omsgid,
        "oinfno": "2207"}})
    .to_string()
}

fn req(id: i64, code: &str, status: &str, input: &str, msgid: Option<&str>) -> Request {
    Request {
        id,
        interface_code: code.into(),
        status: status.into(),
        input: Some(input.into()),
        msgid: msgid.map(str::to_string),
        ..Request::default()
    }
}

fn completed(mut r: Request) -> Request {
    r.infcode = Some("0".into());
    r.has_response = true;
    r
}

fn attempt(request_id: i64, msgid: &str) -> Attempt {
    Attempt {
        request_id,
        msgid: msgid.into(),
        start_time: "2026-11-24 10:00:00.000".into(),
        outcome: "SUCCESS".into(),
        late_s: None,
    }
}

fn applied(infno: &str, msgid: &str, input: &str) -> Applied {
    Applied {
        infno: infno.into(),
        msgid: msgid.into(),
        input: input.into(),
    }
}

/// A consistent run: a settlement, an uncertain one, a read-only call retried, a poisoned
/// row, a cancelled row, a reversed settlement with its 2601, an expired row.
fn good() -> (Snapshot, Facts) {
    let mut reversed = req(6, "2207", "REVERSED", &settle(6), Some("A6"));
    reversed.reversal_id = Some(7);
    let mut poisoned = req(4, "2207", "ERROR", "", None);
    poisoned.input = None;
    poisoned.err_msg = Some("input_data 不是文本".into());
    let mut cancelled = req(5, "2207", "ERROR", &settle(5), None);
    cancelled.err_msg = Some("已取消".into());
    let mut expired = req(8, "2207", "ERROR", &settle(8), None);
    expired.expires_at = Some("2026-11-24 09:59:00".into());
    let mut on_time = attempt(2, "A2");
    on_time.late_s = Some(-3.0);
    let s = Snapshot {
        requests: vec![
            completed(req(1, "2207", "COMPLETED", &settle(1), Some("A1"))),
            req(2, "2207", "UNCERTAIN", &settle(2), Some("A2")),
            completed(req(3, "1101", "COMPLETED", "{}", Some("A3b"))),
            poisoned,
            cancelled,
            reversed,
            completed(req(7, "2601", "COMPLETED", &reversal_of("A6"), Some("A7"))),
            expired,
        ],
        attempts: vec![
            attempt(1, "A1"),
            on_time,
            attempt(3, "A3a"),
            attempt(3, "A3b"),
            attempt(6, "A6"),
            attempt(7, "A7"),
        ],
        applied: vec![
            applied("2207", "A1", &settle(1)),
            applied("2207", "A2", &settle(2)),
            applied("1101", "A3a", "{}"),
            applied("1101", "A3b", "{}"),
            applied("2207", "A6", &settle(6)),
            applied("2601", "A7", &reversal_of("A6")),
        ],
    };
    let f = Facts {
        known_ids: (1..=8).collect(),
        poisoned: [4].into(),
        cancelled: [(5, Some(0))].into(),
        superseded: BTreeMap::new(),
    };
    (s, f)
}

fn broken(s: &Snapshot, f: &Facts) -> Vec<u8> {
    let mut v: Vec<u8> = check(s, f).iter().map(|v| v.invariant).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn request_mut(s: &mut Snapshot, id: i64) -> &mut Request {
    s.requests
        .iter_mut()
        .find(|r| r.id == id)
        .expect("fixture row")
}

#[test]
fn a_consistent_run_passes() {
    let (s, f) = good();
    assert_eq!(check(&s, &f), vec![]);
}

#[test]
fn one_settlement_applied_twice_breaks_1() {
    let (mut s, mut f) = good();
    // The cashier's second row for the same key, also applied.
    s.requests.push(completed(req(
        9,
        "2207",
        "COMPLETED",
        &settle(1),
        Some("A9"),
    )));
    s.attempts.push(attempt(9, "A9"));
    s.applied.push(applied("2207", "A9", &settle(1)));
    f.known_ids.insert(9);
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![1], "{v:?}");
    assert!(v[0].detail.contains("2207:M1/C1"), "{v:?}");
    assert!(v[0].detail.contains("request 9"), "{v:?}");
}

#[test]
fn one_original_reversed_twice_breaks_1() {
    let (mut s, f) = good();
    s.requests.push(completed(req(
        10,
        "2601",
        "COMPLETED",
        &reversal_of("A6"),
        Some("A10"),
    )));
    s.attempts.push(attempt(10, "A10"));
    s.applied.push(applied("2601", "A10", &reversal_of("A6")));
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![1], "{v:?}");
    assert!(v[0].detail.contains("omsgid=A6"), "{v:?}");
}

#[test]
fn a_completed_settlement_the_platform_never_applied_breaks_2() {
    let (mut s, f) = good();
    s.applied.retain(|a| a.msgid != "A1");
    assert_eq!(broken(&s, &f), vec![2]);
}

#[test]
fn a_completed_settlement_applied_under_two_msgids_breaks_2() {
    let (mut s, f) = good();
    s.attempts.push(attempt(1, "A1b"));
    s.applied.push(applied("2207", "A1b", &settle(1)));
    assert_eq!(broken(&s, &f), vec![1, 2]);
}

#[test]
fn a_completed_settlement_without_its_response_breaks_2() {
    let (mut s, f) = good();
    let r = request_mut(&mut s, 1);
    r.has_response = false;
    r.infcode = None;
    assert_eq!(broken(&s, &f), vec![2]);
    let (mut s, f) = good();
    request_mut(&mut s, 1).infcode = Some("-1".into());
    assert_eq!(broken(&s, &f), vec![2]);
}

#[test]
fn a_completed_row_whose_msgid_is_not_the_applied_one_breaks_2() {
    let (mut s, f) = good();
    s.attempts.push(attempt(1, "A1c"));
    request_mut(&mut s, 1).msgid = Some("A1c".into());
    assert_eq!(broken(&s, &f), vec![2]);
}

#[test]
fn an_applied_settlement_recorded_as_error_is_a_lost_settlement_breaks_3() {
    let (mut s, f) = good();
    request_mut(&mut s, 2).status = "ERROR".into();
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![3], "{v:?}");
    assert!(v[0].detail.contains("A2"), "{v:?}");
}

#[test]
fn an_applied_msgid_no_attempt_recorded_breaks_3() {
    let (mut s, f) = good();
    s.applied.push(applied("2201", "GHOST", "{\"data\":{}}"));
    assert_eq!(broken(&s, &f), vec![3]);
}

#[test]
fn read_only_calls_may_be_applied_more_than_once() {
    let (mut s, f) = good();
    request_mut(&mut s, 3).status = "ERROR".into();
    assert_eq!(check(&s, &f), vec![]);
}

#[test]
fn an_uncertain_row_without_attempts_breaks_4() {
    let (mut s, f) = good();
    s.requests
        .push(req(11, "2207", "UNCERTAIN", &settle(11), None));
    assert_eq!(broken(&s, &f), vec![4]);
}

#[test]
fn pending_or_processing_at_quiescence_breaks_5() {
    for status in ["PENDING", "PROCESSING"] {
        let (mut s, f) = good();
        request_mut(&mut s, 8).status = status.into();
        assert_eq!(broken(&s, &f), vec![5], "{status}");
    }
}

#[test]
fn a_lost_row_breaks_6() {
    let (mut s, f) = good();
    s.requests.retain(|r| r.id != 8);
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![6]);
    assert!(v[0].detail.contains("request 8"), "{v:?}");
}

#[test]
fn a_poisoned_row_that_did_not_end_error_with_a_reason_breaks_6() {
    let (mut s, f) = good();
    request_mut(&mut s, 4).err_msg = None;
    assert_eq!(broken(&s, &f), vec![6]);
    let (mut s, f) = good();
    request_mut(&mut s, 4).status = "PENDING".into();
    assert_eq!(broken(&s, &f), vec![5, 6]);
}

#[test]
fn a_cancelled_row_sent_afterwards_breaks_6() {
    let (mut s, f) = good();
    s.attempts.push(attempt(5, "A5"));
    assert_eq!(broken(&s, &f), vec![6]);
    // Applied, and ended as if nothing happened: also a lost settlement.
    s.applied.push(applied("2207", "A5", &settle(5)));
    assert_eq!(broken(&s, &f), vec![3, 6]);
    let (mut s, f) = good();
    request_mut(&mut s, 5).status = "COMPLETED".into();
    assert!(broken(&s, &f).contains(&6));
}

#[test]
fn a_superseded_row_sent_afterwards_breaks_6() {
    let (mut s, mut f) = good();
    f.superseded.insert(8, Some(0));
    assert_eq!(check(&s, &f), vec![]);
    s.attempts.push(attempt(8, "A8"));
    assert_eq!(broken(&s, &f), vec![6]);
}

#[test]
fn an_attempt_started_after_expires_at_breaks_6() {
    let (mut s, f) = good();
    let mut late = attempt(8, "A8");
    late.late_s = Some(2.5);
    s.attempts.push(late);
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![6], "{v:?}");
    assert!(v[0].detail.contains("2.500 s after expires_at"), "{v:?}");
    // Within the store's own two-statement slack: not a violation.
    let (mut s, f) = good();
    let mut close = attempt(8, "A8");
    close.late_s = Some(0.01);
    s.attempts.push(close);
    assert_eq!(check(&s, &f), vec![]);
}

#[test]
fn business_keys() {
    assert_eq!(
        business_key("2207", &settle(3)).as_deref(),
        Some("2207:M3/C3")
    );
    assert_eq!(
        business_key("2601", &reversal_of("X")).as_deref(),
        Some("2601:omsgid=X")
    );
    let fee = r#"{"feedetail":[{"feedetl_sn":"F1"},{"feedetl_sn":"F2"}]}"#;
    assert_eq!(business_key("2204", fee).as_deref(), Some("2204:F1,F2"));
    let reg = r#"{"data":{"psn_no":"P","ipt_otp_no":"O"}}"#;
    assert_eq!(business_key("2201", reg).as_deref(), Some("2201:P/O"));
    assert_eq!(business_key("1101", "{}"), None);
    assert_eq!(business_key("9001", "{}"), None);
    // Unknown shapes and codes: the whole input is the key; not JSON at all still is one.
    assert_eq!(business_key("2208", "{}").as_deref(), Some("2208:{}"));
    assert_eq!(business_key("2207", "\u{1}").as_deref(), Some("2207:\u{1}"));
    assert!(is_state_changing("9002"));
    assert!(is_state_changing("4101A"));
    assert!(!is_state_changing("5201"));
    assert!(!is_state_changing("1312"));
}

#[test]
fn a_reversed_row_whose_2601_never_reached_the_platform_breaks_7() {
    let (mut s, f) = good();
    s.applied.retain(|a| a.msgid != "A7");
    // (The 2601 row itself is then COMPLETED but unapplied: 2 fires as well.)
    assert_eq!(broken(&s, &f), vec![2, 7]);
    let (mut s, f) = good();
    request_mut(&mut s, 7).status = "UNCERTAIN".into();
    assert_eq!(broken(&s, &f), vec![7]);
    let (mut s, f) = good();
    request_mut(&mut s, 6).reversal_id = None;
    assert_eq!(broken(&s, &f), vec![7]);
}

#[test]
fn a_reversed_row_whose_2601_undid_another_msgid_breaks_7() {
    let (mut s, f) = good();
    for a in s.applied.iter_mut().filter(|a| a.msgid == "A7") {
        a.input = reversal_of("A1");
    }
    let v = check(&s, &f);
    assert_eq!(broken(&s, &f), vec![7], "{v:?}");
}

#[test]
fn an_err_msg_saying_its_detail_twice_breaks_8() {
    let (mut s, f) = good();
    let why = "平台返回业务错误 -1：经办人未签到 / business error -1";
    request_mut(&mut s, 4).err_msg = Some(format!("签到失败：{why} / sign-in failed: {why}"));
    assert_eq!(broken(&s, &f), vec![8]);
    let (mut s, f) = good();
    request_mut(&mut s, 4).err_msg = Some("the request row cannot be read".into());
    assert_eq!(broken(&s, &f), vec![8]);
}
