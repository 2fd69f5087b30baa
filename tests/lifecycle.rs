//! The lifecycle under faults: retries by interface class, re-sign-in, and recovery of rows
//! a dead broker left behind. Real processes; faults made by stopping and restarting them.

use std::time::Duration;

use yibao::{person_input, settle_input, stdout, Env, Options};

/// 2207 while the platform refuses connections: provably not sent, so it is retried; when
/// the platform comes back (as a fresh process that forgot every sign-in) the broker signs
/// in again once and the settlement is applied exactly once.
#[test]
fn refused_2207_is_retried_and_completes_once_the_platform_is_back() {
    let mut env = Env::start_with(Options {
        retry_max_attempts: 40,
        retry_base_delay_ms: 50,
        retry_max_delay_ms: 100,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(50));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.stop_mock();
    let id = env.insert("2207", &settle_input(1));
    let child = env.spawn_shim(&["run", &id.to_string(), "--wait", "30"]);
    // The platform is restarted only once the broker has met it down.
    yibao::wait_until("a failed attempt", Duration::from_secs(10), || {
        !env.attempt_outcomes(id).is_empty()
    });
    env.restart_mock();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let outcomes = env.attempt_outcomes(id);
    assert!(outcomes.len() >= 3, "{outcomes:?}");
    assert_eq!(outcomes.last().map(String::as_str), Some("SUCCESS"));
    assert!(
        outcomes.contains(&"TRANSPORT_ERROR".to_string()),
        "{outcomes:?}"
    );
    // The restarted platform refused the stale sign_no once; then one fresh 9001.
    assert!(
        outcomes.contains(&"BUSINESS_ERROR".to_string()),
        "{outcomes:?}"
    );
    assert_eq!(env.mock_count("9001"), 1);
    let successes = outcomes.iter().filter(|o| *o == "SUCCESS").count();
    assert_eq!(successes, 1);
}

/// A read-only query retries even failures after sending, within the budget; when the
/// budget is spent it ends ERROR with the transport reason.
#[test]
fn read_only_retries_are_bounded() {
    let mut env = Env::start_with(Options {
        retry_max_attempts: 3,
        retry_base_delay_ms: 20,
        retry_max_delay_ms: 40,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(51));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.stop_mock();
    let id = env.insert("1101", &person_input(52));
    let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR"; 3]);
    let attempts: std::collections::HashSet<String> = {
        let db = env.db();
        let mut st = db
            .prepare("SELECT msgid FROM medical_insurance_attempts WHERE request_id = ?1")
            .unwrap();
        st.query_map([id], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(attempts.len(), 3, "each attempt has its own msgid");
}

/// Rows a killed broker held: nothing sent → run again; a state-changing call with an
/// attempt on record → UNCERTAIN naming its msgid, never resent. (Rows as a killed yibao
/// broker leaves them: a worker and a claim generation on record.)
#[test]
fn expired_leases_are_recovered_at_start_by_class() {
    let mut env = Env::start();
    let pid = env.broker_pid().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
    env.wait_broker_exit(Duration::from_secs(10))
        .expect("killed");

    let unsent = env.insert("2207", &settle_input(1));
    let sent = env.insert("2207", &settle_input(1));
    let read = env.insert("1101", &person_input(53));
    let db = env.db();
    db.execute(
        "UPDATE medical_insurance_requests SET status = 'PROCESSING', worker_id = 'dead-1', \
         lease_until = 1, claim_gen = 1 WHERE request_id IN (?1, ?2, ?3)",
        [unsent, sent, read],
    )
    .unwrap();
    for id in [sent, read] {
        db.execute(
            "INSERT INTO medical_insurance_attempts (request_id, attempt_no, infno, msgid, worker_id) \
             SELECT request_id, 1, interface_code, 'H4301000000120261124000000' || request_id, 'dead-1' \
             FROM medical_insurance_requests WHERE request_id = ?1",
            [id],
        )
        .unwrap();
    }
    env.start_broker();

    let out = env.shim(&["wait", &sent.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let row = env.view(sent);
    assert_eq!(row.status, "UNCERTAIN");
    assert!(
        row.err_msg
            .unwrap()
            .contains(&format!("H4301000000120261124000000{sent}")),
        "names the msgid"
    );
    for id in [unsent, read] {
        let out = env.shim(&["wait", &id.to_string(), "--wait", "10"]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}", stdout(&out));
    }
    // Only the unsent settlement reached the platform.
    assert_eq!(env.mock_count("2207"), 1);
}
