//! The shim as a stored procedure sees it, without a broker: exit codes and the one stdout
//! line are the contract (`xp_cmdshell` returns little else). Living in this crate also
//! makes `cargo test --workspace` build the `yibao-call` binary the end-to-end tests start.

use std::process::Command;

fn shim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yibao-call"))
}

#[test]
fn no_broker_on_the_pipe_is_exit_3_with_one_line() {
    let pipe = format!("yibao-cli-test-nobody-{}", std::process::id());
    let out = shim().args(["--pipe", &pipe, "ping"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "error broker-unreachable"
    );
}

#[test]
fn bad_usage_is_exit_5_and_names_the_grammar() {
    let out = shim().args(["run", "not-a-number"]).output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request_id") || err.contains("用法"), "{err}");
}

#[test]
fn version_names_the_pipe_protocol() {
    let out = shim().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}
