//! The broker as the pipe sees it: each pipe request mapped to the queue side's or the
//! worker side's operation, and the broker's lifecycle (start, stop taking work, wait for
//! the workers). Connections, the dispatcher and the status page hold one `Arc<Broker>`;
//! nothing here knows about frames or sockets, and nothing here decides a request's fate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use yibao_proto::{CallMode, ErrorCode, Request, Response};
use yibao_store::Store;

use crate::config::Config;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::worker::Worker;

/// Upper bound of any wait a client asks for.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// Wait of a sync `Call` that names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The window of the latency figures `status` reports.
const METRICS_WINDOW: Duration = Duration::from_secs(300);

pub struct Broker {
    pub(crate) queue: Arc<Queue>,
    pub(crate) worker: Arc<Worker>,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) started: Instant,
}

impl Broker {
    /// Builds the broker around an opened store.
    pub async fn new(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let queue = Arc::new(Queue::new(
            store,
            Arc::new(Metrics::new(METRICS_WINDOW)),
            config.worker_id(),
            Duration::from_millis(config.broker.lease_ms),
        ));
        let worker = Worker::new(config, queue.clone()).await?;
        // Partial downloads a killed broker left behind: nothing will finish them.
        let files = config.files.clone();
        tokio::task::spawn_blocking(move || {
            let n = crate::files::sweep_stale_downloads(&files, std::time::SystemTime::now());
            if n > 0 {
                tracing::info!("removed {n} partial download(s) left by an earlier run");
            }
        });
        let jobs = Jobs::new(
            worker.clone(),
            config.institution.fixmedins_code.clone(),
            config.institution.mdtrtarea_admvs.clone(),
        );
        Ok(Arc::new(Self {
            queue,
            jobs,
            worker,
            started: Instant::now(),
        }))
    }

    pub fn worker_id(&self) -> &str {
        self.queue.worker_id()
    }

    /// Maps one pipe request to its operation.
    pub async fn handle(&self, req: Request) -> Response {
        let starts_work = matches!(
            req,
            Request::Call { .. }
                | Request::Run { .. }
                | Request::Reverse { .. }
                | Request::Job { .. }
        );
        if starts_work && self.is_shutting_down() {
            return Response::Error {
                code: ErrorCode::ShuttingDown,
                message:
                    "医保代理服务正在停止，请稍后重试 / the broker is shutting down; retry later"
                        .into(),
            };
        }
        let (queue, worker) = (&self.queue, &self.worker);
        match req {
            Request::Ping {} => Response::Pong {
                server: server_name(),
            },
            Request::Call {
                interface,
                input,
                overrides,
                mode,
                wait_ms,
            } => {
                if interface.trim().is_empty() {
                    return bad_request("交易编号不能为空 / interface code must not be empty");
                }
                let wait = match mode {
                    CallMode::Async => None,
                    CallMode::Sync => Some(wait_ms.map(clamp_wait).unwrap_or(DEFAULT_WAIT)),
                };
                worker.call(interface, input, overrides, wait).await
            }
            Request::Run {
                request_id,
                wait_ms,
            } => worker.run(request_id, clamp_wait(wait_ms)).await,
            Request::Kick { request_id } => queue.kick(request_id).await,
            Request::Result { request_id } => queue.result(request_id).await,
            Request::Wait {
                request_id,
                timeout_ms,
            } => queue.wait(request_id, clamp_wait(timeout_ms)).await,
            Request::Status {} => self.status().await,
            Request::Reverse {
                request_id,
                wait_ms,
            } => worker.reverse(request_id, clamp_wait(wait_ms)).await,
            Request::Validate { interface, input } => worker.validate_only(&interface, &input),
            Request::Cancel { request_id } => queue.cancel(request_id).await,
            Request::Job {
                kind,
                params,
                wait_ms,
            } => self.jobs.submit(&kind, &params, clamp_wait(wait_ms)).await,
            Request::JobWait { job_id, wait_ms } => {
                self.jobs.wait(job_id, clamp_wait(wait_ms)).await
            }
            Request::Hello { .. } => bad_request("重复的 Hello / Hello was already sent"),
        }
    }

    /// Stops taking new work (`Call`, `Run`); the dispatcher is stopped by its own signal.
    pub fn begin_shutdown(&self) {
        self.queue.stop();
    }

    pub fn is_shutting_down(&self) -> bool {
        self.queue.is_stopping()
    }

    /// Waits until no worker is busy, or `grace` has passed. Returns the number still busy.
    pub async fn wait_idle(&self, grace: Duration) -> u32 {
        self.worker.pool.wait_idle(grace).await
    }

    /// 9002 签退 for every signed-in operator.
    pub async fn sign_out_all(&self) {
        self.worker.sign_out_all().await
    }
}

/// `yibao-broker/<version>`, as announced in `Welcome` and `Pong`.
pub fn server_name() -> String {
    format!("yibao-broker/{}", env!("CARGO_PKG_VERSION"))
}

fn clamp_wait(ms: u64) -> Duration {
    Duration::from_millis(ms).min(MAX_WAIT)
}

fn bad_request(msg: &str) -> Response {
    Response::Error {
        code: ErrorCode::BadRequest,
        message: msg.to_string(),
    }
}
