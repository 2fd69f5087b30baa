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

const PAGE_TOKEN: &str = "privacy-page-token";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn page(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("status page");
    write!(
        s,
        "GET /?token={PAGE_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

/// An unreadable reply whose body names the patient in free text (`患者张三丰`) and writes a
/// phone with separators (`138-1234-5678`): the broker quotes it in its log, and the
/// request ends ERROR with it as the reason, which the status page lists. Neither appears
/// in clear in the log, on the page, nor in `yibao-call status`.
#[test]
fn free_text_names_and_separated_phones_are_masked_in_log_page_and_status() {
    const FREE_NAME: &str = "患者张三丰";
    const SPACED_PHONE: &str = "138-1234-5678";
    let port = free_port();
    let env = Env::start_with(Options {
        retry_max_attempts: 2,
        extra_toml: format!(
            "[status_page]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{PAGE_TOKEN}\"\n"
        ),
        ..Options::default()
    });
    let warm = env.insert("1101", &pii_input());
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.add_fault(json!({"infno": "1101", "kind": "garbage",
        "body": format!("<html>查询失败：{FREE_NAME} 电话 {SPACED_PHONE} 参保人信息不存在</html>")}));
    let id = env.insert("1101", &pii_input());
    let out = env.shim(&["run", &id.to_string()]);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(env.view(id).status, "ERROR");

    let log = env.broker_log();
    let html = page(port);
    let status = env.shim(&["status"]);
    let status = format!(
        "{}\n{}",
        stdout(&status),
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        log.contains("患者张**") && log.contains("138-****-5678"),
        "the reply was quoted, masked:\n{log}"
    );
    assert!(
        html.contains(&format!("<tr class=ERROR><td>{id}</td>")) && html.contains("患者张**"),
        "the page lists the request with its masked reason:\n{html}"
    );
    assert!(
        html.contains("参保人信息不存在"),
        "ordinary words stay readable:\n{html}"
    );
    for (what, text) in [("log", &log), ("status page", &html), ("status", &status)] {
        for secret in ["张三丰", SPACED_PHONE, NAME, CERTNO, PHONE, CARD] {
            assert!(!text.contains(secret), "{secret} in the {what}:\n{text}");
        }
    }
}
