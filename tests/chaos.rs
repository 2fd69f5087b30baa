//! The broker is killed (SIGKILL) at random moments while 1,000 mixed requests flow, and
//! restarted. Afterwards every request is terminal, none is missing, and the simulator's
//! applied-log shows no state-changing request applied twice.
#![cfg(unix)]

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use yibao::{person_input, register_input, settle_input, Env, Options};

const N: u32 = 1_000;

fn input(i: u32) -> (&'static str, String) {
    match i % 3 {
        0 => ("1101", person_input(i)),
        1 => ("2207", settle_input(i)),
        _ => ("2201", register_input(i)),
    }
}

#[test]
fn sigkill_three_times_loses_nothing_and_applies_nothing_twice() {
    let mut env = Env::start_with(Options {
        poll_interval_ms: 20,
        request_timeout_ms: 1_000,
        lease_ms: 2_000,
        recover_interval_ms: 200,
        ..Options::default()
    });
    // Every call takes a little while, so kills land in the middle of work.
    env.add_fault(json!({"infno": "*", "kind": "delay", "ms": 15}));
    let ids: Vec<i64> = (0..N)
        .map(|i| {
            let (code, data) = input(i);
            env.insert(code, &data)
        })
        .collect();
    for round in 0..3u64 {
        // Pseudo-random moments, reproducible per round.
        std::thread::sleep(Duration::from_millis(150 + (round * 97) % 200));
        env.kill_broker_hard();
        env.start_broker();
    }

    yibao::wait_until("every request terminal", Duration::from_secs(120), || {
        env.db()
            .query_row(
                "SELECT COUNT(*) FROM medical_insurance_requests WHERE status IN ('PENDING', 'PROCESSING')",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 0
    });

    // None missing: each inserted id is there and terminal, with a status the HIS knows.
    let db = env.db();
    let mut by_status: HashMap<String, u32> = HashMap::new();
    for id in &ids {
        let (status, msgid): (String, Option<String>) = db
            .query_row(
                "SELECT status, msgid FROM v_medical_insurance_result WHERE request_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if status == "UNCERTAIN" {
            assert!(
                msgid.is_some(),
                "an UNCERTAIN request names the msgid that was sent"
            );
        }
        *by_status.entry(status).or_default() += 1;
    }
    assert_eq!(by_status.values().sum::<u32>(), N);
    assert!(
        by_status
            .keys()
            .all(|s| s == "COMPLETED" || s == "UNCERTAIN"),
        "{by_status:?}"
    );
    assert!(
        by_status.get("COMPLETED").copied().unwrap_or(0) > N / 2,
        "{by_status:?}"
    );

    // Applied at most once: no state-changing business request reached the platform twice.
    let mut applied: HashMap<(String, String), u32> = HashMap::new();
    for a in env.mock_applied() {
        let infno = a["infno"].as_str().unwrap().to_string();
        if infno == "2207" || infno == "2201" {
            *applied
                .entry((infno, a["input"].as_str().unwrap().to_string()))
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = applied.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "applied twice: {twice:?}");
    eprintln!("after 3 SIGKILLs: {by_status:?}");
}
