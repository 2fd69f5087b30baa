//! Starting the service on a real host: `check-config --sign-in` finds a wrong token before
//! the first patient, and the systemd unit starts whether or not the platform answers.

use std::process::Command;
use yibao::Env;

fn check_config_sign_in(env: &Env, token: &str) -> (Option<i32>, String) {
    let out = Command::new(yibao::bin("yibao-broker"))
        .args(["check-config", "--sign-in", "--config"])
        .arg(&env.config_path)
        .env("YIBAO_E2E_TIF_TOKEN", token)
        .output()
        .expect("run check-config --sign-in");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// With the right token the simulator signs the operator in and the sign_no is shown
/// shortened; with a wrong one the simulator's refusal is reported and the exit is non-zero.
#[test]
fn check_config_sign_in_reports_the_platforms_answer() {
    let env = Env::start();
    let (code, text) = check_config_sign_in(&env, yibao::TIF_TOKEN);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("sign-in OK"), "{text}");
    assert!(!text.contains(yibao::TIF_TOKEN), "{text}");
    assert!(
        env.mock_count("9001") >= 1,
        "a real 9001 reached the simulator"
    );

    let (code, text) = check_config_sign_in(&env, "a-wrong-token");
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("sign-in failed"), "{text}");
    assert!(!text.contains("a-wrong-token"), "{text}");
    // Without --sign-in the port check alone passes: the token is not looked at.
    let (ok, text) = env.check_config();
    assert!(ok, "{text}");
}

/// The unit must start the broker when the platform is down (it waits and retries on its
/// own); `check-config` fails then, so it must not gate the start.
#[test]
fn the_systemd_unit_does_not_gate_start_on_check_config() {
    let unit = include_str!("../packaging/linux/yibao-broker.service");
    for line in unit.lines().map(str::trim) {
        assert!(
            !(line.starts_with("ExecStartPre") && line.contains("check-config")),
            "{line}"
        );
        assert!(
            !line.starts_with("Requires=network-online"),
            "start does not wait for the network: {line}"
        );
    }
    assert!(unit.contains("ExecStart=/usr/local/bin/yibao-broker run"));
}

