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
