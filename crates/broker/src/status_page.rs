//! A read-only status page for hospital IT: the same figures as `yibao-call status` plus
//! the requests that need a human (UNCERTAIN and ERROR), in a browser.
//!
//! Off by default. When on, it listens on a loopback address only and every request must
//! carry the configured token (`?token=…` or `Authorization: Bearer …`). The page is
//! rendered on the server without scripts from what [`crate::report`] builds — masked there
//! ([`yibao_core::privacy::mask_pii`]), once more here as each text is HTML-escaped — and
//! request bodies are never shown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use yibao_core::privacy::mask_pii;
use yibao_core::secret::Secret;
use yibao_proto::StatusReport;

use crate::service::Broker;

/// `[status_page]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusPageSection {
    pub enabled: bool,
    /// A loopback address (`127.0.0.1:18089`); anything else is refused.
    pub listen: String,
    /// `env:NAME`, `file:PATH` or the value; required when enabled.
    pub token: Option<Secret>,
    /// How many UNCERTAIN/ERROR requests the page lists.
    pub needs_action_limit: u32,
}

impl Default for StatusPageSection {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:18089".into(),
            token: None,
            needs_action_limit: 50,
        }
    }
}

impl StatusPageSection {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let addr: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| format!("status_page.listen {:?} is not an address", self.listen))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "status_page.listen 只能是本机回环地址 / must be a loopback address (127.0.0.1 or ::1), not {addr}"
            ));
        }
        match &self.token {
            None => Err(
                "status_page.token 必填 / status_page.token is required when the page is on".into(),
            ),
            // Checked here, not only when the broker resolves it, so `check-config` fails
            // where `run` would.
            Some(t) if t.is_blank() => Err(
                "status_page.token 不能为空 / status_page.token must not be empty (nor `env:`/`file:` without a name)".into(),
            ),
            Some(_) => Ok(()),
        }
    }
}

struct PageState {
    broker: Arc<Broker>,
    token: String,
    limit: u32,
}

/// Binds the page's listener (before the broker reports ready, so a port in use is an
/// error at start-up rather than later).
pub async fn bind(section: &StatusPageSection) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(&section.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!("无法监听状态页 / cannot listen on {}: {e}", section.listen)
        })?;
    Ok(listener)
}

/// Serves the page until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    section: &StatusPageSection,
    broker: Arc<Broker>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = section
        .token
        .as_ref()
        .ok_or_else(|| "未设置 / not set".to_string())
        .and_then(Secret::resolve_text)
        .map_err(|m| anyhow::anyhow!("status_page.token: {m}"))?;
    let state = Arc::new(PageState {
        broker,
        token,
        limit: section.needs_action_limit,
    });
    let app = Router::new().route("/", get(page)).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Equal-time comparison, so the token cannot be guessed byte by byte from response times.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn page(
    State(state): State<Arc<PageState>>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = q.token.as_deref().or(bearer).unwrap_or("");
    if !same(given, &state.token) {
        return (
            StatusCode::UNAUTHORIZED,
            "需要令牌 / token required: ?token=… or Authorization: Bearer …",
        )
            .into_response();
    }
    let report = match state.broker.status().await {
        yibao_proto::Response::Status(r) => r,
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "status unavailable").into_response(),
    };
    let needs = state.broker.needs_action(state.limit).await;
    let jobs = state
        .broker
        .queue
        .store
        .recent_jobs(RECENT_JOBS)
        .await
        .unwrap_or_default();
    let mut html = Html(render(&report, &needs, &jobs)).into_response();
    html.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store"
            .parse()
            .unwrap_or(header::HeaderValue::from_static("no-store")),
    );
    html
}

fn esc(s: &str) -> String {
    let masked = mask_pii(s);
    let mut out = String::with_capacity(masked.len());
    for c in masked.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "<span class=ok>正常 / OK</span>",
        Some(false) => "<span class=bad>异常 / failing</span>",
        None => "未知 / unknown",
    }
}

/// The page (public for its unit test and for anyone embedding it).
pub fn render(
    r: &StatusReport,
    needs: &[yibao_store::RequestView],
    jobs: &[yibao_store::JobView],
) -> String {
    let mut h = String::with_capacity(8 * 1024);
    h.push_str("<!doctype html><html lang=zh><head><meta charset=utf-8>\
        <meta http-equiv=refresh content=10><title>yibao 状态 / status</title><style>\
        body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 24px}\
        td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}th{background:#f2f2f2}\
        .ok{color:#1a7f37;font-weight:bold}.bad{color:#c00;font-weight:bold}\
        .UNCERTAIN{background:#fff4d6}.ERROR{background:#ffe3e3}</style></head><body>");
    h.push_str(&format!(
        "<h1>yibao 医保代理服务 / broker</h1><table>\
         <tr><th>版本 / version</th><td>{}</td></tr>\
         <tr><th>运行时长 / uptime</th><td>{} s</td></tr>\
         <tr><th>处理中 / in flight</th><td>{}</td></tr>\
         <tr><th>已签到经办人 / signed-in operators</th><td>{}</td></tr>\
         <tr><th>存储 / store</th><td>{} {}</td></tr>\
         <tr><th>平台 / platform</th><td>{} {}</td></tr></table>",
        esc(&r.server),
        r.uptime_ms / 1000,
        r.in_flight,
        r.signed_in_operators,
        esc(&r.store),
        yes_no(Some(r.store_ok)),
        esc(&r.platform),
        yes_no(r.platform_ok),
    ));
    for e in [&r.store_error, &r.platform_error].into_iter().flatten() {
        h.push_str(&format!("<p class=bad>{}</p>", esc(e)));
    }
    h.push_str("<h2>各状态数量 / requests by state</h2><table><tr>");
    for c in &r.counts {
        h.push_str(&format!("<th>{}</th>", c.status));
    }
    h.push_str("</tr><tr>");
    for c in &r.counts {
        h.push_str(&format!("<td>{}</td>", c.count));
    }
    h.push_str("</tr></table>");
    h.push_str(&format!(
        "<h2>耗时（近 {} 秒）/ latency (last {} s), ms</h2><table>\
         <tr><th>交易 / interface</th><th>次数 / calls</th><th>p50</th><th>p95</th><th>p99</th></tr>",
        r.window_s, r.window_s
    ));
    for l in &r.latency {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.infno),
            l.count,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms
        ));
    }
    h.push_str("</table>");
    render_needs(&mut h, needs);
    render_jobs(&mut h, jobs);
    h.push_str("</body></html>");
    h
}

/// The requests an operator must look at (UNCERTAIN, ERROR).
fn render_needs(h: &mut String, needs: &[yibao_store::RequestView]) {
    h.push_str("<h2>需要处理 / needs action (UNCERTAIN, ERROR)</h2>");
    if needs.is_empty() {
        h.push_str("<p class=ok>没有 / none</p>");
    } else {
        h.push_str(
            "<table id=needs-action><tr><th>请求 / request</th><th>交易 / interface</th>\
             <th>状态 / status</th><th>msgid</th><th>原因 / reason</th></tr>",
        );
        for v in needs {
            h.push_str(&format!(
                "<tr class={}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                v.status,
                v.request_id,
                esc(&v.interface_code),
                v.status,
                esc(v.msgid.as_deref().unwrap_or("")),
                esc(v.err_msg.as_deref().unwrap_or("")),
            ));
        }
        h.push_str("</table><p>UNCERTAIN：不要重发，向平台核实后可 <code>yibao-call reverse &lt;请求号&gt;</code> 冲正 / \
                    do not resend; after checking with the platform, <code>yibao-call reverse &lt;id&gt;</code></p>");
    }
}

/// Jobs the page lists, newest first.
const RECENT_JOBS: u32 = 20;

/// The newest batch jobs (`medical_insurance_jobs`): scheduled and on demand.
fn render_jobs(h: &mut String, jobs: &[yibao_store::JobView]) {
    h.push_str("<h2>批量任务 / batch jobs</h2>");
    if jobs.is_empty() {
        h.push_str("<p>没有 / none</p>");
        return;
    }
    h.push_str(
        "<table id=jobs><tr><th>任务 / job</th><th>类型 / kind</th><th>计划 / schedule</th>\
         <th>时段 / slot</th><th>状态 / status</th><th>结束 / ended</th><th>结果 / result</th></tr>",
    );
    for j in jobs {
        let status = j.status.as_str();
        h.push_str(&format!(
            "<tr class={status}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td></tr>",
            j.job_id,
            esc(&j.kind),
            esc(j.schedule.as_deref().unwrap_or("")),
            esc(j.slot.as_deref().unwrap_or("")),
            esc(j.end_time.as_deref().unwrap_or("")),
            esc(j.err_msg.as_deref().or(j.result.as_deref()).unwrap_or("")),
        ));
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use yibao_proto::RequestStatus;

    #[test]
    fn the_page_escapes_and_masks_what_it_shows() {
        let report = StatusReport {
            server: "yibao-broker/0.1.0".into(),
            uptime_ms: 5000,
            in_flight: 1,
            counts: vec![],
            completed_since_start: 0,
            failed_since_start: 0,
            signed_in_operators: 1,
            store: "sqlite:/x".into(),
            platform: "http://p".into(),
            window_s: 300,
            latency: vec![],
            platform_ok: Some(false),
            platform_error: Some("<script>alert(1)</script>".into()),
            store_ok: true,
            store_error: None,
        };
        let needs = vec![yibao_store::RequestView {
            request_id: 9,
            interface_code: "2207".into(),
            input_data: "{\"certno\":\"430102199003071234\"}".into(),
            status: RequestStatus::Uncertain,
            retry_count: 0,
            msgid: Some("H1".into()),
            response_data: None,
            infcode: None,
            err_msg: Some("超时 psn_name=张三丰 13812345678".into()),
        }];
        let job = yibao_store::JobView {
            job_id: 3,
            kind: "catalog-download".into(),
            params: "{}".into(),
            schedule: Some("<b>nightly</b>".into()),
            slot: Some("2026-12-02T02:30".into()),
            status: yibao_store::JobStatus::Error,
            worker_id: None,
            claim_gen: 1,
            result: None,
            err_msg: Some("患者张三丰 <i>".into()),
            create_time: None,
            end_time: None,
        };
        let html = render(&report, &needs, &[job]);
        assert!(html.contains("&lt;b&gt;nightly&lt;/b&gt;"), "{html}");
        assert!(!html.contains("张三丰"), "names are masked on the page too");
        assert!(!html.contains("<script>"), "escaped");
        assert!(html.contains("&lt;script&gt;"));
        for secret in ["张三丰", "13812345678", "430102199003071234"] {
            assert!(!html.contains(secret), "{secret} shown");
        }
        assert!(html.contains("<tr class=UNCERTAIN><td>9</td>"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn only_loopback_with_a_token() {
        let on = |listen: &str, token: Option<&str>| StatusPageSection {
            enabled: true,
            listen: listen.into(),
            token: token.map(Secret::from),
            needs_action_limit: 50,
        };
        assert!(on("127.0.0.1:18089", Some("t")).validate().is_ok());
        assert!(on("[::1]:18089", Some("t")).validate().is_ok());
        assert!(on("0.0.0.0:18089", Some("t"))
            .validate()
            .unwrap_err()
            .contains("loopback"));
        assert!(on("127.0.0.1:18089", None)
            .validate()
            .unwrap_err()
            .contains("token"));
        for blank in ["", "  ", "env:", "file:"] {
            let e = on("127.0.0.1:18089", Some(blank)).validate().unwrap_err();
            assert!(
                e.contains("status_page.token") && e.contains("empty"),
                "{e}"
            );
        }
        assert!(on("127.0.0.1:18089", Some("env:YIBAO_PAGE_TOKEN"))
            .validate()
            .is_ok());
        assert!(StatusPageSection::default().validate().is_ok());
    }
}
