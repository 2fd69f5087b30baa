//! The 国密 `sm` profile end to end: the real broker seals with SM2/SM4 and the real
//! simulator verifies, decrypts, applies and seals its reply, which the broker verifies.
//! Keys come from the real `yibao-broker keys generate`.

use serde_json::json;
use yibao::{bin, person_input, settle_input, stdout, Env, Options, SmKeys};

fn sm_env(keys: SmKeys) -> Env {
    Env::start_with(Options {
        sm: Some(keys),
        retry_max_attempts: 2,
        ..Options::default()
    })
}

fn applied(env: &Env, infno: &str) -> usize {
    env.mock_applied()
        .iter()
        .filter(|a| a["infno"] == infno)
        .count()
}

#[test]
fn calls_through_the_sm_profile_succeed() {
    let env = sm_env(SmKeys::Right);
    let id = env.insert("1101", &person_input(1));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "COMPLETED");
    assert!(row.response_data.unwrap().contains("baseinfo"));

    let id = env.insert("2207", &settle_input(1));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    assert_eq!(env.view(id).status, "COMPLETED");

    // Chinese text survives the SM4 round trip (escaped as \uXXXX inside the ciphertext).
    let out = env.shim_stdin(
        &["call", "1101", "-", "--wait", "10"],
        &json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "430102199003071234",
                          "psn_cert_type": "01", "certno": "430102199003071234", "psn_name": "张三"}})
            .to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let stats = env.mock_stats();
    assert_eq!(stats["rejected"], 0, "{stats}");
    assert_eq!(applied(&env, "2207"), 1);
}

#[test]
fn a_wrong_platform_key_fails_loudly_and_the_broker_keeps_serving() {
    let env = sm_env(SmKeys::WrongPlatformKey);
    for _ in 0..2 {
        let id = env.insert("1101", &person_input(2));
        let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        let row = env.view(id);
        assert_eq!(row.status, "ERROR", "{row:?}");
        let msg = row.err_msg.unwrap_or_default();
        assert!(
            msg.contains("验签失败") && msg.contains("does not verify"),
            "the reason names the failed verification: {msg}"
        );
        assert!(
            msg.contains("profile = \"sm\"") && msg.contains("[platform.sm]"),
            "the reason names the profile and what to check: {msg}"
        );
        assert_eq!(env.shim(&["ping"]).status.code(), Some(0));
    }
    assert!(env.broker_log().contains("does not verify"));
    // The broker never treated an unverified reply as a sign-in: nothing past 9001 was sent.
    assert_eq!(env.mock_count("1101"), 0);
}

/// Issue 3's "wrong response signature" fault: a reply whose signature does not verify is
/// retried for a read-only interface and UNCERTAIN (never resent) for a settlement.
#[test]
fn bad_signature_replies_are_retried_or_uncertain_by_class() {
    let env = sm_env(SmKeys::Right);
    let warm = env.insert("1101", &person_input(900));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));

    env.add_fault(json!({"infno": "1101", "kind": "bad_signature", "times": 1}));
    let id = env.insert("1101", &person_input(3));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR", "SUCCESS"]);

    env.add_fault(json!({"infno": "2207", "kind": "bad_signature", "times": 1}));
    let id = env.insert("2207", &settle_input(3));
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "UNCERTAIN");
    assert!(row.err_msg.unwrap().contains("验签失败"));
    assert!(row.msgid.is_some());
    assert_eq!(
        applied(&env, "2207"),
        1,
        "applied once by the platform, never resent"
    );

    let id = env.insert("2207", &settle_input(4));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
}

#[test]
fn keys_check_reports_the_configured_pair_and_names_a_bad_key() {
    let env = sm_env(SmKeys::Right);
    let out = std::process::Command::new(bin("yibao-broker"))
        .args(["keys", "check", "--config"])
        .arg(&env.config_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("keys OK") && text.contains("fingerprint"),
        "{text}"
    );

    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let broken = env.dir.path().join("broken.toml");
    let bad = env.dir.path().join("bad.key");
    std::fs::write(&bad, "not a key").unwrap();
    let config = config.replace(
        &format!(
            "file:{}",
            env.dir.path().join("keys/institution.key.pem").display()
        ),
        &format!("file:{}", bad.display()),
    );
    std::fs::write(&broken, config).unwrap();
    let out = std::process::Command::new(bin("yibao-broker"))
        .args(["keys", "check", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("private_key") && err.contains("SM2"), "{err}");
    // check-config loads the same keys, so it catches the same mistake before a restart.
    let out = std::process::Command::new(bin("yibao-broker"))
        .args(["check-config", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
