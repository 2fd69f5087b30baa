//! `Status`: what the store counts and what this process saw (in flight, finished since
//! start, sign-ins, latency, platform and store health), for `yibao-call status` and the
//! status page.

use yibao_proto::{Response, StatusReport};

use crate::service::{server_name, Broker};

impl Broker {
    /// `Status`: queue depth and health.
    pub async fn status(&self) -> Response {
        let (queue, worker) = (&self.queue, &self.worker);
        let metrics = &queue.metrics;
        // A store that does not answer is reported, not hidden behind an error.
        // Nor is one whose counts work while polls, heartbeats or writes fail.
        let (counts, store_ok, store_error) = match queue.store.counts().await {
            Ok(c) => match metrics.store_error() {
                None => (c, true, None),
                Some(e) => (c, false, Some(e)),
            },
            Err(e) => (Vec::new(), false, Some(e.to_string())),
        };
        let (platform_ok, platform_error) = metrics.platform();
        let (completed, failed) = queue.finished_counts();
        Response::Status(StatusReport {
            server: server_name(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            in_flight: worker.pool.in_flight(),
            counts,
            completed_since_start: completed,
            failed_since_start: failed,
            signed_in_operators: worker.sessions.len(),
            store: queue.store.describe(),
            platform: worker.platform.url().to_string(),
            window_s: u32::try_from(metrics.window().as_secs()).unwrap_or(u32::MAX),
            latency: metrics.latency(),
            platform_ok,
            platform_error,
            store_ok,
            store_error,
        })
    }
}
