//! Checks of the fencing token (`claim_gen`), the heartbeat, the deadline (`expires_at`)
//! and the one exception to fencing: a platform reply in hand after recovery.

use yibao_proto::RequestStatus;

use super::{h, new, sending, spec};
use crate::types::*;
use crate::{Store, StoreError};

/// A deadline long past and one far ahead, in the local-time text `NewRequest` takes (with
/// and without milliseconds).
pub const PAST: &str = "2001-02-03 04:05:06.789";
pub const FUTURE: &str = "2999-12-31 23:59:59";

/// A claim of everything due by `worker` under a lease ending at `lease`.
fn leased(worker: &str, lease: i64) -> ClaimSpec {
    ClaimSpec {
        lease_until_ms: lease,
        ..spec(worker, 10)
    }
}

pub fn with_deadline(code: &str, expires_at: &str) -> NewRequest {
    NewRequest {
        expires_at: Some(expires_at.into()),
        ..new(code)
    }
}

/// How a request ends: with a reply of `origin` (or none), closing `attempt` if given.
pub fn ending(
    request_id: i64,
    holder: &Holder,
    status: RequestStatus,
    origin: Option<Origin>,
    attempt: Option<i64>,
) -> Finish {
    Finish {
        request_id,
        holder: holder.clone(),
        status,
        attempt: attempt.map(|attempt_id| AttemptEnd {
            attempt_id,
            outcome: AttemptOutcome::Success,
            duration_ms: 5,
        }),
        response: origin.map(|origin| ResponseRow {
            response_data: r#"{"infcode":0,"output":{}}"#.into(),
            infcode: Some("0".into()),
            err_msg: None,
            origin,
            fields: Vec::new(),
        }),
        error: None,
    }
}

pub(super) async fn claim<S: Store>(s: &S, id: i64, worker: &str, lease: i64) -> ClaimedRequest {
    match s.claim_one(id, leased(worker, lease)).await.unwrap() {
        ClaimOne::Claimed(c) => c,
        other => panic!("row {id} not claimed: {other:?}"),
    }
}

async fn expired_row<S: Store>(s: &S, id: i64, now_ms: i64) -> ExpiredLease {
    s.expired_leases(now_ms, 1_000)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.request_id == id)
        .unwrap_or_else(|| panic!("row {id} has no expired lease at {now_ms}"))
}

/// A broker claimed the row (lease 1 000), began an attempt and stalled; recovery moved the
/// row to `to`. Returns the stalled broker's holder and attempt.
async fn stranded<S: Store>(s: &S, msgid: &str, to: RequestStatus) -> (i64, Holder, i64) {
    let id = s.insert_request(new("2207")).await.unwrap();
    let holder = claim(s, id, "stalled", 1_000).await.holder("stalled");
    let attempt = s
        .begin_attempt(AttemptStart {
            lease_until_ms: 1_000,
            ..sending(id, &holder, msgid)
        })
        .await
        .unwrap();
    let lease = expired_row(s, id, 2_000).await;
    assert!(s.recover(&lease, 2_000, to, "recovered").await.unwrap());
    (id, holder, attempt)
}

/// A claim superseded by a later one (same worker id, older fence) can neither begin an
/// attempt, nor extend the lease, nor finish; the current claim can do all three.
pub async fn a_superseded_claim_is_fenced_off(s: &impl Store) {
    let id = s.insert_request(new("2207")).await.unwrap();
    let first = s.claim_pending(leased("w", 1_000)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].fence, 1, "the first claim is generation 1");
    let old = first[0].holder("w");
    let lease = expired_row(s, id, 2_000).await;
    assert_eq!(lease.fence, 1);
    assert!(lease.claimed_by_broker);
    assert!(s
        .recover(&lease, 2_000, RequestStatus::Pending, "requeued")
        .await
        .unwrap());
    let again = claim(s, id, "w", i64::MAX).await;
    assert_eq!(again.fence, 2, "every claim increments the generation");
    let current = again.holder("w");

    assert!(matches!(
        s.begin_attempt(sending(id, &old, "FENCED-OLD")).await,
        Err(StoreError::LeaseLost(_))
    ));
    assert!(!s.heartbeat(id, &old, i64::MAX).await.unwrap());
    for origin in [Some(Origin::Platform), Some(Origin::Broker), None] {
        let f = ending(id, &old, RequestStatus::Completed, origin, None);
        assert!(
            !s.finish(f).await.unwrap(),
            "{origin:?} finish by old claim"
        );
    }
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Processing);
    assert_eq!(v.msgid, None, "the refused attempt left no trace");
    assert_eq!(s.last_msgid().await.unwrap(), None);

    let a = s
        .begin_attempt(sending(id, &current, "FENCED-NEW"))
        .await
        .unwrap();
    assert!(s.heartbeat(id, &current, i64::MAX).await.unwrap());
    let f = ending(
        id,
        &current,
        RequestStatus::Completed,
        Some(Origin::Platform),
        Some(a),
    );
    assert!(s.finish(f).await.unwrap());
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Completed);
    assert_eq!(v.msgid.as_deref(), Some("FENCED-NEW"));

    // A row the broker inserts already claimed is generation 1 too.
    let mine = s.insert_claimed(new("9001"), spec("me", 1)).await.unwrap();
    assert_eq!(mine.fence, 1);
}

/// The heartbeat extends (never shortens) the lease of a held row, so recovery leaves it
/// alone; once recovery has moved the row, the heartbeat reports the claim lost.
pub async fn the_heartbeat_extends_the_lease_until_recovery(s: &impl Store) {
    let id = s.insert_request(new("2207")).await.unwrap();
    let holder = claim(s, id, "w", 1_000).await.holder("w");
    assert!(s.heartbeat(id, &holder, 5_000).await.unwrap());
    assert!(
        s.expired_leases(2_000, 10).await.unwrap().is_empty(),
        "the heartbeat moved the lease past 2 000"
    );
    assert!(s.heartbeat(id, &holder, 100).await.unwrap());
    assert!(
        s.expired_leases(2_000, 10).await.unwrap().is_empty(),
        "a heartbeat never shortens the lease"
    );
    let found = expired_row(s, id, 6_000).await;
    assert_eq!(found.lease_until_ms, Some(5_000));
    // The holder is back before recovery acts: the lease it found is no longer the row's.
    assert!(s.heartbeat(id, &holder, 9_000).await.unwrap());
    assert!(!s
        .recover(&found, 6_000, RequestStatus::Pending, "late")
        .await
        .unwrap());
    let found = expired_row(s, id, 10_000).await;
    assert!(s
        .recover(&found, 10_000, RequestStatus::Pending, "requeued")
        .await
        .unwrap());
    assert!(!s.heartbeat(id, &holder, 20_000).await.unwrap());
    assert!(matches!(
        s.begin_attempt(AttemptStart {
            lease_until_ms: 20_000,
            ..sending(id, &holder, "HB-LATE")
        })
        .await,
        Err(StoreError::LeaseLost(_))
    ));
}

/// A request past its `expires_at` is claimed with `expired` set and can never begin an
/// attempt (`Expired` for its holder, `LeaseLost` for anyone else); one with a future
/// deadline, or none, is sent as usual.
pub async fn a_request_past_its_deadline_is_never_sent(s: &impl Store) {
    let late = s.insert_request(with_deadline("2207", PAST)).await.unwrap();
    let early = s
        .insert_request(with_deadline("2207", FUTURE))
        .await
        .unwrap();
    let open = s.insert_request(new("2207")).await.unwrap();
    let got = s.claim_pending(spec("w", 10)).await.unwrap();
    let flags: Vec<(i64, bool)> = got.iter().map(|c| (c.request_id, c.expired)).collect();
    assert_eq!(flags, vec![(late, true), (early, false), (open, false)]);
    assert!(got.iter().all(|c| c.defect.is_none()), "{got:?}");

    assert!(matches!(
        s.begin_attempt(sending(late, &h("someone-else"), "DL-X"))
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    assert!(matches!(
        s.begin_attempt(sending(late, &h("w"), "DL-LATE")).await,
        Err(StoreError::Expired(_))
    ));
    let v = s.get(late).await.unwrap().unwrap();
    assert_eq!(
        v.status,
        RequestStatus::Processing,
        "still held, to be ended"
    );
    assert_eq!(v.msgid, None);
    let f = Finish {
        error: Some("expired".into()),
        ..ending(late, &h("w"), RequestStatus::Error, None, None)
    };
    assert!(s.finish(f).await.unwrap());

    s.begin_attempt(sending(early, &h("w"), "DL-EARLY"))
        .await
        .unwrap();
    s.begin_attempt(sending(open, &h("w"), "DL-OPEN"))
        .await
        .unwrap();

    // The same for a row the broker inserts already claimed.
    let own = s
        .insert_claimed(with_deadline("9001", PAST), spec("me", 1))
        .await
        .unwrap();
    assert!(own.expired);
    assert!(matches!(
        s.begin_attempt(sending(own.request_id, &own.holder("me"), "DL-OWN"))
            .await,
        Err(StoreError::Expired(_))
    ));
    let own = s
        .insert_claimed(with_deadline("9001", FUTURE), spec("me", 1))
        .await
        .unwrap();
    assert!(!own.expired);
}

/// A platform reply that arrives after recovery marked the row UNCERTAIN (or PENDING)
/// still finishes it, with the same claim generation; not once the row was claimed again
/// or a 冲正 was started for it, and never for the broker's own verdict.
pub async fn a_reply_in_hand_beats_recovery(s: &impl Store) {
    // Recovered UNCERTAIN: the broker's verdict is refused, the platform's reply accepted.
    let (id, holder, a) = stranded(s, "RIH-1", RequestStatus::Uncertain).await;
    let f = ending(
        id,
        &holder,
        RequestStatus::Error,
        Some(Origin::Broker),
        Some(a),
    );
    assert!(
        !s.finish(f).await.unwrap(),
        "a Broker-origin finish is refused"
    );
    let f = ending(id, &holder, RequestStatus::Error, None, Some(a));
    assert!(
        !s.finish(f).await.unwrap(),
        "a finish without reply is refused"
    );
    assert_eq!(
        s.get(id).await.unwrap().unwrap().status,
        RequestStatus::Uncertain
    );
    let f = ending(
        id,
        &holder,
        RequestStatus::Completed,
        Some(Origin::Platform),
        Some(a),
    );
    assert!(s.finish(f).await.unwrap());
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Completed);
    assert_eq!(v.infcode.as_deref(), Some("0"));

    // Recovered PENDING and not claimed since: the reply is still the truth.
    let (id, holder, a) = stranded(s, "RIH-2", RequestStatus::Pending).await;
    let f = ending(
        id,
        &holder,
        RequestStatus::Completed,
        Some(Origin::Platform),
        Some(a),
    );
    assert!(s.finish(f).await.unwrap());
    assert_eq!(
        s.get(id).await.unwrap().unwrap().status,
        RequestStatus::Completed
    );

    // Recovered PENDING and claimed again: the old claim's reply is refused.
    let (id, holder, a) = stranded(s, "RIH-3", RequestStatus::Pending).await;
    let again = claim(s, id, "stalled", i64::MAX).await;
    let f = ending(
        id,
        &holder,
        RequestStatus::Completed,
        Some(Origin::Platform),
        Some(a),
    );
    assert!(!s.finish(f).await.unwrap(), "the row was claimed again");
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Processing);
    assert_eq!(v.response_data, None);
    let f = ending(
        id,
        &again.holder("stalled"),
        RequestStatus::Completed,
        Some(Origin::Platform),
        None,
    );
    assert!(s.finish(f).await.unwrap());

    // Recovered UNCERTAIN and a 冲正 started: the reply must not undo that decision.
    let (id, holder, a) = stranded(s, "RIH-4", RequestStatus::Uncertain).await;
    assert!(matches!(
        s.begin_reversal(id, new("2601")).await.unwrap(),
        ReversalStart::Started(_)
    ));
    let f = ending(
        id,
        &holder,
        RequestStatus::Completed,
        Some(Origin::Platform),
        Some(a),
    );
    assert!(!s.finish(f).await.unwrap(), "a reversal was started");
    let v = s.get(id).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Uncertain);
    assert_eq!(v.response_data, None);
}

/// A row set PROCESSING by plain SQL (no claim generation, maybe no worker) is reported as
/// not claimed by the broker, so recovery does not read "no attempt" as "never sent"; and
/// recovery can still move it. `raw` runs SQL valid in both dialects on the store's
/// database.
pub async fn rows_set_processing_by_hand_are_not_the_brokers<S, R, RF>(s: &S, raw: R)
where
    S: Store,
    R: Fn(&'static str) -> RF,
    RF: std::future::Future<Output = ()>,
{
    raw(
        "INSERT INTO medical_insurance_requests (interface_code, input_data, status) \
         VALUES ('2207', '{}', 'PROCESSING')",
    )
    .await;
    raw(
        "INSERT INTO medical_insurance_requests (interface_code, input_data, status, worker_id) \
         VALUES ('2207', '{}', 'PROCESSING', 'old-broker')",
    )
    .await;
    let mine = s.insert_request(new("2207")).await.unwrap();
    claim(s, mine, "w", 1_000).await;
    let found = s.expired_leases(2_000, 10).await.unwrap();
    let seen: Vec<(Option<&str>, i64, bool)> = found
        .iter()
        .map(|l| (l.worker_id.as_deref(), l.fence, l.claimed_by_broker))
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, 0, false),
            (Some("old-broker"), 0, false),
            (Some("w"), 1, true)
        ]
    );
    assert_eq!(found[0].lease_until_ms, None);
    assert_eq!(found[0].attempts, 0);
    assert_eq!(found[2].request_id, mine);
    for lease in &found[..2] {
        assert!(s
            .recover(lease, 2_000, RequestStatus::Uncertain, "set by hand")
            .await
            .unwrap());
        assert_eq!(
            s.get(lease.request_id).await.unwrap().unwrap().status,
            RequestStatus::Uncertain
        );
    }
}
