//! `Status`: what the store counts and what this process saw (in flight, finished since
//! start, sign-ins, latency, platform and store health), for `yibao-call status` and the
//! status page.
//!
//! This is the one place where what those two show is built, and so the one place where
//! it is masked ([`yibao_core::privacy::mask_pii`]): every text of the report and of the
//! rows that need action, whatever its source (a store error quoting a row, a platform
//! reply's excerpt in an err_msg). Request and response bodies are never handed out.

use yibao_core::privacy::mask_pii;
use yibao_proto::{Response, StatusReport};
use yibao_store::RequestView;

use crate::service::{server_name, Broker};

impl Broker {
    /// `Status`: queue depth and health, masked.
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
        Response::Status(masked(StatusReport {
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
        }))
    }

    /// Up to `limit` UNCERTAIN and ERROR requests for the status page, masked, without
    /// their bodies; empty when the store cannot list them (the report says why).
    pub async fn needs_action(&self, limit: u32) -> Vec<RequestView> {
        let rows = self
            .queue
            .store
            .needs_action(limit)
            .await
            .unwrap_or_default();
        rows.into_iter().map(masked_row).collect()
    }
}

fn mask(s: &mut String) {
    if let std::borrow::Cow::Owned(m) = mask_pii(s) {
        *s = m;
    }
}

/// The report with every text masked. Listed field by field (no `..`), so a text added to
/// the report does not compile until it is decided here.
pub(crate) fn masked(r: StatusReport) -> StatusReport {
    let StatusReport {
        mut server,
        uptime_ms,
        in_flight,
        counts,
        completed_since_start,
        failed_since_start,
        signed_in_operators,
        mut store,
        mut platform,
        window_s,
        mut latency,
        platform_ok,
        mut platform_error,
        store_ok,
        mut store_error,
    } = r;
    for s in [&mut server, &mut store, &mut platform] {
        mask(s);
    }
    for s in [&mut platform_error, &mut store_error]
        .into_iter()
        .flatten()
    {
        mask(s);
    }
    for l in &mut latency {
        mask(&mut l.infno);
    }
    StatusReport {
        server,
        uptime_ms,
        in_flight,
        counts,
        completed_since_start,
        failed_since_start,
        signed_in_operators,
        store,
        platform,
        window_s,
        latency,
        platform_ok,
        platform_error,
        store_ok,
        store_error,
    }
}

/// A row that needs action as the page shows it: masked texts, no bodies.
pub(crate) fn masked_row(v: RequestView) -> RequestView {
    let RequestView {
        request_id,
        mut interface_code,
        input_data: _,
        status,
        retry_count,
        mut msgid,
        response_data: _,
        mut infcode,
        mut err_msg,
    } = v;
    mask(&mut interface_code);
    for s in [&mut msgid, &mut infcode, &mut err_msg]
        .into_iter()
        .flatten()
    {
        mask(s);
    }
    RequestView {
        request_id,
        interface_code,
        input_data: String::new(),
        status,
        retry_count,
        msgid,
        response_data: None,
        infcode,
        err_msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yibao_proto::{LatencyStat, RequestStatus};

    const SECRETS: [&str; 4] = [
        "张三丰",
        "138-1234-5678",
        "430102199003071234",
        "13812345678",
    ];

    #[test]
    fn every_text_of_the_report_is_masked() {
        let quoted = "<html>患者张三丰 138-1234-5678 430102199003071234";
        let r = masked(StatusReport {
            server: format!("yibao-broker {quoted}"),
            uptime_ms: 1,
            in_flight: 0,
            counts: vec![],
            completed_since_start: 0,
            failed_since_start: 0,
            signed_in_operators: 0,
            store: format!("sqlite:/data/{quoted}"),
            platform: format!("http://p/{quoted}"),
            window_s: 300,
            latency: vec![LatencyStat {
                infno: "13812345678".into(),
                count: 1,
                p50_ms: 1,
                p95_ms: 1,
                p99_ms: 1,
            }],
            platform_ok: Some(false),
            platform_error: Some(quoted.into()),
            store_ok: false,
            store_error: Some(format!("request: {quoted} (3 秒前 / 3 s ago)")),
        });
        let all = format!("{r:?}");
        for secret in SECRETS {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert!(
            all.contains("患者张**") && all.contains("(3 秒前 / 3 s ago)"),
            "{all}"
        );
    }

    #[test]
    fn rows_that_need_action_are_masked_and_lose_their_bodies() {
        let v = masked_row(RequestView {
            request_id: 9,
            interface_code: "2207".into(),
            input_data: "{\"psn_name\":\"张三丰\"}".into(),
            status: RequestStatus::Error,
            retry_count: 0,
            msgid: Some("H43010000001202611241030000001".into()),
            response_data: Some("患者张三丰".into()),
            infcode: Some("-1".into()),
            err_msg: Some("无法解析 / unreadable: <html>患者张三丰 138-1234-5678".into()),
        });
        let all = format!("{v:?}");
        for secret in SECRETS {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert_eq!(v.msgid.as_deref(), Some("H43010000001202611241030000001"));
        assert!(v.input_data.is_empty() && v.response_data.is_none());
    }
}
