//! The interface catalog end to end: a bad 2207 stopped before sending with every bad field
//! named, the same request under `validation = "warn"` refused by the simulator naming the
//! same fields, a good 2207's amounts readable from `medical_insurance_response_fields`, a
//! site catalog entry taking effect, and `yibao-call validate`.

use serde_json::{json, Value};
use yibao::{settle_input, stderr, stdout, Env, Options};

/// A 2207 with four problems: no psn_no, three decimals, a 身份证号 with a wrong check
/// digit, a flag outside its dictionary.
fn bad_2207() -> String {
    let mut v: Value = serde_json::from_str(&settle_input(1)).unwrap();
    let d = v["data"].as_object_mut().unwrap();
    d.remove("psn_no");
    d.insert("medfee_sumamt".into(), json!("12.345"));
    d.insert("mdtrt_cert_no".into(), json!("430102199003071235"));
    d.insert("acct_used_flag".into(), json!("Y"));
    v.to_string()
}

const BAD_FIELDS: [&str; 4] = [
    "data.psn_no",
    "data.medfee_sumamt",
    "data.mdtrt_cert_no",
    "data.acct_used_flag",
];

fn fields(env: &Env, id: i64) -> Vec<(String, i64, String)> {
    let c = env.db();
    let mut q = c
        .prepare(
            "SELECT path, row_index, value FROM medical_insurance_response_fields \
             WHERE request_id = ?1 ORDER BY path, row_index",
        )
        .unwrap();
    q.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_bad_2207_is_stopped_locally_with_every_bad_field_named() {
    let env = Env::start();
    let id = env.insert("2207", &bad_2207());
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    let msg = row.err_msg.unwrap_or_default();
    for f in BAD_FIELDS {
        assert!(msg.contains(f), "{f} not named in {msg}");
    }
    assert!(
        msg.contains("未发送") && msg.contains("rejected before sending"),
        "{msg}"
    );
    assert!(
        !msg.contains("430102199003071235"),
        "values stay out of err_msg: {msg}"
    );
    assert_eq!(
        env.mock_count("2207"),
        0,
        "no HTTP call for a rejected request"
    );
    assert!(row.msgid.is_none(), "nothing was sent, so no msgid");
    assert!(fields(&env, id).is_empty());
}

#[test]
fn with_validation_warn_the_platform_rejects_the_same_fields() {
    let env = Env::start_with(Options {
        extra_toml: "[catalog]\nvalidation = \"warn\"\n".into(),
        ..Options::default()
    });
    let id = env.insert("2207", &bad_2207());
    env.shim(&["run", &id.to_string()]);
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    assert_eq!(row.infcode.as_deref(), Some("-1"));
    assert_eq!(env.mock_count("2207"), 1, "sent: the site chose warnings");
    assert!(row.msgid.is_some());
    let msg = row.err_msg.unwrap_or_default();
    for f in BAD_FIELDS {
        assert!(msg.contains(f), "the simulator names {f} too: {msg}");
    }
    assert!(
        env.broker_log()
            .contains("catalog rules broken, sent anyway"),
        "the warning is logged"
    );
}

#[test]
fn a_good_2207s_amounts_are_rows_in_the_fields_table() {
    let env = Env::start();
    let id = env.insert("2207", &settle_input(7));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let response: Value = serde_json::from_str(&env.view(id).response_data.unwrap()).unwrap();
    let setl = &response["output"]["setlinfo"];
    let rows = fields(&env, id);
    let get = |p: &str| {
        rows.iter()
            .find(|(path, _, _)| path == p)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_else(|| panic!("{p} missing from {rows:?}"))
    };
    assert_eq!(get("setlinfo.setl_id"), setl["setl_id"].as_str().unwrap());
    for amount in [
        "medfee_sumamt",
        "fund_pay_sumamt",
        "acct_pay",
        "psn_cash_pay",
    ] {
        let from_table: f64 = get(&format!("setlinfo.{amount}")).parse().unwrap();
        assert_eq!(from_table, setl[amount].as_f64().unwrap(), "{amount}");
    }
    // The table holds exactly the catalog's paths that the reply has, nothing else.
    assert!(
        rows.iter()
            .all(|(p, i, _)| p.starts_with("setl") && *i == 0),
        "{rows:?}"
    );

    // Lists: a 1101's insuinfo items keep their positions.
    let p = env.insert("1101", &yibao::person_input(3));
    env.shim(&["run", &p.to_string()]);
    let rows = fields(&env, p);
    let balc: Vec<_> = rows
        .iter()
        .filter(|(p, _, _)| p == "insuinfo[*].balc")
        .collect();
    assert_eq!(balc.len(), 1, "{rows:?}");
    assert_eq!(balc[0].1, 0);
    assert!(rows
        .iter()
        .any(|(p, _, v)| p == "baseinfo.psn_no" && v.starts_with("43")));
}

#[test]
fn a_site_catalog_entry_takes_effect() {
    let site_dir = tempfile::tempdir().unwrap();
    let site = site_dir.path().join("site-catalog.toml");
    std::fs::write(
        &site,
        r#"catalog_version = "e2e-site"
[interfaces.2207]
output = ["setlinfo.setl_id"]
[interfaces.2207.fields]
"data.invono" = { required = true, max_len = 20, label = "发票号" }
"#,
    )
    .unwrap();
    let env = Env::start_with(Options {
        extra_toml: format!("[catalog]\nfile = '{}'\n", site.display()),
        ..Options::default()
    });
    let without = env.insert("2207", &settle_input(1));
    env.shim(&["run", &without.to_string()]);
    let row = env.view(without);
    assert_eq!(row.status, "ERROR");
    let msg = row.err_msg.unwrap_or_default();
    assert!(
        msg.contains("data.invono") && msg.contains("发票号"),
        "{msg}"
    );
    assert_eq!(env.mock_count("2207"), 0);

    let mut good: Value = serde_json::from_str(&settle_input(2)).unwrap();
    good["data"]["invono"] = json!("FP0001");
    let with = env.insert("2207", &good.to_string());
    let out = env.shim(&["run", &with.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let rows = fields(&env, with);
    assert_eq!(
        rows.len(),
        1,
        "the site's output list replaced the shipped one: {rows:?}"
    );
    assert_eq!(rows[0].0, "setlinfo.setl_id");

    // check-config reports the catalog in use, and names a broken site file's fault.
    let (ok, text) = env.check_config();
    assert!(ok, "{text}");
    assert!(
        text.contains("2026.11.1+site@e2e-site") && text.contains("validation = enforce"),
        "{text}"
    );
    std::fs::write(
        &site,
        "[interfaces.2207.fields]\n\"data.invono\" = { requird = true }\n",
    )
    .unwrap();
    let (ok, text) = env.check_config();
    assert!(!ok, "{text}");
    assert!(
        text.contains("site-catalog.toml") && text.contains("requird"),
        "{text}"
    );
}

#[test]
fn yibao_call_validate_checks_without_recording_or_sending() {
    let env = Env::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, bad_2207()).unwrap();
    let out = env.shim(&["validate", "2207", "--input-file", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(stdout(&out), "invalid problems=4");
    let err = stderr(&out);
    for f in BAD_FIELDS {
        assert!(err.contains(f), "{f} not named: {err}");
    }
    let good = env.shim_stdin(&["validate", "2207", "-"], &settle_input(1));
    assert_eq!(good.status.code(), Some(0), "{}", stderr(&good));
    assert_eq!(stdout(&good), "valid");
    let unknown = env.shim_stdin(&["validate", "8888", "-"], "{}");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("8888"));
    let n: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM medical_insurance_requests", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0, "validate records nothing");
    assert_eq!(env.mock_count("2207"), 0, "and sends nothing");
}

/// The seed design's own 1101 example (`{"psn_no": …}` at the top level) is refused before
/// sending, and the message the HIS reads from the view names the node 1101 expects and
/// where the shapes are documented — not only a list of missing fields.
#[test]
fn the_seeds_1101_example_is_told_its_expected_shape() {
    let env = Env::start();
    let id = env.insert("1101", r#"{"psn_no": "430123199001011234"}"#);
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    let msg = row.err_msg.unwrap_or_default();
    for want in ["data", "mdtrt_cert_type", "docs/catalog.md"] {
        assert!(msg.contains(want), "{want} not in {msg}");
    }
    assert!(
        !msg.contains("430123199001011234"),
        "values stay out: {msg}"
    );
    assert_eq!(env.mock_count("1101"), 0, "nothing was sent");
}
