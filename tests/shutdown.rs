//! Graceful shutdown: SIGTERM stops accepting, lets in-flight work finish, leaves the rest
//! PENDING for the next start, and the next start picks it up.
#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use yibao::{person_input, Env, Options};

#[test]
fn sigterm_stops_cleanly_and_pending_work_survives_a_restart() {
    let mut env = Env::start_with(Options {
        poll_interval_ms: 600_000,
        ..Options::default()
    });
    // Left PENDING: the slow poller will not see it before the stop.
    let id = env.insert("1101", &person_input(31));
    let pid = env.broker_pid().to_string();
    let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(ok.success());
    let status = env
        .wait_broker_exit(Duration::from_secs(15))
        .expect("broker exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
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
