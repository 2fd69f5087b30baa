//! The broker's shared state and the operations the pipe offers (`Call`, `Run`, `Kick`,
//! `Wait`, `Result`, `Status`). Connections, the dispatcher and the workers all hold one
//! `Arc<Broker>`; nothing here knows about frames or sockets.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, Notify, Semaphore};
use yibao_core::{Catalog, EnvelopeDefaults, MsgIdGenerator, PlatformClient};
use yibao_proto::{ErrorCode, Outcome, Overrides, RequestStatus, Response, StatusReport};
use yibao_store::{
    CancelOutcome, ClaimOne, ClaimSpec, ClaimedRequest, NewRequest, Store, StoreError,
    CANCELLED_REASON,
};

use crate::config::{Config, UnknownInterfaces};
use crate::retry::RetryPolicy;
use crate::signin::Sessions;

/// How often a waiter re-reads the store even without a completion notice: another broker
/// process (or a DBA) may have finished the row.
const RECHECK: Duration = Duration::from_millis(500);

/// Everything a worker needs to process requests.
pub struct Broker {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) catalog: Catalog,
    pub(crate) defaults: EnvelopeDefaults,
    pub(crate) client: PlatformClient,
    pub(crate) ids: MsgIdGenerator,
    pub(crate) sessions: Sessions,
    pub(crate) unknown_interfaces: UnknownInterfaces,
    /// Whether broken catalog rules stop a request.
    pub(crate) validation: crate::config::ValidationMode,
    pub(crate) retry: RetryPolicy,
    worker_id: String,
    lease: Duration,
    pub(crate) max_frame: u32,
    /// Bounds the requests processed at once (the worker pool).
    pub(crate) workers: Arc<Semaphore>,
    /// Wakes the dispatcher (a `Kick`, a finished worker, a new async `Call`).
    pub(crate) kick: Notify,
    /// Ids of requests that just became terminal, for waiters.
    finished: broadcast::Sender<i64>,
    worker_count: u32,
    shutting_down: AtomicBool,
    /// Tells waiters that the broker is stopping (see `wait_with`).
    stopping: tokio::sync::watch::Sender<bool>,
    stats: Stats,
    pub(crate) metrics: crate::metrics::Metrics,
    /// Rows this process is working on (recovery leaves them alone).
    pub(crate) held: crate::hold::Held,
}

#[derive(Default)]
struct Stats {
    started: Option<Instant>,
    in_flight: AtomicU32,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl Broker {
    /// Builds the broker around an opened store.
    pub async fn new(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let client = PlatformClient::new(&config.client_settings(), config.profile()?)
            .map_err(anyhow::Error::msg)?;
        let ids = MsgIdGenerator::new(&config.institution.fixmedins_code, config.broker.msgid_node);
        if let Some(last) = store.last_msgid().await? {
            ids.resume_after(&last);
        }
        let (finished, _) = broadcast::channel(1024);
        let broker = Arc::new(Self {
            catalog: config.catalog()?,
            validation: config.catalog.validation,
            defaults: config.institution.clone(),
            client,
            ids,
            sessions: Sessions::default(),
            unknown_interfaces: config.broker.unknown_interfaces,
            retry: RetryPolicy {
                max_attempts: config.broker.retry_max_attempts,
                base: Duration::from_millis(config.broker.retry_base_delay_ms),
                max: Duration::from_millis(config.broker.retry_max_delay_ms),
            },
            worker_id: config.worker_id(),
            lease: Duration::from_millis(config.broker.lease_ms),
            max_frame: config.broker.max_frame_bytes,
            workers: Arc::new(Semaphore::new(config.broker.workers)),
            kick: Notify::new(),
            finished,
            worker_count: u32::try_from(config.broker.workers).unwrap_or(u32::MAX),
            shutting_down: AtomicBool::new(false),
            stopping: tokio::sync::watch::channel(false).0,
            metrics: crate::metrics::Metrics::new(std::time::Duration::from_secs(300)),
            held: crate::hold::Held::default(),
            stats: Stats {
                started: Some(Instant::now()),
                ..Stats::default()
            },
            store,
        });
        Ok(broker)
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

    /// Called by a worker when a request became terminal.
    pub(crate) fn announce(&self, request_id: i64, status: RequestStatus) {
        self.held.release(request_id);
        if status == RequestStatus::Completed {
            self.stats.completed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.finished.send(request_id);
    }

    /// Spawns processing of a claimed row on the worker pool; the permit bounds concurrency
    /// and is what shutdown waits for.
    pub(crate) fn spawn_worker(
        self: &Arc<Self>,
        claimed: ClaimedRequest,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let broker = self.clone();
        broker.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let id = claimed.request_id;
            let policy = broker.catalog.get(&claimed.interface_code).on_uncertain;
            broker.process(claimed).await;
            if policy == yibao_core::UncertainPolicy::Reverse {
                broker.clone().reverse_if_uncertain(id);
            }
            broker.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            // A slot is free: let the dispatcher look for more work at once.
            broker.kick.notify_one();
        });
    }

    /// Stops taking new work (`Call`, `Run`); the dispatcher is stopped by its own signal.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.stopping.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Waits until no worker is busy, or `grace` has passed. Returns the number still busy.
    pub async fn wait_idle(&self, grace: Duration) -> u32 {
        let all = tokio::time::timeout(grace, self.workers.acquire_many(self.worker_count)).await;
        match all {
            Ok(Ok(_permits)) => 0,
            _ => self.stats.in_flight.load(Ordering::Relaxed),
        }
    }

    /// The `reverse` policy: a request that just ended UNCERTAIN gets its 2601 at once (in
    /// its own task, so the worker slot is free for the 2601 itself).
    pub(crate) fn reverse_if_uncertain(self: Arc<Self>, request_id: i64) {
        tokio::spawn(async move {
            if let Ok(Some(v)) = self.store.get(request_id).await {
                if v.status == RequestStatus::Uncertain {
                    let r = self.reverse(request_id, Duration::from_secs(120)).await;
                    tracing::info!(request_id, "automatic reversal: {r:?}");
                }
            }
        });
    }

    /// 9002 签退 for every cached session, each an audited request like any other.
    pub async fn sign_out_all(self: &Arc<Self>) {
        for (operator, sign_no) in self.sessions.snapshot() {
            let overrides = Overrides {
                opter: Some(operator.clone()),
                ..Overrides::default()
            };
            // 9002's input node is `signOut` (interface specification 9002).
            let input = serde_json::json!({"signOut": {"sign_no": sign_no, "opter_no": operator}});
            let r = self
                .call(
                    yibao_core::codes::SIGN_OUT.into(),
                    input.to_string(),
                    overrides,
                    Some(Duration::from_secs(10)),
                )
                .await;
            self.sessions.invalidate(&operator, &sign_no);
            match r {
                Response::Outcome(o) if o.status == RequestStatus::Completed => {
                    tracing::info!("signed out (9002)")
                }
                other => tracing::warn!("9002 sign-out failed: {other:?}"),
            }
        }
    }

    // ---- the pipe's operations -------------------------------------------------------

    /// `Call`: record the request (audited like any other), then run it or queue it.
    pub async fn call(
        self: &Arc<Self>,
        interface: String,
        input: String,
        overrides: Overrides,
        wait: Option<Duration>,
    ) -> Response {
        let new = NewRequest {
            interface_code: interface.trim().to_string(),
            input_data: input,
            overrides,
            expires_at: None,
        };
        let id = match self.store.insert_request(new).await {
            Ok(id) => id,
            Err(e) => return store_error(e),
        };
        match wait {
            None => {
                self.kick.notify_one();
                Response::Accepted { request_id: id }
            }
            Some(wait) => self.run(id, wait).await,
        }
    }

    /// `Run`: claim the row now (if nobody has) and wait for its outcome. A caller whose
    /// wait ends while the row is still PENDING (every worker busy) has given up: the row
    /// is cancelled then, so a retry by the cashier can never become a second settlement.
    pub async fn run(self: &Arc<Self>, request_id: i64, wait: Duration) -> Response {
        let answer = self.run_and_wait(request_id, wait).await;
        match answer {
            Response::Outcome(o) if o.timed_out && o.status == RequestStatus::Pending => {
                match self.store.cancel(request_id, CANCELLED_REASON).await {
                    Ok(CancelOutcome::Cancelled) => {
                        self.announce(request_id, RequestStatus::Error);
                        self.result(request_id).await
                    }
                    // Claimed meanwhile: it goes on; the caller reads the result later.
                    _ => match self.result(request_id).await {
                        Response::Outcome(o) => Response::Outcome(Outcome {
                            timed_out: !o.status.is_terminal(),
                            ..o
                        }),
                        other => other,
                    },
                }
            }
            other => other,
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
            Err(e) => store_error(e),
        }
    }

    async fn run_and_wait(self: &Arc<Self>, request_id: i64, wait: Duration) -> Response {
        // Subscribe before claiming so a fast finish cannot slip between the two.
        let rx = self.finished.subscribe();
        match self.workers.clone().try_acquire_owned() {
            Ok(permit) => match self.store.claim_one(request_id, self.claim_spec(1)).await {
                Ok(ClaimOne::Claimed(c)) => self.spawn_worker(c, permit),
                Ok(ClaimOne::NotFound) => return not_found(request_id),
                Ok(ClaimOne::NotPending(_)) => {}
                Err(e) => return store_error(e),
            },
            // Every worker is busy: the dispatcher will take the row in order.
            Err(_) => self.kick.notify_one(),
        }
        self.wait_with(rx, request_id, wait).await
    }

    /// `Kick`: wake the dispatcher for a row inserted by SQL.
    pub async fn kick(&self, request_id: i64) -> Response {
        match self.store.get(request_id).await {
            Ok(Some(_)) => {
                self.kick.notify_one();
                Response::Accepted { request_id }
            }
            Ok(None) => not_found(request_id),
            Err(e) => store_error(e),
        }
    }

    /// `Result`: the row as it stands.
    pub async fn result(&self, request_id: i64) -> Response {
        match self.store.get(request_id).await {
            Ok(Some(v)) => Response::Outcome(v.into_outcome(false)),
            Ok(None) => not_found(request_id),
            Err(e) => store_error(e),
        }
    }

    /// `Wait`: until the row is terminal or `wait` has passed.
    pub async fn wait(&self, request_id: i64, wait: Duration) -> Response {
        let rx = self.finished.subscribe();
        self.wait_with(rx, request_id, wait).await
    }

    async fn wait_with(
        &self,
        mut rx: broadcast::Receiver<i64>,
        request_id: i64,
        wait: Duration,
    ) -> Response {
        let deadline = tokio::time::Instant::now() + wait;
        let mut stopping = self.stopping.subscribe();
        loop {
            let outcome = match self.store.get(request_id).await {
                Ok(Some(v)) => v.into_outcome(false),
                Ok(None) => return not_found(request_id),
                Err(e) => return store_error(e),
            };
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
            let stopped = *stopping.borrow_and_update()
                && outcome.status == yibao_proto::RequestStatus::Pending;
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

    /// `Status`: queue depth and health.
    pub async fn status(&self) -> Response {
        // A store that does not answer is reported, not hidden behind an error.
        // Nor is one whose counts work while polls, heartbeats or writes fail.
        let (counts, store_ok, store_error) = match self.store.counts().await {
            Ok(c) => match self.metrics.store_error() {
                None => (c, true, None),
                Some(e) => (c, false, Some(e)),
            },
            Err(e) => (Vec::new(), false, Some(e.to_string())),
        };
        let uptime = self.stats.started.map(|s| s.elapsed()).unwrap_or_default();
        let (platform_ok, platform_error) = self.metrics.platform();
        Response::Status(StatusReport {
            server: server_name(),
            uptime_ms: u64::try_from(uptime.as_millis()).unwrap_or(u64::MAX),
            in_flight: self.stats.in_flight.load(Ordering::Relaxed),
            counts,
            completed_since_start: self.stats.completed.load(Ordering::Relaxed),
            failed_since_start: self.stats.failed.load(Ordering::Relaxed),
            signed_in_operators: self.sessions.len(),
            store: self.store.describe(),
            platform: self.client.url().to_string(),
            window_s: u32::try_from(self.metrics.window().as_secs()).unwrap_or(u32::MAX),
            latency: self.metrics.latency(),
            platform_ok,
            platform_error,
            store_ok,
            store_error,
        })
    }
}

/// `yibao-broker/<version>`, as announced in `Welcome` and `Pong`.
pub fn server_name() -> String {
    format!("yibao-broker/{}", env!("CARGO_PKG_VERSION"))
}

fn not_found(request_id: i64) -> Response {
    Response::Error {
        code: ErrorCode::NotFound,
        message: format!("请求 {request_id} 不存在 / request {request_id} does not exist"),
    }
}

pub(crate) fn store_error(e: StoreError) -> Response {
    tracing::warn!("store: {e}");
    Response::Error {
        code: ErrorCode::StoreUnavailable,
        message: e.to_string(),
    }
}
