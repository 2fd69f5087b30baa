//! The queue side of the broker: the durable queue in the store, the leases and fencing
//! tokens under which this process holds rows, the `finished` broadcast waiters listen to,
//! and the wake-ups of the dispatcher. Nothing here talks to the platform; the worker side
//! ([`crate::worker`]) does, on rows this side hands it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify};
use yibao_proto::{ErrorCode, Outcome, RequestStatus, Response};
use yibao_store::{CancelOutcome, ClaimSpec, NewRequest, Store, StoreError, CANCELLED_REASON};

use crate::held::Held;
use crate::metrics::{Metrics, StoreOp};

/// How often a waiter re-reads the store even without a completion notice: another broker
/// process (or a DBA) may have finished the row.
const RECHECK: Duration = Duration::from_millis(500);

/// The store and everything about holding and announcing its rows.
pub struct Queue {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
    worker_id: String,
    lease: Duration,
    /// Ids of requests that just became terminal, for waiters.
    finished: broadcast::Sender<i64>,
    /// Wakes the dispatcher (a `Kick`, a finished worker, a new async `Call`).
    wake: Notify,
    /// Rows this process is working on (recovery leaves them alone).
    pub(crate) held: Held,
    /// Tells waiters that the broker is stopping (see [`Queue::wait_with`]).
    stopping: watch::Sender<bool>,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl Queue {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        worker_id: String,
        lease: Duration,
    ) -> Self {
        Self {
            store,
            metrics,
            worker_id,
            lease,
            finished: broadcast::channel(1024).0,
            wake: Notify::new(),
            held: Held::default(),
            stopping: watch::channel(false).0,
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// A claim spec for `limit` rows, leased from now.
    pub(crate) fn claim_spec(&self, limit: u32) -> ClaimSpec {
        ClaimSpec {
            worker_id: self.worker_id.clone(),
            limit,
            lease_until_ms: self.lease_until(),
            now_ms: yibao_core::time::epoch_ms(),
        }
    }

    /// How long a claim (or heartbeat) holds a row.
    pub(crate) fn lease(&self) -> Duration {
        self.lease
    }

    /// End of a lease taken (or extended) now.
    pub(crate) fn lease_until(&self) -> i64 {
        let lease = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
        yibao_core::time::epoch_ms().saturating_add(lease)
    }

    /// Wakes the dispatcher: there may be work, or a free worker.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves at the next [`Queue::wake`].
    pub(crate) async fn woken(&self) {
        self.wake.notified().await
    }

    /// Tells waiters that `request_id` became terminal.
    pub(crate) fn announce(&self, request_id: i64, status: RequestStatus) {
        self.held.release(request_id);
        let counter = if status == RequestStatus::Completed {
            &self.completed
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let _ = self.finished.send(request_id);
    }

    /// Requests that ended COMPLETED and otherwise since start.
    pub(crate) fn finished_counts(&self) -> (u64, u64) {
        (
            self.completed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Stops taking new work: waiters on PENDING rows are answered now.
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Records a new PENDING request; returns its id.
    pub(crate) async fn insert(&self, new: NewRequest) -> Result<i64, StoreError> {
        let id = self.store.insert_request(new).await;
        if id.is_ok() {
            self.metrics.record_store(StoreOp::Request, None);
        }
        id
    }

    /// The answer when the store failed a client's request, recorded for `status` (an idle
    /// poll that succeeds must not let a full disk look healthy).
    pub(crate) fn failed(&self, e: StoreError) -> Response {
        self.metrics.record_store(StoreOp::Request, Some(&e));
        store_error(e)
    }

    /// A receiver of the ids that become terminal; subscribe *before* starting work so a
    /// fast finish cannot slip between the two.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.finished.subscribe()
    }

    /// `Kick`: wake the dispatcher for a row inserted by SQL.
    pub async fn kick(&self, request_id: i64) -> Response {
        match self.store.get(request_id).await {
            Ok(Some(_)) => {
                self.wake();
                Response::Accepted { request_id }
            }
            Ok(None) => not_found(request_id),
            Err(e) => self.failed(e),
        }
    }

    /// `Result`: the row as it stands.
    pub async fn result(&self, request_id: i64) -> Response {
        match self.store.get(request_id).await {
            Ok(Some(v)) => Response::Outcome(v.into_outcome(false)),
            Ok(None) => not_found(request_id),
            Err(e) => self.failed(e),
        }
    }

    /// `Cancel`: PENDING → ERROR "已取消", atomically; refused once the row is claimed.
    pub async fn cancel(&self, request_id: i64) -> Response {
        match self.store.cancel(request_id, CANCELLED_REASON).await {
            Ok(CancelOutcome::Cancelled) => {
                tracing::info!(request_id, "cancelled");
                self.announce(request_id, RequestStatus::Error);
                self.result(request_id).await
            }
            Ok(CancelOutcome::NotPending(status)) => Response::Error {
                code: ErrorCode::BadRequest,
                message: format!(
                    "请求 {request_id} 状态为 {status}，只能取消 PENDING 的请求 / \
                     request {request_id} is {status}; only PENDING requests can be cancelled"
                ),
            },
            Ok(CancelOutcome::NotFound) => not_found(request_id),
            Err(e) => self.failed(e),
        }
    }

    /// A caller gave up on a row that is still PENDING: cancel it, so that a retry by the
    /// cashier can never become a second settlement. If it was claimed meanwhile it goes
    /// on, and the caller reads the result later.
    pub(crate) async fn give_up(&self, request_id: i64) -> Response {
        match self.store.cancel(request_id, CANCELLED_REASON).await {
            Ok(CancelOutcome::Cancelled) => {
                self.announce(request_id, RequestStatus::Error);
                self.result(request_id).await
            }
            _ => match self.result(request_id).await {
                Response::Outcome(o) => Response::Outcome(Outcome {
                    timed_out: !o.status.is_terminal(),
                    ..o
                }),
                other => other,
            },
        }
    }

    /// `Wait`: until the row is terminal or `wait` has passed.
    pub async fn wait(&self, request_id: i64, wait: Duration) -> Response {
        let rx = self.subscribe();
        self.wait_with(rx, request_id, wait).await
    }

    /// Waits with a receiver subscribed earlier (see [`Queue::subscribe`]).
    pub(crate) async fn wait_with(
        &self,
        mut rx: broadcast::Receiver<i64>,
        request_id: i64,
        wait: Duration,
    ) -> Response {
        let deadline = tokio::time::Instant::now() + wait;
        let mut stopping = self.stopping.subscribe();
        // The last state read. A store that cannot be read for a moment (locked, full,
        // restarting) does not end the wait: the request may be in flight and about to
        // finish, and "database unavailable" (exit 6, read as "refused") would tell the
        // caller it was not done. Only a wait that never read the row reports the store.
        let mut last: Option<Outcome> = None;
        loop {
            let outcome = match self.store.get(request_id).await {
                Ok(Some(v)) => v.into_outcome(false),
                Ok(None) => return not_found(request_id),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return match last {
                        Some(o) => Response::Outcome(Outcome {
                            timed_out: true,
                            ..o
                        }),
                        None => self.failed(e),
                    }
                }
                Err(e) => {
                    tracing::debug!("store unreadable while waiting on {request_id}: {e}");
                    let nap = deadline.saturating_duration_since(tokio::time::Instant::now());
                    tokio::time::sleep(nap.min(RECHECK)).await;
                    continue;
                }
            };
            last = Some(outcome.clone());
            // A row this broker still holds is not finished, whatever the store says for the
            // moment: another broker's recovery may have marked it UNCERTAIN while the store
            // was unreachable, and the reply in hand is about to replace that guess.
            if outcome.status.is_terminal() && !self.held.contains(request_id) {
                return Response::Outcome(outcome);
            }
            let now = tokio::time::Instant::now();
            // A stopping broker starts nothing more: a row still PENDING will not be
            // started by it, so the wait ends now (a `Run` then cancels the row). A row in
            // progress is waited for; its worker finishes within the shutdown grace.
            let stopped = *stopping.borrow_and_update() && outcome.status == RequestStatus::Pending;
            if now >= deadline || stopped {
                return Response::Outcome(Outcome {
                    timed_out: true,
                    ..outcome
                });
            }
            let nap = (deadline - now).min(RECHECK);
            // Any notice (ours, lagged, closed), the stop or the nap ending means: look again.
            let _ = tokio::time::timeout(nap, async {
                loop {
                    tokio::select! {
                        r = rx.recv() => match r {
                            Ok(id) if id != request_id => continue,
                            _ => break,
                        },
                        _ = stopping.changed() => break,
                    }
                }
            })
            .await;
        }
    }
}

/// The answer for an id the store does not have.
pub(crate) fn not_found(request_id: i64) -> Response {
    Response::Error {
        code: ErrorCode::NotFound,
        message: format!("请求 {request_id} 不存在 / request {request_id} does not exist"),
    }
}

/// The answer when the store failed.
fn store_error(e: StoreError) -> Response {
    tracing::warn!("store: {e}");
    Response::Error {
        code: ErrorCode::StoreUnavailable,
        message: e.to_string(),
    }
}
