//! The stored-procedure path: insert a row with SQL, spawn the real shim, read the view.

use yibao::{person_input, request_id_of, run_shim, stderr, stdout, unique_pipe, Env};

#[test]
fn run_after_sql_insert_completes_and_signs_in_once() {
    let env = Env::start();
    let id = env.insert("1101", &person_input(1));
    let out = env.shim(&["run", &id.to_string(), "--wait", "10"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!(
            "id={id} status=COMPLETED infcode=0 msgid=H43010000001"
        )),
        "{line}"
    );
    assert!(line.is_ascii() && !line.contains('\n'), "{line:?}");

    let row = env.view(id);
    assert_eq!(row.status, "COMPLETED");
    assert_eq!(row.infcode.as_deref(), Some("0"));
    let resp: serde_json::Value =
        serde_json::from_str(row.response_data.as_deref().expect("response")).expect("json");
    assert!(resp["output"]["baseinfo"]["psn_no"].is_string(), "{resp}");
    assert_eq!(row.msgid.as_deref().map(str::len), Some(30));

    // A second call reuses the cached sign-in.
    let id2 = env.insert("1101", &person_input(2));
    assert_eq!(env.shim(&["run", &id2.to_string()]).status.code(), Some(0));
    assert_eq!(env.mock_count("9001"), 1);
    assert_eq!(env.mock_count("1101"), 2);
    // The automatic sign-in is audited like any request.
    let signins: i64 = env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM v_medical_insurance_result WHERE interface_code = '9001' AND status = 'COMPLETED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(signins, 1);
}

#[test]
fn business_error_exits_1_with_the_platform_message_in_the_view() {
    // Local validation off, so the simulator (the platform) is the one refusing.
    let env = Env::start_with(yibao::Options {
        extra_toml: "[catalog]\nvalidation = \"off\"\n".into(),
        ..yibao::Options::default()
    });
    // 2201 without the fields the platform requires.
    let id = env.insert("2201", r#"{"data":{"psn_no":"1"}}"#);
    let out = env.shim(&["run", &id.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("status=ERROR infcode=-1"),
        "{}",
        stdout(&out)
    );
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    assert!(row.err_msg.unwrap_or_default().contains("ipt_otp_no"));
    assert_eq!(env.mock_count("2201"), 1, "the platform answered");
}

#[test]
fn call_prints_the_response_json_from_file_and_stdin() {
    let env = Env::start();
    let file = env.dir.path().join("in.json");
    std::fs::write(&file, person_input(7)).unwrap();
    let out = env.shim(&["call", "1101", "--input-file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("response JSON");
    assert_eq!(v["infcode"], 0);
    assert!(v["output"]["baseinfo"]["psn_no"].is_string());

    let out = env.shim_stdin(&["call", "1101", "-"], &person_input(8));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("response JSON");
    assert_eq!(v["infcode"], 0);

    // `--input-file -` is stdin too, `--wait=S` is `--wait S`, and the request id is on
    // stderr so an operator can reverse or cancel what the call started.
    let out = env.shim_stdin(
        &["call", "1101", "--input-file", "-", "--wait=10"],
        &person_input(9),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stderr(&out);
    let id = request_id_of(&line);
    assert_eq!(env.view(id).status, "COMPLETED");
    assert!(line.contains("status=COMPLETED"), "{line}");
}

#[test]
fn result_and_status_report_what_is_stored() {
    let env = Env::start();
    let id = env.insert("1101", &person_input(3));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    let out = env.shim(&["result", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("status=COMPLETED"),
        "{}",
        stdout(&out)
    );
    let out = env.shim(&["result", &id.to_string(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(v["infcode"], 0);
    let out = env.shim(&["status"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("COMPLETED=2"), "{}", stdout(&out));
    // An id that does not exist is refused with its own code.
    let out = env.shim(&["result", "999999"]);
    assert_eq!(out.status.code(), Some(6), "{}", stdout(&out));
    assert!(stdout(&out).contains("NotFound"));
}

#[test]
fn broker_not_running_exits_3_with_a_clear_message() {
    let pipe = unique_pipe("nobody");
    for args in [&["run", "1"][..], &["ping"][..], &["kick", "5"][..]] {
        let out = run_shim(&pipe, args, None);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains("yibao-broker"), "{err}");
        assert!(err.contains("无法连接"), "{err}");
        assert_eq!(stdout(&out), "error broker-unreachable");
    }
}

#[test]
fn bad_usage_exits_5_and_never_contacts_the_broker() {
    let pipe = unique_pipe("usage");
    for args in [
        &["run"][..],
        &["run", "1;DROP TABLE x"][..],
        &["run", "1", "--wait", "soon"][..],
        &["call", "1101"][..],
        &["explode"][..],
        &[][..],
    ] {
        let out = run_shim(&pipe, args, None);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", stderr(&out));
    }
    let out = run_shim(&pipe, &["--help"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("exit codes"));
    let out = run_shim(&pipe, &["--version"], None);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("yibao-call 0."),
        "{}",
        stdout(&out)
    );
}

#[test]
fn platform_down_gives_a_clear_error_and_the_broker_survives() {
    let mut env = Env::start();
    // Sign in while the platform is up, then take it away.
    let id = env.insert("1101", &person_input(40));
    assert_eq!(env.shim(&["run", &id.to_string()]).status.code(), Some(0));
    env.stop_mock();
    let id = env.insert("1101", &person_input(41));
    let out = env.shim(&["run", &id.to_string(), "--wait", "20"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    let msg = row.err_msg.unwrap_or_default();
    assert!(msg.contains("无法连接医保平台"), "{msg}");
    // The attempt is on record with the msgid that was tried.
    let outcome: String = env
        .db()
        .query_row(
            "SELECT outcome FROM medical_insurance_attempts WHERE request_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "TRANSPORT_ERROR");
    assert_eq!(env.shim(&["ping"]).status.code(), Some(0));
}

/// An input over the broker's frame limit is refused by the shim before anything is
/// written (the handshake told it the limit): exit 6 with the limit and the key that sets
/// it, never "outcome unknown" (2), and no row recorded.
#[test]
fn an_oversized_input_is_refused_before_sending_with_the_limit_named() {
    let env = Env::start(); // max_frame_bytes = 65536
    let big = format!(
        r#"{{"data": {{"psn_no": "P1", "note": "{}"}}}}"#,
        "x".repeat(200_000)
    );
    let file = env.dir.path().join("big.json");
    std::fs::write(&file, big).unwrap();
    let out = env.shim(&["call", "1101", "--input-file", &file.to_string_lossy()]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{} {}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(stdout(&out), "error FrameTooLarge");
    let err = stderr(&out);
    assert!(
        err.contains("65536") && err.contains("broker.max_frame_bytes") && err.contains("未发送"),
        "{err}"
    );
    let rows: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM medical_insurance_requests", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(rows, 0, "nothing recorded");
}
