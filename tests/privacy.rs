//! Personal data never reaches the log: real-looking 身份证号, names, phone and card numbers
//! are sent in requests and come back inside an unreadable reply that the broker quotes in
//! its retry log line; the log (text and JSON) shows the request's span fields but none of
//! the data.

use serde_json::json;
use yibao::{stdout, Env, Options};

const CERTNO: &str = "430102199003071234";
const NAME: &str = "张三丰";
const PHONE: &str = "13812345678";
const CARD: &str = "6222021234567890123";

fn pii_input() -> String {
    json!({"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": CERTNO, "psn_cert_type": "01",
        "certno": CERTNO, "psn_name": NAME, "tel": PHONE, "card_sn": CARD}})
    .to_string()
}

fn exercise(env: &Env) {
    let warm = env.insert("1101", &pii_input());
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    // The platform answers garbage that quotes the patient; the broker retries and logs why.
    env.add_fault(json!({"infno": "1101", "kind": "garbage", "times": 1,
        "body": format!("<html>error for {{\"psn_name\":\"{NAME}\",\"certno\":\"{CERTNO}\",\"tel\":\"{PHONE}\",\"card\":\"{CARD}\"}}</html>")}));
    let id = env.insert("1101", &pii_input());
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.attempt_outcomes(id), vec!["TRANSPORT_ERROR", "SUCCESS"]);
}

fn assert_clean(log: &str) {
    assert!(
        log.contains("retrying"),
        "the quoting path was exercised:\n{log}"
    );
    assert!(
        log.contains("430*************34"),
        "the 身份证号 appears masked:\n{log}"
    );
    for secret in [CERTNO, NAME, PHONE, CARD] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

#[test]
fn the_text_log_masks_personal_data_and_carries_the_request_span() {
    let env = Env::start();
    exercise(&env);
    let log = env.broker_log();
    assert_clean(&log);
    for field in [
        "request_id=",
        "infno=1101",
        "attempt=2 ",
        "msgid=H43010000001",
        "latency_ms=",
        "status=COMPLETED",
    ] {
        assert!(log.contains(field), "span field {field} missing:\n{log}");
    }
}

#[test]
fn daily_json_files_are_masked_too() {
    let env = Env::start_with(Options {
        extra_toml: "[log]\ndir = \"logs\"\nformat = \"json\"\nretention_days = 7\n".into(),
        ..Options::default()
    });
    exercise(&env);
    let dir = env.dir.path().join("logs");
    let log: String = std::fs::read_dir(&dir)
        .expect("log directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("yibao-broker."))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_clean(&log);
    // Every line is one JSON object with the span's fields.
    let line = log
        .lines()
        .find(|l| l.contains("\"processed\""))
        .expect("a processed line");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
    assert_eq!(v["span"]["infno"], "1101", "{line}");
    assert!(v["fields"]["latency_ms"].is_number(), "{line}");
}
