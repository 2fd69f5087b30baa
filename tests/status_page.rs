//! The read-only status page, checked in a real headless Chromium: it needs its token, lists
//! the UNCERTAIN and ERROR requests, shows no personal data, and renders (screenshot).
//!
//! Needs Debian's `chromium` (.ci/run installs it and sets YIBAO_REQUIRE_BROWSER=1, which
//! turns a missing browser into a failure instead of a printed skip).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use serde_json::json;
use yibao::{settle_input, Env, Options};

const TOKEN: &str = "page-token-for-tests";
const CERTNO: &str = "430102199003071234";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

#[test]
fn the_status_page_lists_what_needs_action_without_personal_data() {
    let port = free_port();
    let env = Env::start_with(Options {
        extra_toml: format!(
            "[status_page]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n"
        ),
        ..Options::default()
    });
    // An UNCERTAIN settlement whose garbage reply quotes the patient, and an ERROR.
    let warm = env.insert("1101", &yibao::person_input(1));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.add_fault(json!({"infno": "2207", "kind": "garbage", "times": 1,
        "body": format!("<html>{{\"certno\":\"{CERTNO}\",\"psn_name\":\"张三丰\"}}</html>")}));
    let uncertain = env.insert("2207", &settle_input(1));
    assert_eq!(
        env.shim(&["run", &uncertain.to_string()]).status.code(),
        Some(2)
    );
    let error = env.insert("X99", "{}");
    env.shim(&["run", &error.to_string()]);

    let (code, _) = http_get(port, "/");
    assert_eq!(code, 401, "no token, no page");
    let (code, _) = http_get(port, "/?token=wrong");
    assert_eq!(code, 401);
    let (code, page) = http_get(port, &format!("/?token={TOKEN}"));
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains(&format!("<tr class=UNCERTAIN><td>{uncertain}</td>")),
        "{page}"
    );
    assert!(
        page.contains(&format!("<tr class=ERROR><td>{error}</td>")),
        "{page}"
    );
    for secret in [CERTNO, "张三丰"] {
        assert!(!page.contains(secret), "{secret} on the page");
    }

    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("YIBAO_REQUIRE_BROWSER").is_none(),
            "chromium is required here (YIBAO_REQUIRE_BROWSER is set)"
        );
        println!("skipped the browser part: chromium is not installed (apt install chromium)");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let shot = env.dir.path().join("status.png");
    let url = format!("http://127.0.0.1:{port}/?token={TOKEN}");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1200,900",
    ];
    let dom = Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("needs-action") && dom.contains("UNCERTAIN"),
        "DOM: {dom}"
    );
    assert!(!dom.contains(CERTNO) && !dom.contains("张三丰"));

    let out = Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    let png = std::fs::read(&shot)
        .unwrap_or_else(|_| panic!("no screenshot: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(png_size(&png), Some((1200, 900)), "a 1200×900 PNG");
    assert!(
        png.len() > 10_000,
        "the page rendered content ({} bytes)",
        png.len()
    );
    if let Some(dir) = std::env::var_os("YIBAO_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&shot, Path::new(&dir).join("status-page.png"));
    }
}
