//! Starting the service on a real host: `check-config --sign-in` finds a wrong token before
//! the first patient, the systemd unit starts whether or not the platform answers, and a
//! broker started before its database waits for it instead of exiting.

use std::process::Command;
use std::time::Duration;

use yibao::{person_input, stdout, wait_until, Env, Options};

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
    assert!(
        text.contains("profile = \"tif\"") && text.contains("tif_token"),
        "the refusal names the profile and what to check: {text}"
    );
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

/// At boot the database may come up after the broker. A store that cannot be opened (here:
/// the SQLite path holds a file that is not a database) no longer ends `run` with exit 1: the
/// pipe is answered (`ping`; `status` with store_ok=no and the cause; a call gets
/// StoreUnavailable), the store is tried again with a WARN each time, and once the cause is
/// gone a call completes without restarting the broker.
#[test]
fn a_broker_started_before_its_store_waits_for_it() {
    let outer = tempfile::tempdir().unwrap();
    let junk = outer.path().join("yibao.db");
    std::fs::write(&junk, "not a database ".repeat(300)).unwrap();
    let env = Env::start_with(Options {
        store_dir: Some(outer.path().to_path_buf()),
        ..Options::default()
    });
    let pong = env.shim(&["ping"]);
    assert_eq!(pong.status.code(), Some(0), "{}", stdout(&pong));

    let status = env.shim(&["status"]);
    let line = stdout(&status);
    assert!(line.contains("store_ok=no"), "{line}");
    let why = String::from_utf8_lossy(&status.stderr).to_string();
    assert!(why.contains("not open yet"), "the cause is given: {why}");

    let call = env.shim_stdin(&["call", "1101", "-"], &person_input(1));
    assert_ne!(call.status.code(), Some(0), "{}", stdout(&call));
    assert!(
        String::from_utf8_lossy(&call.stderr).contains("waiting for its store"),
        "{}",
        String::from_utf8_lossy(&call.stderr)
    );
    wait_until(
        "two WARN lines about the store",
        Duration::from_secs(10),
        || {
            env.broker_log()
                .lines()
                .filter(|l| l.contains(" WARN ") && l.contains("cannot be opened"))
                .count()
                >= 2
        },
    );

    std::fs::remove_file(&junk).unwrap();
    wait_until("the store opens", Duration::from_secs(20), || {
        stdout(&env.shim(&["status"])).contains("store_ok=yes")
    });
    let call = env.shim_stdin(&["call", "1101", "-"], &person_input(2));
    assert_eq!(
        call.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&call),
        env.broker_log()
    );
    assert!(env.broker_log().contains("the store is open"));
}
