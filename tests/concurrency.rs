//! Many stored procedures at once: every shim gets its answer, every attempt its own msgid.

use std::collections::HashSet;

use yibao::{person_input, stderr, stdout, Env};

#[test]
fn two_hundred_concurrent_shims() {
    const N: u32 = 200;
    let env = Env::start();
    let ids: Vec<i64> = (0..N)
        .map(|i| env.insert("1101", &person_input(100 + i)))
        .collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| env.spawn_shim(&["run", &id.to_string(), "--wait", "60"]))
        .collect();
    for (id, child) in ids.iter().zip(children) {
        let out = child.wait_with_output().expect("shim");
        assert_eq!(
            out.status.code(),
            Some(0),
            "request {id}: {} / {}",
            stdout(&out),
            stderr(&out)
        );
    }
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT status, msgid FROM v_medical_insurance_result \
             WHERE interface_code = '1101' ORDER BY request_id",
        )
        .unwrap();
    let rows: Vec<(String, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), N as usize);
    assert!(rows.iter().all(|(s, _)| s == "COMPLETED"), "{rows:?}");
    let msgids: HashSet<_> = rows.iter().filter_map(|(_, m)| m.clone()).collect();
    assert_eq!(msgids.len(), N as usize, "distinct msgids");
    // The simulator agrees: it saw every call once and never a repeated msgid.
    assert_eq!(env.mock_count("1101"), u64::from(N));
    assert_eq!(env.mock_stats()["duplicate_msgids"], 0);
    assert_eq!(env.mock_count("9001"), 1, "single-flight sign-in");
}

/// Two broker processes on one SQLite file are competing consumers: every row is processed
/// by exactly one of them, once.
#[test]
fn two_brokers_on_one_database_never_process_the_same_row() {
    const ROWS: u32 = 300;
    let mut env = Env::start_with(yibao::Options {
        poll_interval_ms: 10,
        ..yibao::Options::default()
    });
    env.start_another_broker();
    // Each call takes at least 20 ms, so 300 rows keep one broker's 16 workers busy for
    // ~400 ms: long enough that the other broker's 10 ms poll always finds work too, even on
    // a loaded machine (with 5 ms one broker once took everything).
    env.add_fault(serde_json::json!({"infno": "*", "kind": "delay", "ms": 20}));
    let ids: Vec<i64> = (0..ROWS)
        .map(|i| env.insert("1101", &person_input(2000 + i)))
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let done: i64 = env
            .db()
            .query_row(
                "SELECT COUNT(*) FROM medical_insurance_requests WHERE interface_code = '1101' AND status = 'COMPLETED'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if done == i64::from(ROWS) {
            break;
        }
        if std::time::Instant::now() > deadline {
            let db = env.db();
            let mut st = db
                .prepare(
                    "SELECT r.request_id, r.status, r.worker_id, r.lease_until, r.last_error, \
                     (SELECT group_concat(a.outcome || ':' || a.worker_id) FROM medical_insurance_attempts a WHERE a.request_id = r.request_id) \
                     FROM medical_insurance_requests r WHERE r.interface_code = '1101' AND r.status <> 'COMPLETED'",
                )
                .unwrap();
            let stuck: Vec<String> = st
                .query_map([], |r| {
                    Ok(format!(
                        "{:?}",
                        (
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<i64>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                            r.get::<_, Option<String>>(5)?
                        )
                    ))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            panic!("only {done} completed; not completed: {stuck:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let db = env.db();
    let workers: HashSet<String> = ids
        .iter()
        .map(|id| {
            let (n, w): (i64, String) = db
                .query_row(
                    "SELECT COUNT(*), MAX(worker_id) FROM medical_insurance_attempts WHERE request_id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(n, 1, "request {id} was attempted {n} times");
            w
        })
        .collect();
    assert_eq!(workers.len(), 2, "both brokers took work: {workers:?}");
    assert_eq!(env.mock_count("1101"), u64::from(ROWS));
    assert_eq!(env.mock_stats()["duplicate_msgids"], 0);
}
