//! `cainfo` end to end: the HIS passes its card / 电子凭证 password as a top-level key of the
//! input (an SQL row and a pipe call alike); the real broker takes it out of the input into
//! the envelope, encrypted as `[platform.cainfo]` says, and the real simulator decrypts it to
//! the HIS's value. A wrong key fails the settlement with an error that names the setting,
//! nothing applied; the value never reaches the broker's log, status or the fields table.

use serde_json::{json, Value};
use yibao::{certno, settle_input, stdout, Env, Options};
use yibao_core::cainfo::{Cainfo, CainfoConfig, CainfoMode};

const KEY: &str = "0123456789abcdeffedcba9876543210";
const OTHER_KEY: &str = "fedcba98765432100123456789abcdef";
/// The platform's SM2 key pair (hex): private scalar, public point x‖y.
const SM2_PRIVATE: &str = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8";
const SM2_PUBLIC: &str = "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
/// The HIS's value: text that appears nowhere else.
const PLAIN: &str = "Zq9-口令-4471";

fn env(broker: CainfoConfig, mock: (CainfoMode, &str)) -> Env {
    Env::start_with(Options {
        cainfo: Some(broker),
        mock_cainfo: Some((mock.0, mock.1.to_string())),
        retry_max_attempts: 2,
        ..Options::default()
    })
}

fn with_cainfo(input: String, cainfo: Value) -> String {
    let mut v: Value = serde_json::from_str(&input).unwrap();
    v["cainfo"] = cainfo;
    v.to_string()
}

fn inpatient(n: u32) -> Value {
    json!({"data": {"psn_no": "43000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": certno(n), "medfee_sumamt": "200.00", "psn_setlway": "01",
        "mdtrt_id": format!("ZY{n}"), "insutype": "310", "mid_setl_flag": "0",
        "acct_used_flag": "1"}, "cainfo": PLAIN})
}

/// What the simulator applied for `infno`.
fn applied(env: &Env, infno: &str) -> Vec<Value> {
    env.mock_applied()
        .into_iter()
        .filter(|a| a["infno"] == infno)
        .collect()
}

/// Neither the value nor any of `ciphertexts` is in the broker's log, its status output, a
/// stored field value or a row's err_msg.
fn assert_nowhere(env: &Env, ciphertexts: &[String]) {
    let log = env.broker_log();
    assert!(!log.is_empty());
    let status = stdout(&env.shim(&["status"]));
    let db = env.db();
    let mut fields = db
        .prepare(
            "SELECT coalesce(value, '') FROM medical_insurance_response_fields \
             UNION ALL SELECT coalesce(err_msg, '') FROM v_medical_insurance_result",
        )
        .unwrap();
    let stored: Vec<String> = fields
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for secret in std::iter::once(PLAIN).chain(ciphertexts.iter().map(String::as_str)) {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(!status.contains(secret), "{secret} in status:\n{status}");
        assert!(
            stored.iter().all(|s| !s.contains(secret)),
            "{secret} stored"
        );
    }
}

#[test]
fn the_his_value_arrives_sm4_encrypted_and_is_never_logged() {
    let config = CainfoConfig::new(CainfoMode::Sm4, Some(KEY.into()));
    // SM4-ECB is deterministic: this is the ciphertext the broker sends.
    let sealed = Cainfo::from_config(&config)
        .unwrap()
        .take("2207", &mut json!({ "cainfo": PLAIN }))
        .unwrap()
        .unwrap();
    let env = env(config, (CainfoMode::Sm4, KEY));

    // An SQL row, then a pipe call.
    let id = env.insert("2207", &with_cainfo(settle_input(1), json!(PLAIN)));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.view(id).status, "COMPLETED");
    let out = env.shim_stdin(
        &["call", "2304", "-", "--wait", "10"],
        &inpatient(2).to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    for infno in ["2207", "2304"] {
        let a = applied(&env, infno);
        assert_eq!(a.len(), 1, "{infno}: {a:?}");
        assert_eq!(a[0]["cainfo"], PLAIN, "the HIS's value arrived: {a:?}");
        let input = a[0]["input"].as_str().unwrap();
        assert!(!input.contains("cainfo"), "taken out of the input: {input}");
    }

    // Another interface keeps the key in its input, and nothing is decrypted for it.
    let person = json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": certno(3),
        "psn_cert_type": "01", "certno": certno(3)}, "cainfo": "for-1101"});
    let id = env.insert("1101", &person.to_string());
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    let a = applied(&env, "1101");
    assert!(
        a[0]["input"].as_str().unwrap().contains("for-1101"),
        "{a:?}"
    );
    assert!(a[0].get("cainfo").is_none(), "{a:?}");

    // A cainfo that is not text is refused before sending.
    let id = env.insert("2207", &with_cainfo(settle_input(4), json!(123_456)));
    let out = env.shim(&["run", &id.to_string()]);
    assert_ne!(out.status.code(), Some(0));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    assert!(row.err_msg.unwrap().contains("input.cainfo"));
    assert_eq!(env.mock_count("2207"), 1, "nothing sent for it");

    assert_nowhere(&env, &[sealed]);
}

#[test]
fn sm2_is_decrypted_with_the_platform_private_key() {
    let env = env(
        CainfoConfig::new(CainfoMode::Sm2, Some(SM2_PUBLIC.into())),
        (CainfoMode::Sm2, SM2_PRIVATE),
    );
    let id = env.insert("2207", &with_cainfo(settle_input(5), json!(PLAIN)));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(applied(&env, "2207")[0]["cainfo"], PLAIN);
    assert_nowhere(&env, &[]);
}

#[test]
fn a_wrong_key_fails_naming_the_setting_and_nothing_is_applied() {
    let env = env(
        CainfoConfig::new(CainfoMode::Sm4, Some(OTHER_KEY.into())),
        (CainfoMode::Sm4, KEY),
    );
    let id = env.insert("2207", &with_cainfo(settle_input(6), json!(PLAIN)));
    let out = env.shim(&["run", &id.to_string()]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR", "a refusal: nothing is uncertain");
    let msg = row.err_msg.unwrap_or_default();
    assert!(
        msg.contains("cainfo 解密失败") && msg.contains("[platform.cainfo]"),
        "the reason names the setting and what to check: {msg}"
    );
    assert!(msg.contains("mode") && msg.contains("key"), "{msg}");
    assert!(applied(&env, "2207").is_empty());
    assert_eq!(env.mock_count("2207"), 1, "refused once, not resent");
    let sealed = Cainfo::from_config(&CainfoConfig::new(CainfoMode::Sm4, Some(OTHER_KEY.into())))
        .unwrap()
        .take("2207", &mut json!({ "cainfo": PLAIN }))
        .unwrap()
        .unwrap();
    assert_nowhere(&env, &[sealed]);

    // A key that is no key is refused by check-config, named, and not printed.
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    assert!(config.contains(OTHER_KEY));
    let broken = env.dir.path().join("broken.toml");
    std::fs::write(&broken, config.replace(OTHER_KEY, "NOT-A-KEY-4471")).unwrap();
    let out = std::process::Command::new(yibao::bin("yibao-broker"))
        .args(["check-config", "--config"])
        .arg(&broken)
        .env("YIBAO_E2E_TIF_TOKEN", yibao::TIF_TOKEN)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("platform.cainfo.key") && text.contains("32 hex digits"),
        "{text}"
    );
    assert!(!text.contains("NOT-A-KEY"), "{text}");
}
