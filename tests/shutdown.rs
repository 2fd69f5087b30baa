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

/// Settlements applied by the simulator for `mdtrt_id` M<n>.
fn applied_settlements(env: &Env, n: u32) -> usize {
    let key = format!("\"mdtrt_id\":\"M{n}\"");
    env.mock_applied()
        .iter()
        .filter(|a| a["infno"] == "2207" && a["input"].as_str().is_some_and(|i| i.contains(&key)))
        .count()
}

/// SIGTERM while 60 cashiers wait on sync calls (`run` of 50 rows the HIS inserted, 10
/// `call`s; 4 workers, a slow platform): nobody is
/// told "outcome unknown" (exit 2). A call that completed during the drain answers 0; a
/// call never sent is refused as "shutting down" (exit 6) or cancelled (exit 1, "已取消"),
/// and the simulator's applied-log agrees with every answer.
#[test]
fn sigterm_answers_every_waiting_caller_with_the_truth() {
    let mut env = Env::start_with(Options {
        workers: 4,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(60));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.add_fault(serde_json::json!({"infno": "2207", "kind": "delay", "ms": 1500}));
    let rows: Vec<(u32, i64)> = (0..50)
        .map(|n| (700 + n, env.insert("2207", &yibao::settle_input(700 + n))))
        .collect();
    let mut shims: Vec<_> = rows
        .iter()
        .map(|(_, id)| env.spawn_shim(&["run", &id.to_string(), "--wait", "30"]))
        .collect();
    // Ten more as sync `call`s: the broker inserts those rows itself.
    let calls: Vec<u32> = (750..760).collect();
    for n in &calls {
        let file = env.dir.path().join(format!("settle-{n}.json"));
        std::fs::write(&file, yibao::settle_input(*n)).unwrap();
        let file = file.to_string_lossy().into_owned();
        shims.push(env.spawn_shim(&["call", "2207", "--input-file", &file, "--wait", "30"]));
    }
    yibao::wait_until(
        "four settlements in flight",
        Duration::from_secs(10),
        || {
            rows.iter()
                .filter(|(_, id)| env.view(*id).status == "PROCESSING")
                .count()
                >= 4
        },
    );
    // Every cashier must be waiting before the signal: a shim still starting (60 processes
    // on a loaded machine) connects after the listener is gone and is rightly told the
    // broker is not there, which is not what this test is about.
    let socket = yibao_proto::resolve_endpoint(&env.pipe);
    yibao::wait_until("every caller connected", Duration::from_secs(20), || {
        connections_to(&socket) >= shims.len()
    });
    std::thread::sleep(Duration::from_millis(200)); // accepted, not only in the backlog
    terminate(&mut env);
    let mut codes = std::collections::BTreeMap::new();
    let callers = rows.iter().copied().chain(calls.iter().map(|n| (*n, -1)));
    for (shim, (n, id)) in shims.into_iter().zip(callers) {
        let out = shim.wait_with_output().unwrap();
        let code = out.status.code().unwrap_or(-1);
        *codes.entry(code).or_insert(0) += 1;
        let said = format!("{} {}", yibao::stdout(&out), yibao::stderr(&out));
        let applied = applied_settlements(&env, n);
        match code {
            0 => assert_eq!(applied, 1, "request {id} answered done: {said}"),
            1 => {
                assert!(said.contains("已取消"), "request {id}: {said}");
                assert_eq!(applied, 0, "request {id} answered cancelled: {said}");
            }
            6 => {
                assert!(said.contains("ShuttingDown"), "request {id}: {said}");
                assert_eq!(applied, 0, "request {id} answered never sent: {said}");
            }
            other => panic!("request {id}: exit {other}, {said}"),
        }
    }
    eprintln!("exit codes: {codes:?}");
    assert!(codes.get(&0).copied().unwrap_or(0) >= 4, "{codes:?}");
}

/// SIGHUP (a closed terminal), SIGUSR1 and SIGUSR2 do not end the broker: it still answers,
/// and SIGTERM still drains and exits cleanly.
#[test]
fn stray_signals_are_ignored() {
    let mut env = Env::start();
    let pid = env.broker_pid().to_string();
    for sig in ["-HUP", "-USR1", "-USR2"] {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }
    let id = env.insert("1101", &person_input(70));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    assert!(env.broker_log().contains("SIGHUP"), "{}", env.broker_log());
    terminate(&mut env);
}

/// Connected sockets bound to `path` (Linux `/proc/net/unix`, state 03): the broker's side
/// of every connection to its socket; `usize::MAX` (no wait) where there is no such file.
fn connections_to(path: &str) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/net/unix") else {
        return usize::MAX;
    };
    table
        .lines()
        .filter(|l| l.ends_with(path))
        .filter(|l| l.split_whitespace().nth(5) == Some("03"))
        .count()
}
