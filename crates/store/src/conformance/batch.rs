//! Jobs and catalog loads: claimed once, fenced, one row per schedule slot, and a catalog
//! load that only moves forward from the version it started at.

use crate::batch::*;
use crate::Store;

fn claim(job_id: Option<i64>, worker: &str, now_ms: i64, lease_ms: i64) -> JobClaimSpec {
    JobClaimSpec {
        job_id,
        worker_id: worker.into(),
        now_ms,
        lease_until_ms: now_ms + lease_ms,
    }
}

fn scheduled(slot: &str) -> NewJob {
    NewJob {
        kind: "sign-out".into(),
        params: "{}".into(),
        schedule: Some("nightly".into()),
        slot: Some(slot.into()),
    }
}

/// Two brokers on one store: a slot gets one job, the job one holder at a time, and a
/// holder whose lease passed is fenced off once another broker took the job over.
pub async fn a_job_runs_once_per_slot_and_holder<S: Store + Clone>(a: &S, b: &S) {
    let first = a.insert_job(scheduled("2026-12-02T02:00")).await.unwrap();
    let again = b.insert_job(scheduled("2026-12-02T02:00")).await.unwrap();
    assert!(first.created);
    assert_eq!(
        again,
        JobInsert {
            job_id: first.job_id,
            created: false
        }
    );
    let other = b.insert_job(scheduled("2026-12-03T02:00")).await.unwrap();
    assert!(other.created && other.job_id != first.job_id);
    // Unscheduled jobs are never merged.
    let adhoc = NewJob {
        schedule: None,
        slot: None,
        ..scheduled("")
    };
    let x = a.insert_job(adhoc.clone()).await.unwrap();
    let y = a.insert_job(adhoc).await.unwrap();
    assert!(x.created && y.created && x.job_id != y.job_id);

    let now = 1_000_000;
    let held = a
        .claim_job(claim(Some(first.job_id), "a", now, 10_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.status, held.claim_gen), (JobStatus::Running, 1));
    assert_eq!(held.kind, "sign-out");
    // Held and within its lease: nobody else gets it.
    assert!(b
        .claim_job(claim(Some(first.job_id), "b", now + 5_000, 10_000))
        .await
        .unwrap()
        .is_none());
    assert!(a.extend_job(first.job_id, 1, now + 20_000).await.unwrap());
    assert!(b
        .claim_job(claim(Some(first.job_id), "b", now + 15_000, 10_000))
        .await
        .unwrap()
        .is_none());
    // The lease passes (the broker died): b takes it over, a is fenced off.
    let taken = b
        .claim_job(claim(Some(first.job_id), "b", now + 25_000, 10_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.claim_gen, 2);
    assert_eq!(taken.worker_id.as_deref(), Some("b"));
    assert!(!a.extend_job(first.job_id, 1, now + 90_000).await.unwrap());
    let late = JobFinish {
        job_id: first.job_id,
        claim_gen: 1,
        status: JobStatus::Completed,
        result: Some("{\"by\":\"a\"}".into()),
        err_msg: None,
    };
    // Only the current holder records a reconciliation's differences.
    let diff = ReconcileDiff {
        stmt_date: "2026-12-01".into(),
        kind: "ONLY_OURS".into(),
        setl_id: Some("S1".into()),
        mdtrt_id: None,
        psn_no: None,
        refd_setl_flag: Some("0".into()),
        memo: Some("医疗费总额 / medfee_sumamt".into()),
        request_id: Some(1),
    };
    assert!(!a
        .record_diffs(first.job_id, 1, vec![diff.clone()])
        .await
        .unwrap());
    assert!(b
        .record_diffs(first.job_id, 2, vec![diff.clone(), diff.clone()])
        .await
        .unwrap());
    assert!(
        b.record_diffs(first.job_id, 2, vec![diff]).await.unwrap(),
        "replaced, not added"
    );
    assert!(!a.finish_job(late.clone()).await.unwrap());
    assert!(b
        .finish_job(JobFinish {
            claim_gen: 2,
            result: Some("{\"by\":\"b\"}".into()),
            ..late.clone()
        })
        .await
        .unwrap());
    // Finished: never claimed again, and a second finish changes nothing.
    assert!(a
        .claim_job(claim(Some(first.job_id), "a", now + 99_000_000, 10_000))
        .await
        .unwrap()
        .is_none());
    assert!(!b
        .finish_job(JobFinish {
            claim_gen: 2,
            ..late
        })
        .await
        .unwrap());
    let done = a.get_job(first.job_id).await.unwrap().unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.result.as_deref(), Some("{\"by\":\"b\"}"));
    assert_eq!(done.slot.as_deref(), Some("2026-12-02T02:00"));
    assert!(done.end_time.is_some());
    // Without an id, the oldest claimable job comes first.
    let next = a
        .claim_job(claim(None, "a", now, 10_000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.job_id, other.job_id);
    let recent = a.recent_jobs(10).await.unwrap();
    assert_eq!(recent.len(), 4);
    assert_eq!(recent[0].job_id, y.job_id);
    assert!(a.get_job(first.job_id + 1000).await.unwrap().is_none());
}

fn row(ver: &str, n: i64, name: &str) -> CatalogRow {
    CatalogRow {
        ver_name: ver.into(),
        row_no: n,
        item_code: format!("XA01{n:06}"),
        fields: format!("XA01{n:06}\t{name}\t{ver}"),
    }
}

/// A load moves the catalog from the version it started at; a run that started from an
/// older version adds nothing.
pub async fn a_catalog_load_moves_only_forward<S: Store + Clone>(s: &S) {
    assert!(s.catalog_version("1301").await.unwrap().is_none());
    let first: Vec<CatalogRow> = (1..=950)
        .map(|n| row("20261101-001", n, "阿莫西林胶囊"))
        .collect();
    let load = CatalogLoad {
        catalog_code: "1301".into(),
        from_ver: None,
        to_ver: "20261101-001".into(),
        job_id: Some(7),
        rows: first,
    };
    assert_eq!(
        s.load_catalog(load.clone()).await.unwrap(),
        CatalogLoaded::Added {
            added: 950,
            total: 950
        }
    );
    // The same run again (a retry after a crash between load and report): refused.
    assert_eq!(
        s.load_catalog(load).await.unwrap(),
        CatalogLoaded::Moved {
            current: Some("20261101-001".into())
        }
    );
    let next = CatalogLoad {
        catalog_code: "1301".into(),
        from_ver: Some("20261101-001".into()),
        to_ver: "20261102-002".into(),
        job_id: Some(8),
        rows: vec![row("20261102-002", 1, "头孢克肟分散片（𠀀）")],
    };
    assert_eq!(
        s.load_catalog(next).await.unwrap(),
        CatalogLoaded::Added {
            added: 1,
            total: 951
        }
    );
    let v = s.catalog_version("1301").await.unwrap().unwrap();
    assert_eq!(
        v,
        CatalogVersion {
            ver_name: "20261102-002".into(),
            row_count: 951,
            job_id: Some(8)
        }
    );
    assert!(s.catalog_version("1302").await.unwrap().is_none());
}
