//! The worker side of the broker: takes rows the queue hands it and talks to the platform
//! for them. It owns the platform conversation ([`yibao_core::Platform`]), the msgid
//! sequence, the sign-in sessions, the catalog and the retry policy, and the pool that
//! bounds how many requests are worked on at once. Its methods live beside their concern:
//! [`crate::process`] (one request to its end), [`crate::attempt`] (one exchange and the
//! retry loop), [`crate::signin`], [`crate::reversal`], [`crate::recovery`],
//! [`crate::validation`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use yibao_core::platform::session;
use yibao_core::{Catalog, MsgIdGenerator, Platform, UncertainPolicy};
use yibao_proto::{Overrides, RequestStatus, Response};
use yibao_store::{ClaimOne, ClaimedRequest, NewRequest};

use crate::config::{Config, UnknownInterfaces, ValidationMode};
use crate::metrics::StoreOp;
use crate::pool::Pool;
use crate::queue::{not_found, Queue};
use crate::retry::RetryPolicy;
use crate::sessions::Sessions;

/// How long the `reverse` policy's automatic 2601 may take.
const AUTO_REVERSAL_WAIT: Duration = Duration::from_secs(120);

pub struct Worker {
    pub(crate) queue: Arc<Queue>,
    pub(crate) platform: Platform,
    pub(crate) ids: MsgIdGenerator,
    pub(crate) sessions: Sessions,
    pub(crate) catalog: Catalog,
    /// Whether broken catalog rules stop a request.
    pub(crate) validation: ValidationMode,
    pub(crate) unknown_interfaces: UnknownInterfaces,
    pub(crate) retry: RetryPolicy,
    pub(crate) pool: Pool,
    /// Where 9102 downloads go and what a 9101 may read (`[files]`).
    pub(crate) files: crate::config::files::FilesSection,
}

impl Worker {
    /// Builds the worker side on top of `queue`; msgids continue after the store's last.
    pub async fn new(config: &Config, queue: Arc<Queue>) -> anyhow::Result<Arc<Self>> {
        let platform = Platform::new(
            &config.client_settings(),
            config.profile()?,
            config.institution.clone(),
        )
        .map_err(anyhow::Error::msg)?
        .with_cainfo(config.cainfo()?);
        let ids = MsgIdGenerator::new(&config.institution.fixmedins_code, config.broker.msgid_node);
        if let Some(last) = queue.store.last_msgid().await? {
            ids.resume_after(&last);
        }
        Ok(Arc::new(Self {
            catalog: config.catalog()?,
            validation: config.catalog.validation,
            platform,
            ids,
            sessions: Sessions::default(),
            unknown_interfaces: config.broker.unknown_interfaces,
            retry: RetryPolicy {
                max_attempts: config.broker.retry_max_attempts,
                base: Duration::from_millis(config.broker.retry_base_delay_ms),
                max: Duration::from_millis(config.broker.retry_max_delay_ms),
            },
            pool: Pool::new(config.broker.workers),
            files: config.files.clone(),
            queue,
        }))
    }

    /// Processes a claimed row on the pool; the permit bounds concurrency and is what
    /// shutdown waits for.
    pub(crate) fn spawn(self: &Arc<Self>, claimed: ClaimedRequest, permit: OwnedSemaphorePermit) {
        let worker = self.clone();
        tokio::spawn(async move {
            let busy = worker.pool.busy();
            let id = claimed.request_id;
            let policy = worker.catalog.get(&claimed.interface_code).on_uncertain;
            worker.process(claimed).await;
            if policy == UncertainPolicy::Reverse {
                worker.clone().reverse_if_uncertain(id);
            }
            drop(busy);
            drop(permit);
            // A slot is free: let the dispatcher look for more work at once.
            worker.queue.wake();
        });
    }

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
        let id = match self.queue.insert(new).await {
            Ok(id) => id,
            Err(e) => return self.queue.failed(e),
        };
        match wait {
            None => {
                self.queue.wake();
                Response::Accepted { request_id: id }
            }
            Some(wait) => self.run(id, wait).await,
        }
    }

    /// `Run`: claim the row now (if nobody has) and wait for its outcome. A caller whose
    /// wait ends while the row is still PENDING (every worker busy) has given up: the row
    /// is cancelled then ([`Queue::give_up`]).
    pub async fn run(self: &Arc<Self>, request_id: i64, wait: Duration) -> Response {
        match self.run_and_wait(request_id, wait).await {
            Response::Outcome(o) if o.timed_out && o.status == RequestStatus::Pending => {
                self.queue.give_up(request_id).await
            }
            other => other,
        }
    }

    async fn run_and_wait(self: &Arc<Self>, request_id: i64, wait: Duration) -> Response {
        let rx = self.queue.subscribe();
        match self.pool.try_acquire() {
            Some(permit) => {
                let claim = self.queue.claim_spec(1);
                let claimed = self.queue.store.claim_one(request_id, claim).await;
                if claimed.is_ok() {
                    self.queue.metrics.record_store(StoreOp::Request, None);
                }
                match claimed {
                    Ok(ClaimOne::Claimed(c)) => self.spawn(c, permit),
                    Ok(ClaimOne::NotFound) => return not_found(request_id),
                    Ok(ClaimOne::NotPending(_)) => {}
                    // The store refused the claim for now (locked, full): not a refusal of
                    // the request, which may be in flight already. Leave it to the
                    // dispatcher and wait, as when every worker is busy.
                    Err(e) => {
                        tracing::debug!(request_id, "run could not claim, waiting: {e}");
                        self.queue.wake();
                    }
                }
            }
            // Every worker is busy: the dispatcher will take the row in order.
            None => self.queue.wake(),
        }
        self.queue.wait_with(rx, request_id, wait).await
    }

    /// The `reverse` policy: a request that just ended UNCERTAIN gets its 2601 at once (in
    /// its own task, so the worker slot is free for the 2601 itself).
    pub(crate) fn reverse_if_uncertain(self: Arc<Self>, request_id: i64) {
        tokio::spawn(async move {
            if let Ok(Some(v)) = self.queue.store.get(request_id).await {
                if v.status == RequestStatus::Uncertain {
                    let r = self.reverse(request_id, AUTO_REVERSAL_WAIT).await;
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
            let input = session::sign_out_input(&operator, &sign_no);
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
}
