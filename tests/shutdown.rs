//! Graceful shutdown: SIGTERM stops accepting, lets in-flight work finish, leaves the rest
//! PENDING for the next start, and the next start picks it up.
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use yibao::{person_input, Env, Options};

/// Sends SIGTERM to the broker and waits for it to exit cleanly.
fn terminate(env: &mut Env) {
    let pid = env.broker_pid().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = env
        .wait_broker_exit(Duration::from_secs(15))
        .expect("broker exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn sigterm_stops_cleanly_and_pending_work_survives_a_restart() {
    let mut env = Env::start_with(Options {
        poll_interval_ms: 600_000,
        poll_min_ms: 600_000,
        ..Options::default()
    });
    // Left PENDING: the slow poller will not see it before the stop.
    let id = env.insert("1101", &person_input(31));
    terminate(&mut env);
    assert!(
        !std::path::Path::new(&format!("/tmp/{}.sock", env.pipe)).exists(),
        "socket file removed"
    );
    assert_eq!(env.view(id).status, "PENDING");
    assert_eq!(env.shim(&["ping"]).status.code(), Some(3));

    env.start_broker();
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(env.view(id).status, "COMPLETED");
}

#[test]
fn sign_out_on_shutdown_sends_one_9002_per_operator() {
    let mut env = Env::start_with(Options {
        sign_out_on_shutdown: true,
        ..Options::default()
    });
    let id = env.insert("1101", &person_input(32));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    terminate(&mut env);
    assert_eq!(env.mock_count("9002"), 1);
    let signed_out: i64 = env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM v_medical_insurance_result WHERE interface_code = '9002' AND status = 'COMPLETED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(signed_out, 1, "the sign-out is audited");
}

/// A call in flight when SIGTERM arrives is finished (within shutdown_grace_ms) before the
/// broker exits, its caller gets the answer (not "connection lost", which would read as
/// uncertain), and rows nobody claimed yet stay PENDING.
#[test]
fn sigterm_drains_in_flight_calls_and_leaves_the_rest_pending() {
    let mut env = Env::start_with(Options {
        poll_interval_ms: 600_000,
        poll_min_ms: 600_000,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(50));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.add_fault(serde_json::json!({"infno": "1101", "kind": "delay", "ms": 1500, "times": 1}));
    let busy = env.insert("1101", &person_input(51));
    // Not due for a day: whatever wakes the dispatcher before SIGTERM (the warm-up's finish,
    // the busy call's kick) cannot claim it, so "left PENDING" is about shutdown, not timing.
    let untouched = env.insert("1101", &person_input(52));
    env.db()
        .execute(
            "UPDATE medical_insurance_requests SET next_attempt_at = ?1 WHERE request_id = ?2",
            rusqlite::params![i64::MAX / 2, untouched],
        )
        .unwrap();
    let shim = env.spawn_shim(&["run", &busy.to_string(), "--wait", "20"]);
    yibao::wait_until("the busy call started", Duration::from_secs(10), || {
        env.view(busy).status == "PROCESSING"
    });
    terminate(&mut env);
    assert_eq!(
        env.view(busy).status,
        "COMPLETED",
        "the in-flight call was finished"
    );
    assert_eq!(
        env.view(untouched).status,
        "PENDING",
        "unclaimed work waits for the next start"
    );
    let out = shim.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", yibao::stdout(&out));
    assert!(yibao::stdout(&out).contains("status=COMPLETED"));
}
