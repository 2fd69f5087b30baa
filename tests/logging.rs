//! What the broker's log says: local time with its UTC offset, WARN where someone must act,
//! and a console start banner that says where the log files are.

use std::time::Duration;

use serde_json::json;
use yibao::{person_input, settle_input, stdout, wait_until, Env, Options};

/// A 2207 whose reply never came is UNCERTAIN: someone must reverse or reconcile it, so the
/// log says so at WARN (an operator filtering for WARN finds it), naming the request.
#[test]
fn an_uncertain_outcome_is_logged_at_warn() {
    let env = Env::start_with(Options {
        request_timeout_ms: 500,
        ..Options::default()
    });
    let warm = env.insert("1101", &person_input(900));
    assert_eq!(env.shim(&["run", &warm.to_string()]).status.code(), Some(0));
    env.add_fault(json!({"infno": "2207", "kind": "hang", "ms": 1500, "times": 1}));
    let id = env.insert("2207", &settle_input(1));
    let out = env.shim(&["run", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let needle = format!("request_id={id}");
    wait_until(
        "the UNCERTAIN line in the log",
        Duration::from_secs(5),
        || {
            env.broker_log()
                .lines()
                .any(|l| l.contains(" WARN ") && l.contains("UNCERTAIN") && l.contains(&needle))
        },
    );
    // Every line starts with a local timestamp that carries its UTC offset.
    let log = env.broker_log();
    let first = log.lines().next().unwrap_or_default();
    let stamp = first.split_whitespace().next().unwrap_or_default();
    let offset = stamp
        .get(stamp.len().saturating_sub(6)..)
        .unwrap_or_default();
    assert!(
        stamp.contains('T')
            && (offset.starts_with('+') || offset.starts_with('-'))
            && offset.as_bytes().get(3) == Some(&b':'),
        "timestamp with offset expected: {first}"
    );
}

/// With `[log] dir` set, the lines go to the daily files, and the console that started the
/// broker is told where (before, it stayed silent and looked hung).
#[test]
fn with_a_log_dir_the_console_gets_a_banner_naming_it() {
    let logs = tempfile::tempdir().unwrap();
    let env = Env::start_with(Options {
        extra_toml: format!("[log]\ndir = {:?}\n", logs.path().display().to_string()),
        ..Options::default()
    });
    let console = env.broker_log();
    let line = console
        .lines()
        .find(|l| l.contains("logging to"))
        .unwrap_or_else(|| panic!("no banner on stderr: {console:?}"));
    assert!(
        line.contains(&logs.path().display().to_string()),
        "names the directory: {line}"
    );
    assert!(line.contains("日志"), "中文 first: {line}");
    wait_until(
        "a log file in the directory",
        Duration::from_secs(5),
        || {
            std::fs::read_dir(logs.path())
                .map(|d| d.count() > 0)
                .unwrap_or(false)
        },
    );
}
