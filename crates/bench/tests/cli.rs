//! `yibao-bench --help` answers with its usage at once: it does not start a build or a run.

#[test]
fn help_prints_usage_without_running() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_yibao-bench"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--quick") && text.contains("docs/performance.md"),
        "{text}"
    );
    assert!(!text.contains("# yibao-bench"), "no report: {text}");
}
