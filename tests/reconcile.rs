//! 对账 with the real broker, shim and simulator: a day of settlements (and a cancellation)
//! balances; with differences planted on the platform's side, 3201 fails, the detail goes
//! up with 9101, 3202 answers, and each differing settlement is a row the HIS can query —
//! including the settlement a broker left UNCERTAIN, shown as applied by the platform.

use serde_json::{json, Value};
use yibao::{request_id_of, settle_input, stderr, stdout, Env};

/// A sync call through the shim; its request id, exit code and output.
fn call(env: &Env, infno: &str, input: &str) -> (i64, Option<i32>, Value) {
    let out = env.shim_stdin(&["call", infno, "-", "--wait", "60"], input);
    let id = request_id_of(&stderr(&out));
    let resp: Value = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
    (id, out.status.code(), resp["output"].clone())
}

fn reconcile(env: &Env, day: &str) -> (Option<i32>, Value, i64) {
    let out = env.shim(&["reconcile", "--date", day]);
    let line = stderr(&out);
    let job: i64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("job_id="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("job_id in {line}"));
    let result = serde_json::from_str(&stdout(&out)).unwrap_or(Value::Null);
    (out.status.code(), result, job)
}

/// One difference: (kind, setl_id, request_id, memo).
type Diff = (String, Option<String>, Option<i64>, Option<String>);

/// A job's differences, in the order recorded.
fn diffs(env: &Env, job: i64) -> Vec<Diff> {
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT kind, setl_id, request_id, memo FROM medical_insurance_reconcile_diffs \
             WHERE job_id = ?1 ORDER BY diff_id",
        )
        .unwrap();
    st.query_map([job], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_day_reconciles_and_planted_differences_are_found_per_settlement() {
    let env = Env::start();
    let mut settled = Vec::new();
    for n in 1..=4 {
        let (id, code, out) = call(&env, "2207", &settle_input(n));
        assert_eq!(code, Some(0));
        settled.push((id, out["setlinfo"]["setl_id"].as_str().unwrap().to_string()));
    }
    let day = {
        let row = env.view(settled[0].0);
        let resp: Value = serde_json::from_str(row.response_data.as_deref().unwrap()).unwrap();
        resp["output"]["setlinfo"]["setl_time"].as_str().unwrap()[..10].to_string()
    };
    // Settlement 2 is cancelled the same day: counted negative under its setl_id.
    let cancel = json!({"data": {"psn_no": "43000000000000000001", "mdtrt_id": "M2", "setl_id": settled[1].1}});
    assert_eq!(call(&env, "2208", &cancel.to_string()).1, Some(0));

    let (code, first, job) = reconcile(&env, &day);
    assert_eq!(code, Some(0), "{first}");
    assert_eq!(first["balanced"], true, "{first}");
    assert_eq!(first["settlements"], 5);
    assert_eq!(first["differences"], 0);
    assert!(diffs(&env, job).is_empty());

    // The platform disagrees: it lost settlement 1, holds another amount for 3, and has
    // one we never made. A fifth settlement is applied but its answer lost (UNCERTAIN).
    env.mock_post("/__mock/reconcile", &json!({"forget": settled[0].1}));
    env.mock_post(
        "/__mock/reconcile",
        &json!({"amount": {"setl_id": settled[2].1, "medfee_sumamt": "1.23"}}),
    );
    env.mock_post(
        "/__mock/reconcile",
        &json!({"extra": {"setl_id": "EXTRA0000000000000001", "mdtrt_id": "M-EXTRA", "psn_no": "43000000000000000009", "insutype": "310", "medfee_sumamt": "50.00"}}),
    );
    env.add_fault(json!({"infno": "2207", "kind": "reset", "times": 1}));
    let (uncertain_id, code, _) = call(&env, "2207", &settle_input(5));
    assert_eq!(
        code,
        Some(2),
        "a reset after applying leaves the settlement UNCERTAIN"
    );
    // A sixth is lost before the platform applied it: UNCERTAIN too, but not applied.
    env.add_fault(json!({"infno": "2207", "kind": "reset_before", "times": 1}));
    let (lost_id, code, _) = call(&env, "2207", &settle_input(6));
    assert_eq!(code, Some(2));

    let (code, second, job) = reconcile(&env, &day);
    assert_eq!(code, Some(0), "{second}");
    assert_eq!(second["balanced"], false, "{second}");
    assert_eq!(second["uncertain"], 2);
    assert!(
        second["detail"]["request_3202"].as_i64().is_some(),
        "{second}"
    );
    let found = diffs(&env, job);
    let kind_of = |setl: &str| {
        found
            .iter()
            .find(|d| d.1.as_deref() == Some(setl))
            .unwrap_or_else(|| panic!("{setl} in {found:?}"))
            .clone()
    };
    let lost = kind_of(&settled[0].1);
    assert_eq!(lost.0, "ONLY_OURS");
    assert_eq!(lost.2, Some(settled[0].0), "our request named");
    let amount = kind_of(&settled[2].1);
    assert_eq!(amount.0, "AMOUNT_DIFFERS");
    assert!(
        amount.3.as_deref().unwrap_or("").contains("1.23"),
        "{amount:?}"
    );
    let extra = kind_of("EXTRA0000000000000001");
    assert_eq!((extra.0.as_str(), extra.2), ("ONLY_PLATFORM", None));
    let evidence = found
        .iter()
        .find(|d| d.2 == Some(uncertain_id) && d.0.starts_with("UNCERTAIN"))
        .unwrap_or_else(|| panic!("UNCERTAIN request {uncertain_id} in {found:?}"));
    assert_eq!(evidence.0, "UNCERTAIN_APPLIED", "{found:?}");
    let never = found
        .iter()
        .find(|d| d.2 == Some(lost_id))
        .unwrap_or_else(|| panic!("UNCERTAIN request {lost_id} in {found:?}"));
    assert_eq!(never.0, "UNCERTAIN_NOT_APPLIED", "{found:?}");
    // Four platform lines (lost, amount, extra, the applied UNCERTAIN one) and one verdict
    // per UNCERTAIN request.
    assert_eq!(found.len(), 6, "{found:?}");
    // Settlements 2 (cancelled) and 4 agree: no row.
    for agreed in [&settled[1].1, &settled[3].1] {
        assert!(
            !found.iter().any(|d| d.1.as_deref() == Some(agreed)),
            "{found:?}"
        );
    }
    yibao::assert_wording("evidence memo", evidence.3.as_deref().unwrap_or(""));
}

#[test]
fn a_bad_date_is_refused_before_anything_is_recorded() {
    let env = Env::start();
    let out = env.shim(&["reconcile", "--date", "2026-13-01"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let out = env.shim(&["reconcile"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let jobs: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM medical_insurance_jobs", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(jobs, 0);
}
