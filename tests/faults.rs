//! Faults injected into the real simulator; the broker must classify every one correctly.

use std::time::Duration;

use serde_json::json;
use yibao::{person_input, settle_input, stdout, Env, Options};

fn applied(env: &Env, infno: &str) -> usize {
    env.mock_applied()
        .iter()
        .filter(|a| a["infno"] == infno)
        .count()
}

fn warm(env: &Env) {
    let id = env.insert("1101", &person_input(900));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
}

#[test]
fn a_2207_timeout_is_uncertain_and_never_resent() {
    let env = Env::start_with(Options {
        request_timeout_ms: 400,
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "2207", "kind": "hang", "ms": 1500, "times": 1}));
    let id = env.insert("2207", &settle_input(1));
    let out = env.shim(&["run", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "UNCERTAIN");
    assert!(row.msgid.is_some(), "the msgid that was sent is visible");
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(applied(&env, "2207"), 1, "applied once, never resent");
}

#[test]
fn read_only_survives_thirty_percent_5xx() {
    let env = Env::start_with(Options {
        retry_max_attempts: 12,
        retry_base_delay_ms: 5,
        retry_max_delay_ms: 20,
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "1101", "kind": "http500", "rate": 0.3}));
    let ids: Vec<i64> = (0..60)
        .map(|i| env.insert("1101", &person_input(i)))
        .collect();
    for id in &ids {
        let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stdout(&out));
    }
    let total: usize = ids.iter().map(|id| env.attempt_outcomes(*id).len()).sum();
    assert!(
        total > ids.len(),
        "some attempts failed and were retried ({total})"
    );
}

#[test]
fn invalid_sign_no_leads_to_one_new_sign_in() {
    let env = Env::start();
    warm(&env);
    env.add_fault(json!({"infno": "1101", "kind": "invalid_sign_no", "times": 1}));
    let id = env.insert("1101", &person_input(1));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.attempt_outcomes(id), vec!["BUSINESS_ERROR", "SUCCESS"]);
    assert_eq!(env.mock_count("9001"), 2);
}

#[test]
fn garbage_replies_are_classified_and_the_broker_keeps_serving() {
    let env = Env::start();
    warm(&env);
    env.add_fault(json!({"infno": "1101", "kind": "garbage", "times": 1}));
    let id = env.insert("1101", &person_input(2));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR", "SUCCESS"]);

    env.add_fault(json!({"infno": "2207", "kind": "garbage", "times": 1}));
    let id = env.insert("2207", &settle_input(2));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    let row = env.view(id);
    assert_eq!(row.status, "UNCERTAIN");
    assert!(row.err_msg.unwrap().contains("502 Bad Gateway"));

    env.add_fault(json!({"infno": "2201", "kind": "http500", "times": 1}));
    let id = env.insert("2201", &yibao::register_input(1));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    assert_eq!(applied(&env, "2201"), 0);
    assert_eq!(env.shim(&["ping"]).status.code(), Some(0));
}

/// Operator reversal of an UNCERTAIN settlement: one 2601 naming the msgid that was sent.
#[test]
fn reverse_command_sends_one_2601_with_the_right_omsgid() {
    let env = Env::start_with(Options {
        request_timeout_ms: 400,
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "2207", "kind": "hang", "ms": 1000, "times": 1}));
    let id = env.insert("2207", &settle_input(3));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    let sent = env.view(id).msgid.expect("msgid");

    // Not every request may be reversed.
    let q = env.insert("1101", &person_input(3));
    assert_eq!(env.shim(&["run", &q.to_string()]).status.code(), Some(0));
    let out = env.shim(&["reverse", &q.to_string()]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));

    let out = env.shim(&["reverse", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("status=REVERSED"), "{}", stdout(&out));
    assert_eq!(env.view(id).status, "REVERSED");
    let reversals: Vec<_> = env
        .mock_applied()
        .into_iter()
        .filter(|a| a["infno"] == "2601")
        .collect();
    assert_eq!(reversals.len(), 1);
    let input: serde_json::Value =
        serde_json::from_str(reversals[0]["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["data"]["omsgid"], sent.as_str());
    assert_eq!(input["data"]["oinfno"], "2207");
    assert_eq!(input["data"]["psn_no"], "43000000000000000001");
    // A REVERSED request is not reversed again: asking answers its state, sends nothing.
    let again = env.shim(&["reverse", &id.to_string()]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("status=REVERSED"),
        "{}",
        stdout(&again)
    );
    assert_eq!(env.mock_count("2601"), 1);
}

/// The `reverse` policy does the same by itself.
#[test]
fn reverse_policy_reverses_uncertain_settlements_automatically() {
    let env = Env::start_with(Options {
        request_timeout_ms: 400,
        interfaces_toml: "[interfaces.2207]\non_uncertain = \"reverse\"\n".into(),
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "2207", "kind": "hang", "ms": 1000, "times": 1}));
    let id = env.insert("2207", &settle_input(4));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    yibao::wait_until("the settlement REVERSED", Duration::from_secs(10), || {
        env.view(id).status == "REVERSED"
    });
    assert_eq!(applied(&env, "2601"), 1);
}

/// The policy covers a crash too: a settlement on the wire when the broker is killed is
/// made UNCERTAIN by recovery after the restart, and then reversed like any other.
#[cfg(unix)]
#[test]
fn reverse_policy_also_reverses_what_recovery_made_uncertain() {
    let mut env = Env::start_with(Options {
        request_timeout_ms: 800,
        lease_ms: 2_000,
        recover_interval_ms: 200,
        interfaces_toml: "[interfaces.2207]\non_uncertain = \"reverse\"\n".into(),
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "2207", "kind": "hang", "ms": 3000, "times": 1}));
    let id = env.insert("2207", &settle_input(5));
    let shim = env.spawn_shim(&["run", &id.to_string(), "--wait", "20"]);
    yibao::wait_until(
        "the settlement is being sent",
        Duration::from_secs(10),
        || env.attempt_outcomes(id).contains(&"SENDING".to_string()),
    );
    env.kill_broker_hard();
    let _ = shim.wait_with_output();
    env.start_broker();
    yibao::wait_until("the settlement REVERSED", Duration::from_secs(20), || {
        env.view(id).status == "REVERSED"
    });
    assert_eq!(applied(&env, "2601"), 1);
    assert_eq!(applied(&env, "2207"), 1);
}

/// The 2601 carries the 人员编号 from wherever the catalog says the interface keeps it:
/// 2204 sends a fee list, so it is `feedetail[*].psn_no`, not `data.psn_no`.
#[test]
fn a_reversal_finds_psn_no_where_the_catalog_says() {
    let env = Env::start_with(Options {
        request_timeout_ms: 400,
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "2204", "kind": "hang", "ms": 1000, "times": 1}));
    let fee = json!({"feedetail": [{"feedetl_sn": "1", "mdtrt_id": "M1", "psn_no": "43000000000000000777",
        "chrg_bchno": "C1", "rx_circ_flag": "0", "fee_ocur_time": "2026-11-24 09:00:00",
        "med_list_codg": "X", "medins_list_codg": "Y", "det_item_fee_sumamt": 10, "cnt": 1,
        "pric": 10, "bilg_dept_codg": "D", "bilg_dept_name": "内科", "bilg_dr_codg": "R",
        "bilg_dr_name": "医生"}]});
    let id = env.insert("2204", &fee.to_string());
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    let out = env.shim(&["reverse", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let reversal = env
        .mock_applied()
        .into_iter()
        .find(|a| a["infno"] == "2601")
        .expect("a 2601 was applied");
    let input: serde_json::Value =
        serde_json::from_str(reversal["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["data"]["psn_no"], "43000000000000000777");
    assert_eq!(input["data"]["oinfno"], "2204");
}

/// A connection broken after the platform applied the call: read-only is retried, a
/// settlement becomes UNCERTAIN and is not resent.
#[test]
fn a_reset_mid_reply_is_retried_or_uncertain_by_class() {
    let env = Env::start();
    warm(&env);
    env.add_fault(json!({"infno": "1101", "kind": "reset", "times": 1}));
    let id = env.insert("1101", &person_input(5));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR", "SUCCESS"]);

    env.add_fault(json!({"infno": "2207", "kind": "reset", "times": 1}));
    let id = env.insert("2207", &settle_input(5));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR"]);
    assert_eq!(applied(&env, "2207"), 1);

    // Broken before the platform applied it: the broker cannot tell, so it is UNCERTAIN too.
    env.add_fault(json!({"infno": "2207", "kind": "reset_before", "times": 1}));
    let id = env.insert("2207", &settle_input(6));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    assert_eq!(applied(&env, "2207"), 1, "nothing new applied");
}

/// A site may reclassify an interface; the retry rule follows the configured class.
#[test]
fn configured_class_decides_the_retry_rule() {
    let env = Env::start_with(Options {
        interfaces_toml: "[interfaces.1101]\nclass = \"state-changing\"\n".into(),
        ..Options::default()
    });
    warm(&env);
    env.add_fault(json!({"infno": "1101", "kind": "http500", "times": 1}));
    let id = env.insert("1101", &person_input(6));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(2));
    assert_eq!(env.view(id).status, "UNCERTAIN");
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR"]);
}
