//! `[[schedule]]` with real brokers on one store: a slot is run by exactly one broker, and
//! a job whose broker was killed in the middle is taken over — the same row, not a second
//! run — once its lease has passed.

use std::time::Duration;

use yibao::{run_shim, stderr, wait_until, Env, Options};

/// A schedule whose one slot is the current minute (UTC and Beijing minutes agree), kept
/// for an hour by `catch_up_minutes`: exactly one slot for the whole test, whenever the
/// brokers' 10-second ticks fall.
fn schedule() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "\n[[schedule]]\nname = \"catalog-1303\"\ncron = \"{} * * * *\"\nkind = \"catalog-download\"\n\
         params = {{ catalog = \"1303\" }}\ncatch_up_minutes = 60\n",
        (now / 60) % 60
    )
}

/// (job_id, slot, status, claim_gen, worker_id) of every job the schedule made, oldest first.
fn scheduled(env: &Env) -> Vec<(i64, String, String, i64, String)> {
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT job_id, slot, status, claim_gen, COALESCE(worker_id, '') FROM medical_insurance_jobs \
             WHERE schedule_name = 'catalog-1303' ORDER BY job_id",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn job_error(env: &Env, job_id: i64) -> Option<String> {
    env.db()
        .query_row(
            "SELECT err_msg FROM medical_insurance_jobs WHERE job_id = ?1",
            [job_id],
            |r| r.get(0),
        )
        .unwrap()
}

fn catalog_rows(env: &Env) -> i64 {
    env.db()
        .query_row(
            "SELECT COUNT(*) FROM medical_insurance_catalog_rows WHERE catalog_code = '1303'",
            [],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn two_brokers_with_one_schedule_run_each_slot_once() {
    let mut env = Env::start_with(Options {
        extra_toml: schedule(),
        ..Options::default()
    });
    env.start_another_broker();
    wait_until(
        "the first slot's job ended",
        Duration::from_secs(60),
        || {
            scheduled(&env)
                .first()
                .is_some_and(|j| j.2 == "COMPLETED" || j.2 == "ERROR")
        },
    );
    let first = scheduled(&env)[0].clone();
    assert_eq!(first.2, "COMPLETED", "{:?}", job_error(&env, first.0));
    // Let both schedulers look at the clock a few more times (they tick every 10 s): the
    // slot is still in its catch-up window, and neither records or runs it again.
    std::thread::sleep(Duration::from_secs(12));
    let jobs = scheduled(&env);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(env.mock_count("1303"), 1, "the job ran once: {jobs:?}");
    assert_eq!(jobs[0].3, 1, "claimed once: {jobs:?}");
    assert_eq!(catalog_rows(&env), 500);
}

#[cfg(unix)]
#[test]
fn a_job_whose_broker_died_is_taken_over_not_run_twice() {
    let mut env = Env::start_with(Options {
        extra_toml: schedule(),
        // Long enough that the first broker is killed while its 1303 still hangs (not
        // after a timeout and a retry that would finish the job itself).
        request_timeout_ms: 8_000,
        lease_ms: 16_000,
        ..Options::default()
    });
    // The platform hangs on the first 1303 while the broker holding the job is killed.
    env.add_fault(serde_json::json!({"infno": "1303", "kind": "hang", "ms": 30000, "times": 1}));
    wait_until(
        "the job's 1303 is in the platform's hands",
        Duration::from_secs(30),
        || scheduled(&env).first().is_some_and(|j| j.2 == "RUNNING") && env.mock_count("1303") >= 1,
    );
    env.kill_broker_hard();
    let first = scheduled(&env)[0].clone();
    let other = env.start_another_broker();
    wait_until(
        "the job was taken over and finished",
        Duration::from_secs(60),
        || {
            scheduled(&env)
                .iter()
                .any(|j| j.0 == first.0 && j.2 == "COMPLETED")
        },
    );
    let now = scheduled(&env);
    let taken = now.iter().find(|j| j.0 == first.0).unwrap();
    assert_eq!(taken.3, 2, "the same row claimed a second time: {now:?}");
    assert_ne!(taken.4, first.4, "by the other broker: {now:?}");
    assert_eq!(now.len(), 1, "one slot, one job: {now:?}");
    assert_eq!(catalog_rows(&env), 500, "the catalog was loaded once");
    let out = run_shim(&other, &["job", &first.0.to_string()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
