//! `yibao-broker`: the resident service between the HIS and the 医保 platform.
//!
//! One module per concern, after tokio-rs/mini-redis:
//! * [`config`] — the TOML file;
//! * [`listener`] / [`connection`] — the pipe: accept, handshake, frames;
//! * [`pipe_security`] — who may open the pipe on Windows (SDDL);
//! * [`front`] — the pipe's first stop: answers while the store is not open yet;
//! * [`service`] — the broker as the pipe sees it: each request mapped to an operation;
//! * [`queue`] — the queue side: the store, leases and fencing, the `finished` broadcast,
//!   wake-ups, waiting for a row;
//! * [`worker`] — the worker side: the platform conversation, sessions, catalog, the pool;
//! * [`dispatcher`] — finds PENDING rows (kick or poll) and feeds the worker pool;
//! * [`process`](crate::process) — one request from claim to terminal state;
//! * [`attempt`](crate::attempt) — one exchange with the platform and the retry loop;
//! * [`safety`](crate::safety) — the two money-safety decisions: may an attempt be sent,
//!   and what a failure makes of a request;
//! * [`hold`](crate::hold) — heartbeats for held rows, store writes retried until they land;
//! * [`retry`](crate::retry) — backoff and the attempt budget;
//! * [`recovery`](crate::recovery) — rows left behind by a dead broker (expired leases);
//! * [`reversal`](crate::reversal) — 2601 冲正 of uncertain requests;
//! * [`jobs`] — batch jobs of several requests (catalog downloads), claimed like rows;
//! * [`signin`](crate::signin) — 9001 sign-in per operator, single-flight; the cache in
//!   [`sessions`](crate::sessions);
//! * [`winservice`] — running under the Windows Service Control Manager;
//! * [`keys`] — `keys generate|check` for the 国密 profile;
//! * [`logging`] — console or daily files, text or JSON, personal data masked;
//! * [`shutdown`] — broadcast-based graceful stop;
//! * [`status_page`] — the optional read-only page on 127.0.0.1.
//!
//! The one-command demonstration is its own crate (`crates/demo`, `yibao-demo`).

mod attempt;
pub mod config;
mod connection;
mod dispatcher;
pub mod eventlog;
mod files;
pub mod front;
mod held;
mod hold;
pub mod jobs;
pub mod keys;
mod listener;
pub mod logging;
mod metrics;
mod pace;
pub mod pipe_security;
mod pool;
mod process;
pub mod queue;
mod recovery;
mod report;
mod retry;
mod reversal;
mod safety;
pub mod service;
mod sessions;
pub mod shutdown;
pub mod signin;
pub mod status_page;
mod upload;
mod validation;
pub mod winservice;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use yibao_store::Store;

pub use config::Config;
pub use service::Broker;

/// How long a stopping broker waits, after its workers are done, for the answers to
/// callers still being written.
const ANSWER_GRACE: Duration = Duration::from_secs(2);
/// Jobs are few and long: the job table is looked at no more often than this.
const JOB_POLL_MIN_MS: u64 = 1000;

/// Opens the store the config names (SQL Server: connects and checks the installed schema).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(config.store.open().await?)
}

/// Runs the broker until `stop` resolves, then shuts down gracefully: stop accepting, stop
/// claiming, let in-flight requests finish (up to `shutdown_grace_ms`), leave the rest
/// PENDING for the next start. A store that cannot be opened yet (SQL Server starting after
/// the broker) is waited for, the pipe answering meanwhile ([`front`]); a config error
/// still ends `serve` at once.
pub async fn serve(config: Config, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    let connections = Arc::new(tokio::sync::Semaphore::new(config.broker.max_connections));
    let mut stop = std::pin::pin!(stop);
    let Some((broker, mut accept)) =
        start(&config, &notify_shutdown, &connections, stop.as_mut()).await?
    else {
        return Ok(());
    };
    let page = if config.status_page.enabled {
        Some(status_page::bind(&config.status_page).await?)
    } else {
        None
    };
    announce_ready(&config);

    let dispatcher = tokio::spawn(dispatcher::run(
        broker.worker.clone(),
        pace::Pace::new(
            Duration::from_millis(config.broker.poll_min_ms),
            Duration::from_millis(config.broker.poll_interval_ms),
        ),
        Duration::from_millis(config.broker.recover_interval_ms),
        shutdown::Shutdown::new(notify_shutdown.subscribe()),
    ));
    let job_poller = tokio::spawn(jobs::run_poller(
        broker.jobs.clone(),
        Duration::from_millis(config.broker.poll_interval_ms.max(JOB_POLL_MIN_MS)),
        shutdown::Shutdown::new(notify_shutdown.subscribe()),
    ));
    let scheduler = tokio::spawn(jobs::schedule::run(
        broker.jobs.clone(),
        config.schedule.clone(),
        shutdown::Shutdown::new(notify_shutdown.subscribe()),
    ));
    let page_task = page.map(|l| {
        let mut stop = shutdown::Shutdown::new(notify_shutdown.subscribe());
        let section = config.status_page.clone();
        let broker = broker.clone();
        tokio::spawn(async move {
            tracing::info!(listen = %section.listen, "status page on");
            if let Err(e) =
                status_page::serve(l, &section, broker, async move { stop.recv().await }).await
            {
                tracing::error!("status page stopped: {e:#}");
            }
        })
    });
    tokio::select! {
        _ = &mut accept => {}
        _ = &mut stop => tracing::info!("shutdown requested; finishing in-flight requests"),
    }
    drop(accept);
    // The accept future (and with it the listener and its socket name) is gone now.
    broker.begin_shutdown();
    drop(notify_shutdown);
    let _ = dispatcher.await;
    let _ = job_poller.await;
    let _ = scheduler.await;
    if let Some(t) = page_task {
        let _ = t.await;
    }
    let grace = Duration::from_millis(config.broker.shutdown_grace_ms);
    let busy = broker.wait_idle(grace).await;
    // Callers waiting on requests that just finished get their answers (idle connections
    // closed at the signal; a waiter on a row that is still PENDING was answered then).
    let all = u32::try_from(config.broker.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(ANSWER_GRACE, connections.acquire_many(all)).await;
    if config.broker.sign_out_on_shutdown && busy == 0 {
        broker.sign_out_all().await;
    }
    announce_stopped(busy, grace);
    Ok(())
}

/// The log line and the Event Log entry (1000) that say the broker serves.
fn announce_ready(config: &Config) {
    let pipe = yibao_proto::resolve_endpoint(&config.broker.pipe);
    let store = config.store.describe();
    tracing::info!(
        %pipe,
        %store,
        platform = %config.platform.url,
        profile = %config.platform.profile,
        workers = config.broker.workers,
        "yibao-broker ready"
    );
    eventlog::report(
        eventlog::Event::Started,
        &format!(
            "yibao-broker 已启动 / started: pipe {pipe}, store {store}, platform {} ({})",
            config.platform.url, config.platform.profile
        ),
    );
}

/// The log line and the Event Log entry (1001) that say how the broker stopped.
fn announce_stopped(busy: u32, grace: Duration) {
    let text = match busy {
        0 => {
            tracing::info!("all in-flight requests finished; bye");
            "yibao-broker 已停止，所有请求均已处理完 / stopped; every in-flight request finished"
                .to_string()
        }
        n => {
            tracing::warn!(
                "{n} request(s) still in flight after {grace:?}; they stay PROCESSING until their lease expires"
            );
            format!(
                "yibao-broker 已停止，{n} 个请求仍为 PROCESSING，租约到期后由其他代理接管 / stopped with {n} request(s) still PROCESSING until their lease expires"
            )
        }
    };
    eventlog::report(eventlog::Event::Stopped, &text);
}

/// The accept loop, running from [`start`] until shutdown.
type Accept = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Opens the store and binds the pipe. When the store cannot be opened yet, the pipe is
/// bound anyway and answered by [`front::Front`] while the store is tried again; `None`
/// when `stop` came (or the accept loop ended) before it opened.
async fn start<S: Future<Output = ()>>(
    config: &Config,
    notify_shutdown: &broadcast::Sender<()>,
    connections: &Arc<tokio::sync::Semaphore>,
    mut stop: std::pin::Pin<&mut S>,
) -> anyhow::Result<Option<(Arc<Broker>, Accept)>> {
    // The signing profile's secrets are config: refused now, not once the store is open
    // (and so is the cainfo's key).
    config.profile()?;
    config.cainfo()?;
    let first = match config.store.open().await {
        Ok(store) => Ok(Broker::new(config, store).await?),
        Err(config::OpenError::Store(e)) => Err(e.to_string()),
        Err(config::OpenError::Config(e)) => return Err(e.into()),
    };
    let listener = listener::bind(&config.broker)?;
    let front = match &first {
        Ok(broker) => front::Front::ready(config, broker.clone()),
        Err(_) => front::Front::starting(config),
    };
    let mut accept: Accept = Box::pin(listener::run(
        listener,
        front.clone(),
        connections.clone(),
        connection::Limits::from_config(&config.broker),
        notify_shutdown.clone(),
    ));
    let broker = match first {
        Ok(broker) => broker,
        Err(why) => tokio::select! {
            b = front.wait_for_store(config, why) => b?,
            _ = &mut accept => return Ok(None),
            _ = &mut stop => {
                tracing::info!("shutdown requested while waiting for the store");
                return Ok(None);
            }
        },
    };
    Ok(Some((broker, accept)))
}
