//! 目录下载 into tables with the real broker, shim and simulator: `yibao-call
//! catalog-download` runs 1301 → 9102 → unzip → rows in `medical_insurance_catalog_rows`
//! (Chinese intact, line for line), keeps the version and continues from it the next
//! time; a job inserted by plain SQL (the stored procedure's path) is found and run; two
//! brokers downloading the same catalog at once add its rows once.

use std::time::Duration;

use serde_json::{json, Value};
use yibao::{stderr, stdout, wait_until, Env};

/// Runs `catalog-download` and returns its result JSON (stdout); asserts exit 0.
fn download(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["catalog-download"];
    all.extend_from_slice(args);
    let out = env.shim(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("status=COMPLETED"),
        "{}",
        stderr(&out)
    );
    serde_json::from_str(&stdout(&out)).expect("result JSON")
}

fn newest_version(env: &Env, infno: &str) -> String {
    let all = env.mock_json("/__mock/catalog");
    let c = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["infno"] == infno)
        .unwrap_or_else(|| panic!("{infno} in {all}"));
    let versions = c["versions"].as_array().unwrap();
    versions.last().unwrap()["ver_name"]
        .as_str()
        .unwrap()
        .to_string()
}

fn rows_of(env: &Env, code: &str) -> i64 {
    env.db()
        .query_row(
            "SELECT COUNT(*) FROM medical_insurance_catalog_rows WHERE catalog_code = ?1",
            [code],
            |r| r.get(0),
        )
        .unwrap()
}

/// The text the broker unpacked from the 9102 of `request_id` (the file the rows came from).
fn downloaded_text(env: &Env, request_id: i64) -> String {
    let row = env.view(request_id);
    let resp: Value = serde_json::from_str(row.response_data.as_deref().unwrap()).unwrap();
    let path = resp["output"]["entries"][0]["path"].as_str().unwrap();
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn a_catalog_lands_in_the_table_whole_and_the_next_run_is_incremental() {
    let env = Env::start();
    let first = download(&env, &["1301"]);
    let v1 = newest_version(&env, "1301");
    assert_eq!(first["rows"], 12_000, "{first}");
    assert_eq!(first["total"], 12_000);
    assert_eq!(first["from_ver"], "0");
    assert_eq!(first["ver_name"], v1.as_str());
    assert_eq!(rows_of(&env, "1301"), 12_000);

    // Line for line what the platform sent, Chinese intact, numbered as in the file.
    let file_request = first["requests"][1].as_i64().unwrap();
    let text = downloaded_text(&env, file_request);
    let db = env.db();
    let mut st = db
        .prepare(
            "SELECT row_no, item_code, ver_name, fields FROM medical_insurance_catalog_rows \
             WHERE catalog_code = '1301' ORDER BY row_no",
        )
        .unwrap();
    let stored: Vec<(i64, String, String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(stored.len(), lines.len());
    for ((row_no, code, ver, fields), line) in stored.iter().zip(&lines) {
        assert_eq!(fields, line, "row {row_no}");
        assert_eq!(Some(code.as_str()), line.split('\t').next());
        assert_eq!(Some(ver.as_str()), line.rsplit('\t').next());
    }
    let chinese = stored
        .iter()
        .filter(|r| r.3.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
        .count();
    assert_eq!(chinese, stored.len(), "every row carries its Chinese name");

    // The platform publishes a newer version: the next run asks after the one held and adds
    // only the new rows.
    env.mock_post(
        "/__mock/catalog",
        &json!({"infno": "1301", "add_rows": 300}),
    );
    let v2 = newest_version(&env, "1301");
    assert_ne!(v1, v2);
    let second = download(&env, &["1301"]);
    assert_eq!(second["rows"], 300, "{second}");
    assert_eq!(second["total"], 12_300);
    assert_eq!(second["from_ver"], v1.as_str());
    assert_eq!(second["ver_name"], v2.as_str());
    let asked: String = env
        .db()
        .query_row(
            "SELECT input_data FROM medical_insurance_requests WHERE request_id = ?1",
            [second["requests"][0].as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    let input: Value = serde_json::from_str(&asked).unwrap();
    assert_eq!(
        input["data"]["ver"],
        v1.as_str(),
        "the 1301 asked after the held version"
    );
    assert_eq!(rows_of(&env, "1301"), 12_300);

    // Nothing newer: nothing added, the version stays.
    let third = download(&env, &["1301"]);
    assert_eq!(
        (third["rows"].clone(), third["total"].clone()),
        (json!(0), json!(12_300))
    );
    assert_eq!(third["ver_name"], v2.as_str());

    // Asking after an older version than the one held would add rows twice: refused.
    let again = env.shim(&["catalog-download", "1301", "--ver-name", &v1]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("continues after it"),
        "{}",
        stderr(&again)
    );
    yibao::assert_wording("refusal", &stderr(&again));

    let (held, count): (String, i64) = env
        .db()
        .query_row(
            "SELECT ver_name, row_count FROM medical_insurance_catalog_versions WHERE catalog_code = '1301'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((held, count), (v2, 12_300));
    assert_eq!(rows_of(&env, "1301"), 12_300);
    let done: i64 = env
        .db()
        .query_row(
            "SELECT COUNT(*) FROM medical_insurance_jobs WHERE kind = 'catalog-download' AND status = 'COMPLETED'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(done, 3);
}

#[test]
fn a_job_inserted_by_sql_is_run_and_reported() {
    let env = Env::start();
    env.db()
        .execute(
            "INSERT INTO medical_insurance_jobs (kind, params) VALUES ('catalog-download', '{\"catalog\":\"1302\"}')",
            [],
        )
        .unwrap();
    let id: i64 = env
        .db()
        .query_row("SELECT MAX(job_id) FROM medical_insurance_jobs", [], |r| {
            r.get(0)
        })
        .unwrap();
    wait_until("the broker ran the job", Duration::from_secs(60), || {
        env.db()
            .query_row(
                "SELECT status FROM medical_insurance_jobs WHERE job_id = ?1",
                [id],
                |r| r.get::<_, String>(0),
            )
            .unwrap()
            == "COMPLETED"
    });
    assert_eq!(rows_of(&env, "1302"), 500);
    let out = env.shim(&["job", &id.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let result: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(result["rows"], 500);
    assert!(stderr(&out).contains(&format!("job_id={id} status=COMPLETED")));

    // Refusals: not a file catalog, a bad version name, an unknown job.
    let out = env.shim(&["catalog-download", "1304"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(stderr(&out).contains("1304"), "{}", stderr(&out));
    let out = env.shim(&[
        "catalog-download",
        "1301",
        "--ver-name",
        "x\"; DROP TABLE t",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let out = env.shim(&["job", "99999"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(rows_of(&env, "1301"), 0);
}

#[test]
fn two_brokers_downloading_one_catalog_at_once_add_its_rows_once() {
    let mut env = Env::start();
    let other = env.start_another_broker();
    let a = env.spawn_shim(&["catalog-download", "1305"]);
    let b = yibao::shim_command(&other, &["catalog-download", "1305"], false)
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)),
        "{codes:?} {} {}",
        stderr(&a),
        stderr(&b)
    );
    // The loser (if they overlapped) ends ERROR saying another job moved the catalog.
    for o in [&a, &b] {
        if o.status.code() != Some(0) {
            assert_eq!(o.status.code(), Some(1), "{}", stderr(o));
            assert!(
                stderr(o).contains("another job moved the catalog"),
                "{}",
                stderr(o)
            );
        }
    }
    assert_eq!(rows_of(&env, "1305"), 500);
}
