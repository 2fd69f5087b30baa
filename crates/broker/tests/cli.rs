//! The broker's command line without a running service: what an operator sees first.
//! Living in this crate also makes `cargo test --workspace` build the `yibao-broker` binary
//! the end-to-end tests start.

use std::process::Command;

fn broker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_yibao-broker"))
}

#[test]
fn demo_points_to_its_own_program() {
    let out = broker().arg("demo").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("yibao-demo"));
}

#[test]
fn check_config_names_the_line_of_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yibao.toml");
    std::fs::write(&path, "[broker]\npipe = \"x\"\nworkerz = 4\n").unwrap();
    let out = broker()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("workerz") && err.contains('3'), "{err}");
}

#[test]
fn a_missing_config_file_is_named() {
    let out = broker()
        .args(["check-config", "--config", "/nonexistent/yibao.toml"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/yibao.toml"));
}

#[test]
fn version_is_the_packages() {
    let out = broker().arg("--version").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}
