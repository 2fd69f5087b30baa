use std::collections::HashSet;

use super::*;

fn store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(SqliteOptions::new(dir.path().join("q.db"))).unwrap()
}

fn spec(worker: &str, limit: u32) -> ClaimSpec {
    ClaimSpec {
        worker_id: worker.into(),
        limit,
        lease_until_ms: i64::MAX,
        now_ms: 0,
    }
}

fn new(code: &str) -> NewRequest {
    NewRequest {
        interface_code: code.into(),
        input_data: r#"{"data":{"psn_no":"1"}}"#.into(),
        overrides: Overrides {
            opter: Some("007".into()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn lifecycle_through_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s.insert_request(new("1101")).await.unwrap();
    assert_eq!(
        s.get(id).await.unwrap().unwrap().status,
        RequestStatus::Pending
    );

    let claimed = s.claim_pending(spec("w1", 10)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].overrides.opter.as_deref(), Some("007"));
    assert!(s.claim_pending(spec("w2", 10)).await.unwrap().is_empty());

    // Only the holder may begin an attempt or finish.
    assert!(matches!(
        s.begin_attempt(id, "w2", "1101", "M0", i64::MAX).await,
        Err(StoreError::LeaseLost(_))
    ));
    let a = s
        .begin_attempt(id, "w1", "1101", "M1", i64::MAX)
        .await
        .unwrap();
    let finish = |worker: &str| Finish {
        request_id: id,
        worker_id: worker.into(),
        status: RequestStatus::Completed,
        attempt: Some((a, AttemptOutcome::Success, 12)),
        response: Some(ResponseRow {
            response_data: r#"{"infcode":0,"output":{}}"#.into(),
            infcode: Some("0".into()),
            err_msg: None,
            origin: Origin::Platform,
        }),
        error: None,
    };
    assert!(!s.finish(finish("w2")).await.unwrap());
    assert!(s.finish(finish("w1")).await.unwrap());
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Completed);
    assert_eq!(v.infcode.as_deref(), Some("0"));
    assert_eq!(v.msgid.as_deref(), Some("M1"));
    assert_eq!(s.last_msgid().await.unwrap().as_deref(), Some("M1"));
    let counts = s.counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].count, 1);
}

#[tokio::test]
async fn claim_one_reports_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s.insert_request(new("2207")).await.unwrap();
    assert!(matches!(
        s.claim_one(id, spec("w", 1)).await.unwrap(),
        ClaimOne::Claimed(_)
    ));
    assert!(matches!(
        s.claim_one(id, spec("w", 1)).await.unwrap(),
        ClaimOne::NotPending(RequestStatus::Processing)
    ));
    assert!(matches!(
        s.claim_one(id + 100, spec("w", 1)).await.unwrap(),
        ClaimOne::NotFound
    ));
}

#[tokio::test]
async fn failed_job_does_not_spoil_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let id = s.insert_request(new("1101")).await.unwrap();
    s.claim_pending(spec("w", 1)).await.unwrap();
    s.begin_attempt(id, "w", "1101", "DUP", i64::MAX)
        .await
        .unwrap();
    // Same msgid again violates the unique index; concurrent inserts must still land.
    let (dup, others) = tokio::join!(
        s.begin_attempt(id, "w", "1101", "DUP", i64::MAX),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_claim_the_same_row() {
    let dir = tempfile::tempdir().unwrap();
    let a = store(&dir);
    let b = store(&dir); // its own writer thread and connections, like a second broker
    futures_join_all(&a, 300).await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_pending(spec(&format!("w{i}"), 7)).await.unwrap();
                if got.is_empty() {
                    break;
                }
                mine.extend(got.into_iter().map(|r| r.request_id));
            }
            mine
        });
    }
    let mut seen = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        for id in r.unwrap() {
            assert!(seen.insert(id), "row {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
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

#[tokio::test]
async fn expired_leases_are_found_and_moved_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let sent = s.insert_request(new("2207")).await.unwrap();
    let idle = s.insert_request(new("1101")).await.unwrap();
    let spec = |lease| ClaimSpec {
        worker_id: "dead".into(),
        limit: 10,
        lease_until_ms: lease,
        now_ms: 0,
    };
    assert_eq!(s.claim_pending(spec(1_000)).await.unwrap().len(), 2);
    s.begin_attempt(sent, "dead", "2207", "MSG-SENT", 1_000)
        .await
        .unwrap();
    // Not expired yet at t=500.
    assert!(s.expired_leases(500, 10).await.unwrap().is_empty());
    let found = s.expired_leases(2_000, 10).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].request_id, sent);
    assert_eq!(found[0].attempts, 1);
    assert_eq!(found[0].last_msgid.as_deref(), Some("MSG-SENT"));
    assert_eq!(found[1].attempts, 0);
    assert!(s
        .recover(&found[0], 2_000, RequestStatus::Uncertain, "why")
        .await
        .unwrap());
    // A second recovery of the same lease changes nothing.
    assert!(!s
        .recover(&found[0], 2_000, RequestStatus::Pending, "again")
        .await
        .unwrap());
    assert!(s
        .recover(&found[1], 2_000, RequestStatus::Pending, "requeued")
        .await
        .unwrap());
    assert_eq!(
        s.get(sent).await.unwrap().unwrap().status,
        RequestStatus::Uncertain
    );
    assert_eq!(
        s.get(sent).await.unwrap().unwrap().err_msg.as_deref(),
        Some("why")
    );
    assert_eq!(
        s.get(idle).await.unwrap().unwrap().status,
        RequestStatus::Pending
    );
    // A lease extended by a new attempt is not expired.
    let c = s.claim_pending(spec(1_000)).await.unwrap();
    assert_eq!(c.len(), 1);
    s.begin_attempt(idle, "dead", "1101", "MSG-2", 9_000)
        .await
        .unwrap();
    assert!(s.expired_leases(2_000, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_request_inserted_claimed_is_never_claimed_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir);
    let c = s.insert_claimed(new("9001"), spec("me", 1)).await.unwrap();
    assert_eq!(c.interface_code, "9001");
    assert!(s.claim_pending(spec("other", 10)).await.unwrap().is_empty());
    assert_eq!(
        s.get(c.request_id).await.unwrap().unwrap().status,
        RequestStatus::Processing
    );
    s.begin_attempt(c.request_id, "me", "9001", "M-ME", i64::MAX)
        .await
        .unwrap();
}
