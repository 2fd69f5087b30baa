//! Async: insert and return at once, let the broker work, read (or wait for) the result.

use std::time::Duration;

use yibao::{person_input, stderr, stdout, Env, Options};

#[test]
fn kick_then_wait() {
    let env = Env::start();
    let id = env.insert("1101", &person_input(11));
    let out = env.shim(&["kick", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("id={id} status=ACCEPTED"));
    let out = env.shim(&["wait", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("status=COMPLETED"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.view(id).status, "COMPLETED");
}

#[test]
fn async_call_returns_at_once_and_wait_sees_it_finish() {
    let env = Env::start();
    let out = env.shim_stdin(&["call", "1101", "-", "--async"], &person_input(12));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let id: i64 = text
        .strip_prefix("id=")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let out = env.shim(&["wait", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.view(id).status, "COMPLETED");
}

/// The pure T-SQL mode: no shim at all, the broker finds the row by polling.
#[test]
fn rows_inserted_by_sql_alone_are_found_by_polling() {
    let env = Env::start();
    let id = env.insert("1101", &person_input(13));
    yibao::wait_until("the request COMPLETED", Duration::from_secs(10), || {
        env.view(id).status == "COMPLETED"
    });
}

#[test]
fn a_wait_that_ends_first_exits_4() {
    // Wait on a row held by another (imaginary) broker, so it stays PROCESSING. Polling is
    // slowed down so this broker cannot claim the row before the test marks it.
    let env = Env::start_with(Options {
        poll_interval_ms: 600_000,
        poll_min_ms: 600_000,
        ..Options::default()
    });
    let id = env.insert("1101", &person_input(14));
    let held = env
        .db()
        .execute(
            "UPDATE medical_insurance_requests SET status = 'PROCESSING', worker_id = 'other', \
             lease_until = 9999999999999 WHERE request_id = ?1 AND status = 'PENDING'",
            [id],
        )
        .unwrap();
    assert_eq!(held, 1);
    let out = env.shim(&["run", &id.to_string(), "--wait", "0.3"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("status=PROCESSING"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("timed_out=1"), "{}", stdout(&out));
}
