//! The pipe's view of the broker, from the moment the pipe is bound. At boot SQL Server may
//! start after the broker: until the store opens, `Ping` is answered, `Status` says the
//! store is down and why, and everything else is `StoreUnavailable`. Once the store is open
//! every request goes to the [`Broker`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use yibao_proto::{ErrorCode, Request, Response, StatusReport};

use crate::config::{Config, OpenError};
use crate::service::{server_name, Broker};

/// First pause between tries to open the store; doubled up to [`OPEN_RETRY_MAX`].
const OPEN_RETRY_FIRST: Duration = Duration::from_secs(1);
const OPEN_RETRY_MAX: Duration = Duration::from_secs(30);

pub struct Front {
    pub(crate) max_frame: u32,
    broker: OnceLock<Arc<Broker>>,
    /// While starting: why the store could not be opened (last try).
    store_error: Mutex<String>,
    store: String,
    platform: String,
    started: Instant,
}

impl Front {
    /// Before the store is open.
    pub(crate) fn starting(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            max_frame: config.broker.max_frame_bytes,
            broker: OnceLock::new(),
            store_error: Mutex::new(String::new()),
            store: config.store.describe(),
            platform: config.platform.url.clone(),
            started: Instant::now(),
        })
    }

    /// Around a broker that is ready.
    pub(crate) fn ready(config: &Config, broker: Arc<Broker>) -> Arc<Self> {
        let front = Self::starting(config);
        let _ = front.broker.set(broker);
        front
    }

    /// Maps one pipe request: to the broker once it is there.
    pub async fn handle(&self, req: Request) -> Response {
        if let Some(broker) = self.broker.get() {
            return broker.handle(req).await;
        }
        let why = self.last_error();
        match req {
            Request::Ping {} => Response::Pong {
                server: server_name(),
            },
            Request::Status {} => Response::Status(crate::report::masked(StatusReport {
                server: server_name(),
                uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                in_flight: 0,
                counts: Vec::new(),
                completed_since_start: 0,
                failed_since_start: 0,
                signed_in_operators: 0,
                store: self.store.clone(),
                platform: self.platform.clone(),
                window_s: 0,
                latency: Vec::new(),
                platform_ok: None,
                platform_error: None,
                store_ok: false,
                store_error: Some(format!(
                    "数据库尚未打开，正在重试 / the store is not open yet, retrying: {why}"
                )),
            })),
            _ => Response::Error {
                code: ErrorCode::StoreUnavailable,
                message: format!(
                    "医保代理服务正在等待数据库，请稍后重试 / the broker is waiting for its store; retry shortly ({}: {why})",
                    self.store
                ),
            },
        }
    }

    fn last_error(&self) -> String {
        self.store_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tries to open the store and build the broker until it works, pausing 1 s doubling to
    /// 30 s, each failure logged at WARN with its cause. `first` is the failure of the try
    /// already made. A config error (the store's settings themselves) ends the wait.
    pub(crate) async fn wait_for_store(
        &self,
        config: &Config,
        first: String,
    ) -> anyhow::Result<Arc<Broker>> {
        let mut delay = OPEN_RETRY_FIRST;
        let mut why = first;
        loop {
            tracing::warn!(
                store = %self.store,
                retry_in_s = delay.as_secs(),
                "数据库无法打开，稍后重试 / the store cannot be opened; retrying: {why}"
            );
            *self.store_error.lock().unwrap_or_else(|e| e.into_inner()) = why.clone();
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(OPEN_RETRY_MAX);
            let store = match config.store.open().await {
                Ok(store) => store,
                Err(OpenError::Config(e)) => return Err(e.into()),
                Err(OpenError::Store(e)) => {
                    why = e.to_string();
                    continue;
                }
            };
            match Broker::new(config, store).await {
                Ok(broker) => {
                    tracing::info!(store = %self.store, "数据库已打开 / the store is open");
                    let _ = self.broker.set(broker.clone());
                    return Ok(broker);
                }
                Err(e) => why = format!("{e:#}"),
            }
        }
    }
}
