//! The [`Store`] contract as executable checks, run against every implementation: SQLite
//! always (`sqlite/tests.rs`), SQL Server when `YIBAO_MSSQL_URL` names one
//! (`tests/mssql.rs`). Each check expects an empty store and panics on a violation — this
//! module is test support, compiled into the library only so both test suites can share it.

use std::collections::HashSet;

use yibao_proto::{Overrides, RequestStatus};

use crate::types::*;
use crate::{Store, StoreError};

mod batch;
mod fencing;
mod operator;

pub use batch::{a_catalog_load_moves_only_forward, a_job_runs_once_per_slot_and_holder};
pub use fencing::{
    a_reply_in_hand_beats_recovery, a_request_past_its_deadline_is_never_sent,
    a_superseded_claim_is_fenced_off, ending, rows_set_processing_by_hand_are_not_the_brokers,
    the_heartbeat_extends_the_lease_until_recovery, with_deadline, FUTURE, PAST,
};
pub use operator::{
    concurrent_reversals_start_one, one_reversal_per_request, only_a_pending_request_is_cancelled,
};

/// The holder of a row claimed once by `worker` (claim generation 1).
pub fn h(worker: &str) -> Holder {
    Holder {
        worker_id: worker.into(),
        fence: 1,
    }
}

/// `holder`'s attempt on row `request_id` with `msgid`, the lease left open. The store
/// records `infno` without reading it, so one code serves every check; a check that needs
/// another lease sets it with struct update syntax.
pub fn sending(request_id: i64, holder: &Holder, msgid: &str) -> AttemptStart {
    AttemptStart {
        request_id,
        holder: holder.clone(),
        infno: "2207".into(),
        msgid: msgid.into(),
        lease_until_ms: i64::MAX,
    }
}

pub fn spec(worker: &str, limit: u32) -> ClaimSpec {
    ClaimSpec {
        worker_id: worker.into(),
        limit,
        lease_until_ms: i64::MAX,
        now_ms: 0,
    }
}

/// A reply's field rows: a few awkward values plus a long list, more rows than a store
/// writes in one statement (SQLite: 16 per INSERT; SQL Server: 600 per batch, so three
/// batches in one transaction), so batching cannot drop or reorder any.
fn many_fields() -> Vec<ResponseField> {
    let mut f = vec![
        field("insuinfo[*].balc", 0, "10.00"),
        field("insuinfo[*].balc", 1, "3"),
        field("baseinfo.psn_name", 0, "李四<&\"'\u{1}"),
    ];
    f.extend((0..1250).map(|i| field("setldetail[*].fund_payamt", i, &format!("{i}.50"))));
    f
}

pub fn field(path: &str, row_index: u32, value: &str) -> ResponseField {
    ResponseField {
        path: path.into(),
        row_index,
        value: value.into(),
    }
}

pub fn new(code: &str) -> NewRequest {
    NewRequest {
        interface_code: code.into(),
        input_data: r#"{"data":{"psn_no":"1","psn_name":"张三"}}"#.into(),
        overrides: Overrides {
            opter: Some("007".into()),
            ..Default::default()
        },
        expires_at: None,
    }
}

/// PENDING → PROCESSING → COMPLETED, only the holder may act, the view shows the result.
pub async fn lifecycle_through_the_view(s: &impl Store) {
    let id = s.insert_request(new("1101")).await.unwrap();
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Pending);
    assert!(
        v.input_data.contains("张三"),
        "text survives: {}",
        v.input_data
    );

    let claimed = s.claim_pending(spec("w1", 10)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].overrides.opter.as_deref(), Some("007"));
    assert!(s.claim_pending(spec("w2", 10)).await.unwrap().is_empty());

    assert!(matches!(
        s.begin_attempt(sending(id, &h("w2"), "M0")).await,
        Err(StoreError::LeaseLost(_))
    ));
    let a = s.begin_attempt(sending(id, &h("w1"), "M1")).await.unwrap();
    let finish = |worker: &str| Finish {
        request_id: id,
        holder: h(worker),
        status: RequestStatus::Completed,
        attempt: Some(AttemptEnd {
            attempt_id: a,
            outcome: AttemptOutcome::Success,
            duration_ms: 12,
        }),
        response: Some(ResponseRow {
            response_data: r#"{"infcode":0,"output":{"name":"李四"}}"#.into(),
            infcode: Some("0".into()),
            err_msg: None,
            origin: Origin::Platform,
            fields: many_fields(),
        }),
        error: None,
    };
    assert!(!s.finish(finish("w2")).await.unwrap());
    assert!(s.finish(finish("w1")).await.unwrap());
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Completed);
    assert_eq!(v.infcode.as_deref(), Some("0"));
    assert_eq!(v.msgid.as_deref(), Some("M1"));
    assert!(v.response_data.unwrap().contains("李四"));
    assert_eq!(s.last_msgid().await.unwrap().as_deref(), Some("M1"));
    assert_eq!(
        s.response_fields(id).await.unwrap(),
        {
            let mut sorted = many_fields();
            sorted.sort_by(|a, b| (&a.path, a.row_index).cmp(&(&b.path, b.row_index)));
            sorted
        },
        "field rows are written with the response, every one and every character intact"
    );
    assert!(s.response_fields(id + 1000).await.unwrap().is_empty());
    let counts = s.counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].count, 1);

    // An operator transition only from the stated state.
    assert!(!s
        .transition(id, RequestStatus::Uncertain, RequestStatus::Reversed, "x")
        .await
        .unwrap());
    assert!(s
        .transition(
            id,
            RequestStatus::Completed,
            RequestStatus::Reversed,
            "冲正成功"
        )
        .await
        .unwrap());
    assert_eq!(
        s.get(id).await.unwrap().unwrap().status,
        RequestStatus::Reversed
    );
    assert!(s.needs_action(10).await.unwrap().is_empty());
}

/// UNCERTAIN and ERROR rows, newest first, are what needs a human.
pub async fn needs_action_lists_uncertain_and_error_newest_first(s: &impl Store) {
    let mut ids = Vec::new();
    for code in ["2207", "1101", "2201"] {
        let id = s.insert_request(new(code)).await.unwrap();
        s.claim_one(id, spec("w", 1)).await.unwrap();
        ids.push(id);
    }
    for (id, status) in ids.iter().zip([
        RequestStatus::Uncertain,
        RequestStatus::Completed,
        RequestStatus::Error,
    ]) {
        let f = Finish {
            request_id: *id,
            holder: h("w"),
            status,
            attempt: None,
            response: None,
            error: Some(format!("reason {id}")),
        };
        assert!(s.finish(f).await.unwrap());
    }
    let found = s.needs_action(10).await.unwrap();
    let got: Vec<(i64, RequestStatus)> = found.iter().map(|v| (v.request_id, v.status)).collect();
    assert_eq!(
        got,
        vec![
            (ids[2], RequestStatus::Error),
            (ids[0], RequestStatus::Uncertain)
        ]
    );
    assert_eq!(
        found[1].err_msg.as_deref(),
        Some(format!("reason {}", ids[0]).as_str())
    );
    assert_eq!(s.needs_action(1).await.unwrap().len(), 1);
}

/// `Run` on a row: claimed, or why not.
pub async fn claim_one_reports_why_not(s: &impl Store) {
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

/// A msgid is used once, ever; the second use is told apart from other errors.
pub async fn a_msgid_is_used_once(s: &impl Store) {
    let id = s.insert_request(new("1101")).await.unwrap();
    s.claim_pending(spec("w", 1)).await.unwrap();
    s.begin_attempt(sending(id, &h("w"), "DUP")).await.unwrap();
    assert!(matches!(
        s.begin_attempt(sending(id, &h("w"), "DUP")).await,
        Err(StoreError::DuplicateMsgid(_))
    ));
    // The failed attempt left nothing behind: the next one is attempt 2 of this request.
    s.begin_attempt(sending(id, &h("w"), "DUP2")).await.unwrap();
    assert_eq!(s.get(id).await.unwrap().unwrap().retry_count, 1);
}

/// Two store handles (two brokers) claiming concurrently never take the same row.
pub async fn competing_stores_never_claim_the_same_row<S: Store + Clone>(
    a: &S,
    b: &S,
    rows: usize,
) {
    for _ in 0..rows {
        a.insert_request(new("1101")).await.unwrap();
    }
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
    assert_eq!(seen.len(), rows);
}

/// Expired leases are found with their attempts and moved exactly once.
pub async fn expired_leases_are_found_and_moved_once(s: &impl Store) {
    let sent = s.insert_request(new("2207")).await.unwrap();
    let idle = s.insert_request(new("1101")).await.unwrap();
    let spec = |lease| ClaimSpec {
        worker_id: "dead".into(),
        limit: 10,
        lease_until_ms: lease,
        now_ms: 0,
    };
    assert_eq!(s.claim_pending(spec(1_000)).await.unwrap().len(), 2);
    s.begin_attempt(AttemptStart {
        lease_until_ms: 1_000,
        ..sending(sent, &h("dead"), "MSG-SENT")
    })
    .await
    .unwrap();
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
    assert!(!s
        .recover(&found[0], 2_000, RequestStatus::Pending, "again")
        .await
        .unwrap());
    assert!(s
        .recover(&found[1], 2_000, RequestStatus::Pending, "requeued")
        .await
        .unwrap());
    let v = s.get(sent).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Uncertain);
    assert_eq!(v.err_msg.as_deref(), Some("why"));
    assert_eq!(
        s.get(idle).await.unwrap().unwrap().status,
        RequestStatus::Pending
    );
    let c = s.claim_pending(spec(1_000)).await.unwrap();
    assert_eq!(c.len(), 1);
    // The same worker id under the earlier claim is fenced off: only the new claim may send.
    assert!(matches!(
        s.begin_attempt(AttemptStart {
            lease_until_ms: 9_000,
            ..sending(idle, &h("dead"), "MSG-OLD")
        })
        .await,
        Err(StoreError::LeaseLost(_))
    ));
    s.begin_attempt(AttemptStart {
        lease_until_ms: 9_000,
        ..sending(idle, &c[0].holder("dead"), "MSG-2")
    })
    .await
    .unwrap();
    assert!(s.expired_leases(2_000, 10).await.unwrap().is_empty());
}

/// A row the broker inserts already claimed (its own 9001) is never claimed by another.
pub async fn inserted_claimed_is_never_claimed_by_others(s: &impl Store) {
    let c = s.insert_claimed(new("9001"), spec("me", 1)).await.unwrap();
    assert_eq!(c.interface_code, "9001");
    assert!(s.claim_pending(spec("other", 10)).await.unwrap().is_empty());
    assert_eq!(
        s.get(c.request_id).await.unwrap().unwrap().status,
        RequestStatus::Processing
    );
    s.begin_attempt(sending(c.request_id, &h("me"), "M-ME"))
        .await
        .unwrap();
}

/// A received file is recorded with its fingerprint; a file the HIS named with SQL reads
/// back; an unknown id is `None`. (Bytes in `content` are written with each dialect's own
/// binary literal: the stores' own tests do that.)
pub async fn files_are_recorded_and_read_back<S: Store + Clone, RF>(
    s: &S,
    raw: impl Fn(&'static str) -> RF,
) where
    RF: std::future::Future<Output = ()>,
{
    let id = s
        .add_file(NewFile {
            request_id: Some(7),
            direction: FileDirection::Download,
            file_qury_no: Some("F0001".into()),
            filename: "plc".into(),
            path: Some("/var/files/7/plc.zip".into()),
            size: 1234,
            sha256: "ab".repeat(32),
        })
        .await
        .unwrap();
    let got = s.file_content(id, 1 << 20).await.unwrap().unwrap();
    assert_eq!(got.filename, "plc");
    assert_eq!(got.path.as_deref(), Some("/var/files/7/plc.zip"));
    assert_eq!(got.content, None);
    raw(
        "INSERT INTO medical_insurance_files (filename, path) VALUES ('dz.txt', 'C:\\his\\dz.txt')",
    )
    .await;
    let his = s.file_content(id + 1, 1 << 20).await.unwrap().unwrap();
    assert_eq!(his.filename, "dz.txt");
    assert_eq!(his.path.as_deref(), Some(r"C:\his\dz.txt"));
    assert_eq!(his.content, None);
    assert!(s.file_content(id + 1000, 1 << 20).await.unwrap().is_none());
}

/// Every check, each on an empty store made by `fresh` (which returns two handles on the
/// same database, like two brokers). `raw` runs a statement valid in both dialects on the
/// database behind a handle (for rows made by plain SQL, as the HIS or a DBA would).
pub async fn all<S, F, Fut, R, RF>(fresh: F, raw: R)
where
    S: Store + Clone,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (S, S)>,
    R: Fn(S, &'static str) -> RF,
    RF: std::future::Future<Output = ()>,
{
    lifecycle_through_the_view(&fresh().await.0).await;
    claim_one_reports_why_not(&fresh().await.0).await;
    a_msgid_is_used_once(&fresh().await.0).await;
    expired_leases_are_found_and_moved_once(&fresh().await.0).await;
    inserted_claimed_is_never_claimed_by_others(&fresh().await.0).await;
    needs_action_lists_uncertain_and_error_newest_first(&fresh().await.0).await;
    a_superseded_claim_is_fenced_off(&fresh().await.0).await;
    the_heartbeat_extends_the_lease_until_recovery(&fresh().await.0).await;
    a_request_past_its_deadline_is_never_sent(&fresh().await.0).await;
    a_reply_in_hand_beats_recovery(&fresh().await.0).await;
    only_a_pending_request_is_cancelled(&fresh().await.0).await;
    one_reversal_per_request(&fresh().await.0).await;
    let s = fresh().await.0;
    rows_set_processing_by_hand_are_not_the_brokers(&s, |sql| raw(s.clone(), sql)).await;
    let s = fresh().await.0;
    files_are_recorded_and_read_back(&s, |sql| raw(s.clone(), sql)).await;
    let (a, b) = fresh().await;
    concurrent_reversals_start_one(&a, &b).await;
    let (a, b) = fresh().await;
    a_job_runs_once_per_slot_and_holder(&a, &b).await;
    a_catalog_load_moves_only_forward(&fresh().await.0).await;
    let (a, b) = fresh().await;
    competing_stores_never_claim_the_same_row(&a, &b, 300).await;
}
