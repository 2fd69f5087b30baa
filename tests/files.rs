//! Files through the platform with the real broker, shim and simulator: a 1301 catalog
//! fetched with 9102 (a zip streamed to disk, unpacked, Chinese intact, recorded in
//! medical_insurance_files), a download cut in the middle and retried, a 9101 that names its
//! file, and the refusals (an unknown file_qury_no, a path outside the allowed folders).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use yibao::{request_id_of, stderr, wait_until, Env};

const FIXMEDINS: &str = "H43010000001";

/// Runs one request through the shim (`call`, sync) and returns its id and output.
fn call(env: &Env, infno: &str, input: &Value) -> (i64, Value) {
    let out = env.shim_stdin(&["call", infno, "-", "--wait", "60"], &input.to_string());
    let id = request_id_of(&stderr(&out));
    let row = env.view(id);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{infno}: {} {:?}",
        stderr(&out),
        row.err_msg
    );
    let resp: Value = serde_json::from_str(row.response_data.as_deref().unwrap()).unwrap();
    (id, resp["output"].clone())
}

fn download(env: &Env, file_qury_no: &str) -> (i64, Value) {
    call(
        env,
        "9102",
        &json!({"fsDownloadIn": {"file_qury_no": file_qury_no, "filename": "plc", "fixmedins_code": FIXMEDINS}}),
    )
}

fn files_dir(env: &Env) -> PathBuf {
    env.config_path.parent().unwrap().join("files")
}

#[test]
fn a_catalog_download_arrives_whole_with_chinese_intact_and_is_recorded() {
    let env = Env::start();
    let (_, asked) = call(&env, "1301", &json!({"data": {"ver": "0"}}));
    let no = asked["file_qury_no"]
        .as_str()
        .expect("file_qury_no")
        .to_string();
    let (id, file) = download(&env, &no);

    // The zip is kept and fingerprinted, and its text unpacked beside it.
    let zip = PathBuf::from(file["path"].as_str().unwrap());
    assert!(zip.starts_with(files_dir(&env)), "{zip:?}");
    let bytes = std::fs::read(&zip).unwrap();
    assert_eq!(file["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(
        file["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes))
    );
    let entry = &file["entries"][0];
    assert_eq!(entry["encoding"], "UTF-8");
    let text = std::fs::read_to_string(entry["path"].as_str().unwrap()).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(rows.len() >= 10_000, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.contains('\t')));
    assert!(
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "Chinese names survive the zip and the disk"
    );

    // One DOWNLOAD row in medical_insurance_files, and the description in the fields
    // table, for T-SQL without JSON.
    let (direction, no_in_db, sha): (String, String, String) = env
        .db()
        .query_row(
            "SELECT direction, file_qury_no, sha256 FROM medical_insurance_files WHERE request_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (direction.as_str(), no_in_db.as_str()),
        ("DOWNLOAD", no.as_str())
    );
    assert_eq!(sha, file["sha256"].as_str().unwrap());
    let path_field: String = env
        .db()
        .query_row(
            "SELECT value FROM medical_insurance_response_fields WHERE request_id = ?1 AND path = 'entries[*].path'",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(path_field, entry["path"].as_str().unwrap());
}

#[test]
fn a_download_cut_in_the_middle_is_fetched_again_and_leaves_no_partial_file() {
    let env = Env::start();
    let (_, asked) = call(&env, "1301", &json!({"data": {"ver": "0"}}));
    let no = asked["file_qury_no"].as_str().unwrap().to_string();
    env.add_fault(json!({"infno": "9102", "kind": "reset", "times": 1}));
    let (id, file) = download(&env, &no);
    assert_eq!(env.attempt_outcomes(id), ["TRANSPORT_ERROR", "SUCCESS"]);
    let bytes = std::fs::read(file["path"].as_str().unwrap()).unwrap();
    assert_eq!(
        file["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&bytes))
    );
    let left: Vec<_> = std::fs::read_dir(files_dir(&env).join(id.to_string()))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".download"))
        .collect();
    assert!(left.is_empty(), "partial downloads left: {left:?}");
}

#[test]
fn an_unknown_file_is_the_platforms_error_and_nothing_is_recorded() {
    let env = Env::start();
    let out = env.shim_stdin(
        &["call", "9102", "-", "--wait", "30"],
        &json!({"fsDownloadIn": {"file_qury_no": "NO-SUCH-FILE", "filename": "plc", "fixmedins_code": FIXMEDINS}}).to_string(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let id = request_id_of(&stderr(&out));
    let row = env.view(id);
    assert_eq!(row.status, "ERROR");
    assert_eq!(row.infcode.as_deref(), Some("-1"));
    let files: i64 = env
        .db()
        .query_row("SELECT COUNT(*) FROM medical_insurance_files", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(files, 0);
}

#[test]
fn an_upload_names_its_file_and_only_allowed_files_leave() {
    let env = Env::start();
    let dir = files_dir(&env);
    std::fs::create_dir_all(&dir).unwrap();
    let detail = "setl_id\tmdtrt_id\tpsn_no\tmedfee_sumamt\n结算1\t就诊1\t人员1\t128.50\n";
    std::fs::write(dir.join("明细.txt"), detail).unwrap();

    let (id, out) = call(
        &env,
        "9101",
        &json!({"fsUploadIn": {"file_path": dir.join("明细.txt"), "fixmedins_code": FIXMEDINS}}),
    );
    let no = out["file_qury_no"].as_str().expect("file_qury_no");
    // The platform got the bytes; the stored input keeps the path, not megabytes of base64.
    let uploaded = env.mock_json("/__mock/files");
    let got = uploaded
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file_qury_no"] == no)
        .unwrap_or_else(|| panic!("{no} not uploaded: {uploaded}"));
    assert_eq!(
        got["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(detail.as_bytes()))
    );
    assert_eq!(got["filename"], "明细.txt");
    let stored: String = env
        .db()
        .query_row(
            "SELECT input_data FROM medical_insurance_requests WHERE request_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored.contains("file_path") && !stored.contains("\"in\""),
        "{stored}"
    );

    // A file outside [files] dir / upload_from never leaves.
    let secret = env.dir.path().join("secret.txt");
    std::fs::write(&secret, "x").unwrap();
    let out = env.shim_stdin(
        &["call", "9101", "-", "--wait", "30"],
        &json!({"fsUploadIn": {"file_path": secret, "fixmedins_code": FIXMEDINS}}).to_string(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let row = env.view(request_id_of(&stderr(&out)));
    assert!(
        row.err_msg.as_deref().unwrap_or("").contains("upload_from"),
        "{:?}",
        row.err_msg
    );
    wait_until(
        "the simulator's count settles",
        Duration::from_secs(2),
        || env.mock_count("9101") == 1,
    );
}
