use super::*;

/// Runs one statement on the file behind [`store`] with a plain connection, as the HIS or a
/// DBA would.
fn raw(
    dir: &tempfile::TempDir,
) -> impl Fn(&'static str) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    let path = dir.path().join("q.db");
    move |sql| {
        let path = path.clone();
        Box::pin(async move {
            rusqlite::Connection::open(path)
                .unwrap()
                .execute(sql, [])
                .unwrap();
        })
    }
}

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(SqliteOptions::new(dir.path().join("q.db"))).unwrap()
}

use crate::conformance::{self, h, new, sending, spec};
use yibao_proto::Overrides;

// The Store contract (crate::conformance), on a fresh file each.

#[tokio::test]
async fn conformance_lifecycle_through_the_view() {
    let dir = tempfile::tempdir().unwrap();
    conformance::lifecycle_through_the_view(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_claim_one_reports_why_not() {
    let dir = tempfile::tempdir().unwrap();
    conformance::claim_one_reports_why_not(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_a_msgid_is_used_once() {
    let dir = tempfile::tempdir().unwrap();
    conformance::a_msgid_is_used_once(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_expired_leases_are_found_and_moved_once() {
    let dir = tempfile::tempdir().unwrap();
    conformance::expired_leases_are_found_and_moved_once(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_inserted_claimed_is_never_claimed_by_others() {
    let dir = tempfile::tempdir().unwrap();
    conformance::inserted_claimed_is_never_claimed_by_others(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_needs_action_lists_uncertain_and_error_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    conformance::needs_action_lists_uncertain_and_error_newest_first(&store(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_two_stores_on_one_file_never_claim_the_same_row() {
    let dir = tempfile::tempdir().unwrap();
    // The second handle has its own writer thread and connections, like a second broker.
    conformance::competing_stores_never_claim_the_same_row(&store(&dir), &store(&dir), 300).await;
}

#[tokio::test]
async fn conformance_a_job_runs_once_per_slot_and_holder() {
    let dir = tempfile::tempdir().unwrap();
    conformance::a_job_runs_once_per_slot_and_holder(&store(&dir), &store(&dir)).await;
}

#[tokio::test]
async fn conformance_a_catalog_load_moves_only_forward() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    conformance::a_catalog_load_moves_only_forward(&s).await;
    // Chinese text (and a character outside the BMP) is stored as it came.
    let c = rusqlite::Connection::open(dir.path().join("q.db")).unwrap();
    let name: String = c
        .query_row(
            "SELECT fields FROM medical_insurance_catalog_rows WHERE ver_name = '20261102-002'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(name, "XA01000001\t头孢克肟分散片（𠀀）\t20261102-002");
}

#[tokio::test]
async fn conformance_a_superseded_claim_is_fenced_off() {
    let dir = tempfile::tempdir().unwrap();
    conformance::a_superseded_claim_is_fenced_off(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_the_heartbeat_extends_the_lease_until_recovery() {
    let dir = tempfile::tempdir().unwrap();
    conformance::the_heartbeat_extends_the_lease_until_recovery(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_a_request_past_its_deadline_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    conformance::a_request_past_its_deadline_is_never_sent(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_a_reply_in_hand_beats_recovery() {
    let dir = tempfile::tempdir().unwrap();
    conformance::a_reply_in_hand_beats_recovery(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_only_a_pending_request_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    conformance::only_a_pending_request_is_cancelled(&store(&dir)).await;
}

#[tokio::test]
async fn conformance_one_reversal_per_request() {
    let dir = tempfile::tempdir().unwrap();
    conformance::one_reversal_per_request(&store(&dir)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_concurrent_reversals_start_one() {
    let dir = tempfile::tempdir().unwrap();
    conformance::concurrent_reversals_start_one(&store(&dir), &store(&dir)).await;
}

#[tokio::test]
async fn conformance_rows_set_processing_by_hand_are_not_the_brokers() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    conformance::rows_set_processing_by_hand_are_not_the_brokers(&s, raw(&dir)).await;
}

#[tokio::test]
async fn failed_job_does_not_spoil_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s.insert_request(new("1101")).await.unwrap();
    s.claim_pending(spec("w", 1)).await.unwrap();
    s.begin_attempt(sending(id, &h("w"), "DUP")).await.unwrap();
    // Same msgid again violates the unique index; concurrent inserts must still land.
    let w = h("w");
    let (dup, others) = tokio::join!(
        s.begin_attempt(sending(id, &w, "DUP")),
        futures_join_all(&s, 20)
    );
    assert!(dup.is_err());
    assert_eq!(others.len(), 20);
}

async fn futures_join_all(s: &SqliteStore, n: usize) -> Vec<i64> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let s = s.clone();
        set.spawn(async move { s.insert_request(new("1101")).await.unwrap() });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn rows_inserted_by_plain_sql_are_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let c = rusqlite::Connection::open(dir.path().join("q.db")).unwrap();
    c.execute(
        "INSERT INTO medical_insurance_requests (interface_code, input_data) VALUES ('1101', '{}')",
        [],
    )
    .unwrap();
    let got = s.claim_pending(spec("w", 5)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].overrides, Overrides::default());
}

#[tokio::test]
async fn reopening_keeps_rows() {
    let dir = tempfile::tempdir().unwrap();
    let id = store(&dir).insert_request(new("1101")).await.unwrap();
    let s = store(&dir);
    assert!(s.get(id).await.unwrap().is_some());
}

/// Deadlines in the forms people write them; anything unreadable counts as passed.
#[tokio::test]
async fn deadline_forms() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let c = rusqlite::Connection::open(dir.path().join("q.db")).unwrap();
    let cases: &[(&str, bool)] = &[
        (
            "strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime', '+1 hour')",
            false,
        ),
        (
            "strftime('%Y-%m-%dT%H:%M:%f', 'now', 'localtime', '+1 hour')",
            false,
        ),
        (
            "strftime('%Y-%m-%d %H:%M:%S', 'now', 'localtime', '-1 minute')",
            true,
        ),
        // A zone names an instant: an hour ahead in UTC is ahead wherever the broker runs.
        ("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 hour')", false),
        (
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-1 hour')",
            true,
        ),
        ("3000000", true),
        ("'3000000'", true),
        ("'tomorrow'", true),
        ("''", true),
        ("X'00'", true),
    ];
    let mut ids = Vec::new();
    for (expr, _) in cases {
        ids.push(
            c.query_row(
                &format!(
                    "INSERT INTO medical_insurance_requests (interface_code, input_data, expires_at) \
                     VALUES ('2207', '{{}}', {expr}) RETURNING request_id"
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap(),
        );
    }
    let claimed = s.claim_pending(spec("w", 100)).await.unwrap();
    for ((expr, expired), id) in cases.iter().zip(&ids) {
        let row = claimed.iter().find(|r| r.request_id == *id).unwrap();
        assert_eq!(row.expired, *expired, "{expr}");
        let begun = s
            .begin_attempt(sending(*id, &row.holder("w"), &format!("M{id}")))
            .await;
        assert_eq!(
            matches!(begun, Err(StoreError::Expired(_))),
            *expired,
            "{expr}: {begun:?}"
        );
    }
}

#[tokio::test]
async fn conformance_files_are_recorded_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let raw = raw(&dir);
    conformance::files_are_recorded_and_read_back(&s, &raw).await;
    // Bytes the HIS stored, as a BLOB or (SQLite keeps what it is given) as TEXT.
    raw("INSERT INTO medical_insurance_files (file_id, filename, content) VALUES (100, '对账明细.txt', X'00FF0A41')").await;
    raw("INSERT INTO medical_insurance_files (file_id, filename, content) VALUES (101, 'a.txt', '张三')").await;
    let blob = s.file_content(100, 1 << 20).await.unwrap().unwrap();
    assert_eq!(blob.filename, "对账明细.txt");
    assert_eq!(blob.content.as_deref(), Some(&[0x00, 0xFF, 0x0A, 0x41][..]));
    let text = s.file_content(101, 1 << 20).await.unwrap().unwrap();
    assert_eq!(text.content.as_deref(), Some("张三".as_bytes()));
    // Over the limit: measured, not read.
    let big = s.file_content(100, 3).await.unwrap().unwrap();
    assert_eq!((big.content, big.content_size), (None, Some(4)));
}
