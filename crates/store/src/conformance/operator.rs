//! Checks of the operator actions decided in the store: cancel and 冲正 (2601).

use yibao_proto::RequestStatus;

use super::fencing::{claim, ending};
use super::{new, spec};
use crate::types::*;
use crate::{Store, CANCELLED_REASON};

/// Inserts a request, claims it and ends it in `status` (no reply).
async fn ended_in<S: Store>(s: &S, status: RequestStatus) -> i64 {
    let id = s.insert_request(new("2207")).await.unwrap();
    let holder = claim(s, id, "w", i64::MAX).await.holder("w");
    assert!(s
        .finish(ending(id, &holder, status, None, None))
        .await
        .unwrap());
    id
}

/// Only a PENDING request can be cancelled; it becomes ERROR with the reason and is never
/// claimed. Otherwise the current state is reported and nothing changes.
pub async fn only_a_pending_request_is_cancelled(s: &impl Store) {
    let pending = s.insert_request(new("2207")).await.unwrap();
    let held = s.insert_request(new("2207")).await.unwrap();
    claim(s, held, "w", i64::MAX).await;
    let done = ended_in(s, RequestStatus::Completed).await;

    assert_eq!(
        s.cancel(pending, CANCELLED_REASON).await.unwrap(),
        CancelOutcome::Cancelled
    );
    let v = s.get(pending).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Error);
    assert_eq!(v.err_msg.as_deref(), Some(CANCELLED_REASON));
    assert_eq!(
        s.cancel(pending, "again").await.unwrap(),
        CancelOutcome::NotPending(RequestStatus::Error)
    );
    assert_eq!(
        s.cancel(held, "x").await.unwrap(),
        CancelOutcome::NotPending(RequestStatus::Processing)
    );
    assert_eq!(
        s.cancel(done, "x").await.unwrap(),
        CancelOutcome::NotPending(RequestStatus::Completed)
    );
    assert_eq!(
        s.cancel(done + 1_000, "x").await.unwrap(),
        CancelOutcome::NotFound
    );
    assert!(
        s.claim_pending(spec("w", 10)).await.unwrap().is_empty(),
        "a cancelled request is never claimed"
    );
    assert_eq!(
        s.get(held).await.unwrap().unwrap().status,
        RequestStatus::Processing
    );
    assert_eq!(
        s.get(done).await.unwrap().unwrap().err_msg.as_deref(),
        None,
        "a refused cancel leaves no reason behind"
    );
}

/// One 冲正 per request: started only for UNCERTAIN or COMPLETED, reported (not repeated)
/// while it is in flight or done, replaceable once it failed; when it completes, the
/// original becomes REVERSED with [`crate::reversed_reason`].
pub async fn one_reversal_per_request(s: &impl Store) {
    let original = s.insert_request(new("2207")).await.unwrap();
    assert_eq!(
        s.begin_reversal(original, new("2601")).await.unwrap(),
        ReversalStart::WrongState(RequestStatus::Pending)
    );
    let holder = claim(s, original, "w", i64::MAX).await.holder("w");
    assert_eq!(
        s.begin_reversal(original, new("2601")).await.unwrap(),
        ReversalStart::WrongState(RequestStatus::Processing)
    );
    let f = ending(original, &holder, RequestStatus::Completed, None, None);
    assert!(s.finish(f).await.unwrap());
    let failed = ended_in(s, RequestStatus::Error).await;
    assert_eq!(
        s.begin_reversal(failed, new("2601")).await.unwrap(),
        ReversalStart::WrongState(RequestStatus::Error)
    );
    assert_eq!(
        s.begin_reversal(failed + 1_000, new("2601")).await.unwrap(),
        ReversalStart::NotFound
    );

    let ReversalStart::Started(first) = s.begin_reversal(original, new("2601")).await.unwrap()
    else {
        panic!("no reversal started");
    };
    assert_eq!(
        s.begin_reversal(original, new("2601")).await.unwrap(),
        ReversalStart::Existing {
            reversal_id: first,
            status: RequestStatus::Pending
        }
    );
    let v = s.get(first).await.unwrap().unwrap();
    assert_eq!(
        (v.interface_code.as_str(), v.status),
        ("2601", RequestStatus::Pending)
    );
    assert_eq!(
        s.get(original).await.unwrap().unwrap().status,
        RequestStatus::Completed
    );

    // The 2601 is refused: another may be started in its place.
    let holder = claim(s, first, "w", i64::MAX).await.holder("w");
    assert_eq!(
        s.begin_reversal(original, new("2601")).await.unwrap(),
        ReversalStart::Existing {
            reversal_id: first,
            status: RequestStatus::Processing
        }
    );
    let f = ending(first, &holder, RequestStatus::Error, None, None);
    assert!(s.finish(f).await.unwrap());
    let ReversalStart::Started(second) = s.begin_reversal(original, new("2601")).await.unwrap()
    else {
        panic!("a failed reversal was not replaced");
    };
    assert_ne!(first, second);
    assert_eq!(
        s.get(original).await.unwrap().unwrap().status,
        RequestStatus::Completed,
        "a failed reversal leaves the original as it was"
    );

    // The 2601 completes: the original is REVERSED in the same transaction.
    let holder = claim(s, second, "w", i64::MAX).await.holder("w");
    let f = ending(
        second,
        &holder,
        RequestStatus::Completed,
        Some(Origin::Platform),
        None,
    );
    assert!(s.finish(f).await.unwrap());
    let v = s.get(original).await.unwrap().unwrap();
    assert_eq!(v.status, RequestStatus::Reversed);
    assert_eq!(v.err_msg, Some(crate::reversed_reason(second)));
    assert_eq!(
        s.begin_reversal(original, new("2601")).await.unwrap(),
        ReversalStart::Existing {
            reversal_id: second,
            status: RequestStatus::Completed
        }
    );
    assert_eq!(
        s.get(failed).await.unwrap().unwrap().status,
        RequestStatus::Error,
        "only the reversal's own original is reversed"
    );
}

/// Two brokers (two store handles) asking to reverse the same requests at the same moment
/// start exactly one 2601 for each; the other is told which.
pub async fn concurrent_reversals_start_one<S: Store + Clone>(a: &S, b: &S) {
    let mut originals = Vec::new();
    for _ in 0..10 {
        let id = a.insert_request(new("2207")).await.unwrap();
        let holder = claim(a, id, "w", i64::MAX).await.holder("w");
        let f = ending(id, &holder, RequestStatus::Uncertain, None, None);
        assert!(a.finish(f).await.unwrap());
        originals.push(id);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for &id in &originals {
        for s in [a.clone(), b.clone()] {
            tasks.spawn(async move { (id, s.begin_reversal(id, new("2601")).await.unwrap()) });
        }
    }
    let mut outcomes = std::collections::HashMap::<i64, Vec<ReversalStart>>::new();
    while let Some(r) = tasks.join_next().await {
        let (id, outcome) = r.unwrap();
        outcomes.entry(id).or_default().push(outcome);
    }
    for id in originals {
        let got = &outcomes[&id];
        let started: Vec<i64> = got
            .iter()
            .filter_map(|o| match o {
                ReversalStart::Started(r) => Some(*r),
                _ => None,
            })
            .collect();
        assert_eq!(started.len(), 1, "request {id}: {got:?}");
        assert!(
            got.contains(&ReversalStart::Existing {
                reversal_id: started[0],
                status: RequestStatus::Pending
            }),
            "request {id}: {got:?}"
        );
    }
    let pending = a
        .counts()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.status == RequestStatus::Pending)
        .map(|c| c.count);
    assert_eq!(pending, Some(10), "one 2601 per original, no more");
}
