//! What an operator runs: `check-config` explains each problem before the service starts.

use std::process::Command;
use std::time::Duration;

use yibao::Env;

fn check_config(env: &Env) -> (bool, String) {
    env.check_config()
}

#[test]
fn check_config_checks_the_store_and_the_platform_and_never_prints_secrets() {
    let mut env = Env::start();
    let (ok, text) = check_config(&env);
    assert!(ok, "{text}");
    assert!(text.contains("platform reachable"), "{text}");
    assert!(!text.contains("e2e-token-not-a-secret"), "{text}");

    env.stop_mock();
    let (ok, text) = check_config(&env);
    assert!(!ok, "{text}");
    assert!(text.contains("platform not reachable"), "{text}");
    assert!(
        text.contains("platform.url"),
        "the message says what to check: {text}"
    );
}

/// Secrets written inline in the file (rather than the advised `env:`/`file:`) are not
/// printed either, whether check-config succeeds or fails.
#[test]
fn check_config_never_prints_an_inline_secret() {
    let mut env = Env::start();
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let inline = config
        .replace("\"env:YIBAO_E2E_TIF_TOKEN\"", "\"inline-tif-token-xyz\"")
        .replace(
            "enabled = false",
            "enabled = true\ntoken = \"inline-status-token-xyz\"",
        );
    assert!(inline.contains("inline-tif-token-xyz") && inline.contains("inline-status-token-xyz"));
    let path = env.dir.path().join("inline.toml");
    std::fs::write(&path, inline).unwrap();
    let run = || {
        let out = Command::new(yibao::bin("yibao-broker"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run();
    assert!(ok, "{text}");
    env.stop_mock();
    let (ok, failed) = run();
    assert!(!ok, "{failed}");
    for text in [text, failed] {
        assert!(
            text.contains("profile") || text.contains("platform"),
            "{text}"
        );
        assert!(!text.contains("inline-tif-token-xyz"), "{text}");
        assert!(!text.contains("inline-status-token-xyz"), "{text}");
    }
}

/// The stdlib-only Python client in examples/ speaks the JSON frames with the seed's API.
#[test]
fn the_python_example_client_works_against_the_broker() {
    let env = Env::start();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/yibao_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--pipe", &env.pipe, "demo"])
        .output()
        .expect("python3 is needed for this test (CI installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("call_sync 1101: request_id="), "{text}");
    assert!(text.contains("status=COMPLETED psn_name=张三"), "{text}");
    assert!(
        text.contains("wait_for_result: status=COMPLETED infcode=0"),
        "{text}"
    );
    assert!(text.contains("validate 2207: ok=False"), "{text}");

    // Without a broker: a clear error and exit code 3, like the shim.
    let out = Command::new("python3")
        .arg(&script)
        .args(["--pipe", "yibao-no-such-broker", "demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the yibao broker"));
}

/// `yibao-call status`: counts, latency percentiles per interface, store and platform health.
#[test]
fn status_shows_latency_per_interface_and_platform_health() {
    let mut env = Env::start_with(yibao::Options {
        retry_max_attempts: 2,
        ..yibao::Options::default()
    });
    let out = env.shim(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("platform_ok=unknown"));
    for n in 0..5 {
        let id = env.insert("1101", &yibao::person_input(n));
        assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    }
    let out = env.shim(&["status"]);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(line.contains("latency[1101]=n:5,p50:"), "{line}");
    assert!(
        line.contains("platform_ok=yes") && line.contains("store_ok=yes"),
        "{line}"
    );
    assert!(
        line.contains("COMPLETED=6"),
        "five calls and the sign-in: {line}"
    );

    env.stop_mock();
    let id = env.insert("1101", &yibao::person_input(99));
    env.shim(&["run", &id.to_string(), "--wait", "20"]);
    let out = env.shim(&["status"]);
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(line.contains("platform_ok=no"), "{line}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).is_empty(),
        "the reason is on stderr"
    );
}

/// The Rust SDK, blocking and async, with the seed's four calls.
#[test]
fn the_rust_client_library_offers_the_seed_api() {
    use yibao_client::{AsyncYibaoClient, Overrides, RequestStatus, YibaoClient};

    let env = Env::start();
    let input = yibao::person_input(7);
    let c = YibaoClient::new(env.pipe.clone());
    let out = c
        .call_sync(
            "1101",
            &input,
            Duration::from_secs(20),
            Overrides::default(),
        )
        .unwrap();
    assert_eq!(out.status, RequestStatus::Completed);
    assert!(out.response.unwrap().contains("baseinfo"));
    let id = c.call_async("1101", &input, Overrides::default()).unwrap();
    let done = c.wait_for_result(id, Duration::from_secs(20)).unwrap();
    assert_eq!(done.status, RequestStatus::Completed);
    assert_eq!(c.get_result(id).unwrap().msgid, done.msgid);
    assert!(matches!(
        c.get_result(987_654),
        Err(yibao_client::Error::Refused { .. })
    ));
    let v = c.validate("2207", r#"{"data":{"psn_no":"1"}}"#).unwrap();
    assert!(
        !v.ok && v.problems.iter().any(|p| p.starts_with("data.mdtrt_id")),
        "{v:?}"
    );
    assert!(c.validate("1101", &input).unwrap().ok);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = AsyncYibaoClient::new(env.pipe.clone());
        let out = a
            .call_sync(
                "1101",
                &input,
                Duration::from_secs(20),
                Overrides::default(),
            )
            .await
            .unwrap();
        assert_eq!(out.status, RequestStatus::Completed);
        let id = a
            .call_async("2207", &yibao::settle_input(7), Overrides::default())
            .await
            .unwrap();
        let done = a
            .wait_for_result(id, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(done.status, RequestStatus::Completed);
        assert_eq!(
            a.get_result(id).await.unwrap().status,
            RequestStatus::Completed
        );
        assert!(
            a.validate("2207", &yibao::settle_input(8))
                .await
                .unwrap()
                .ok
        );
        let absent = AsyncYibaoClient::new("yibao-no-such-broker");
        assert!(matches!(
            absent.get_result(1).await,
            Err(yibao_client::Error::Unreachable { .. })
        ));
    });
}

/// `[status_page] token = ""` is refused by `check-config`, naming the key, as `run` would
/// refuse it (before, the check passed and the broker failed at start-up).
#[test]
fn check_config_refuses_an_empty_status_page_token() {
    let env = Env::start();
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let empty = config.replace("enabled = false", "enabled = true\ntoken = \"\"");
    assert!(empty.contains("token = \"\""), "{empty}");
    let path = env.dir.path().join("empty-token.toml");
    std::fs::write(&path, empty).unwrap();
    let out = Command::new(yibao::bin("yibao-broker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env("YIBAO_E2E_TIF_TOKEN", yibao::TIF_TOKEN)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("status_page.token") && text.contains("empty"),
        "{text}"
    );
}

/// The pipe's socket file is 0660 whatever the umask the broker starts under (a service
/// manager's 077 made it 0600, locking out the HIS's group).
#[cfg(unix)]
#[test]
fn the_socket_is_0660_under_a_restrictive_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::start_with(yibao::Options {
        umask: Some(0o077),
        ..yibao::Options::default()
    });
    let socket = yibao_proto::resolve_endpoint(&env.pipe);
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "{socket}: {mode:o}");
    // The umask did reach the broker: the files it creates follow it.
    let db = std::fs::metadata(&env.db_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(db & 0o077, 0, "database file {db:o}");
}

/// A store that fails clients' requests (full disk, a lock held too long) while the
/// dispatcher's idle poll still succeeds is reported by `status`: store_ok=no, the error,
/// and how long ago it happened.
#[test]
fn status_reports_a_failing_insert_with_its_age() {
    let env = Env::start_with(yibao::Options {
        // The dispatcher looks once at start and then not for an hour: its idle poll
        // cannot be what reports the failure.
        poll_interval_ms: 3_600_000,
        poll_min_ms: 3_600_000,
        busy_timeout_ms: 300,
        ..yibao::Options::default()
    });
    let input = yibao::person_input(1);
    let out = env.shim_stdin(&["call", "1101", "-", "--async"], &input);
    assert_eq!(out.status.code(), Some(0), "{}", yibao::stderr(&out));
    let first: i64 = yibao::stdout(&out)
        .strip_prefix("id=")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("id=N status=ACCEPTED");
    yibao::wait_until("the first call done", Duration::from_secs(20), || {
        env.view(first).status == "COMPLETED"
    });
    let locker = env.db();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let out = env.shim_stdin(&["call", "1101", "-", "--async"], &input);
    assert_ne!(out.status.code(), Some(0), "the insert fails while locked");
    let out = env.shim(&["status"]);
    locker.execute_batch("COMMIT").unwrap();
    let (line, err) = (yibao::stdout(&out), yibao::stderr(&out));
    assert!(line.contains("store_ok=no"), "{line}");
    assert!(
        err.contains("request: ") && err.contains(" s ago)"),
        "the error and its age: {err}"
    );
}

/// `check-config` on a file missing three of `[institution]`'s required keys exits non-zero
/// with one error that names all three.
#[test]
fn check_config_names_every_missing_institution_key() {
    let env = Env::start();
    let config = std::fs::read_to_string(&env.config_path).unwrap();
    let lines: Vec<&str> = config
        .lines()
        .filter(|l| {
            !["mdtrtarea_admvs =", "opter_name =", "mac ="]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .collect();
    assert_eq!(lines.len() + 3, config.lines().count(), "{config}");
    let path = env.dir.path().join("missing.toml");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out = Command::new(yibao::bin("yibao-broker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env("YIBAO_E2E_TIF_TOKEN", yibao::TIF_TOKEN)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for key in [
        "institution.mdtrtarea_admvs",
        "institution.opter_name",
        "institution.mac",
    ] {
        assert!(text.contains(key), "{key} not named: {text}");
    }
}
