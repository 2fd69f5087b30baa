//! The one HTTP client to the platform: keep-alive pool, connect and request timeouts, and
//! errors classified by whether the request may have reached the platform — the fact the
//! retry policy of state-changing interfaces turns on (design.md §4). It moves sealed bytes
//! only; what they mean is [`super::Platform`]'s business.

use std::time::Duration;

use crate::profile::OutgoingRequest;

/// Why an attempt failed before a usable reply arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// Connection refused, DNS, TLS handshake: the body provably never left.
    NotSent,
    /// The request timed out after the connection was made.
    Timeout,
    /// The platform answered with an HTTP error status.
    HttpStatus(u16),
    /// The connection broke while sending or receiving.
    Broken,
    /// The reply failed the profile's verification or decryption.
    BadReply,
    /// The request could not be sealed (nothing was sent).
    Seal,
    /// A reply arrived but is refused here for a reason another attempt would not change
    /// (a download over its size limit, a damaged or oversized archive): final, not retried.
    Refused,
}

impl TransportErrorKind {
    /// False only when the request provably never left this machine.
    pub fn may_have_been_sent(self) -> bool {
        !matches!(self, TransportErrorKind::NotSent | TransportErrorKind::Seal)
    }

    /// Sending again would end the same way (see [`TransportErrorKind::Refused`]).
    pub fn is_final(self) -> bool {
        matches!(self, TransportErrorKind::Refused)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    /// The request could not be sealed: nothing was sent.
    pub fn unsent(message: String) -> Self {
        Self {
            kind: TransportErrorKind::Seal,
            message,
        }
    }
}

/// reqwest is built without a bundled crypto provider: install ring once per process before
/// building any reqwest client (an error only means a provider is already installed). Any
/// code that builds its own `reqwest::Client` must call this first, or reqwest panics.
pub fn ensure_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Settings of the HTTP pool.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    pub url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
}

/// POSTs sealed requests to one platform endpoint over a keep-alive pool.
#[derive(Debug, Clone)]
pub struct Transport {
    http: reqwest::Client,
    url: String,
}

impl Transport {
    pub fn new(settings: &ClientSettings) -> Result<Self, String> {
        ensure_tls_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(settings.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .no_proxy()
            // Never follow a redirect: a 307 would send the same body (a settlement) to a
            // second address, and a failure to connect there would read as "never sent"
            // although the first server had it. A 3xx is an HTTP error status instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            http,
            url: settings.url.clone(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs one sealed request; returns the reply body of a 2xx answer.
    pub async fn post(&self, sealed: OutgoingRequest) -> Result<Vec<u8>, TransportError> {
        let resp = self.send(sealed).await?;
        let body = resp.bytes().await.map_err(classify)?;
        Ok(body.to_vec())
    }

    /// POSTs one sealed request whose answer may be a file (9102): the body is streamed to
    /// `target` ([`super::download`]).
    pub async fn post_download(
        &self,
        sealed: OutgoingRequest,
        target: &super::download::DownloadTarget,
    ) -> Result<super::download::Body, TransportError> {
        // A catalog can take minutes on a slow 医保专网 link: the download's own deadline
        // replaces the client's request timeout.
        let resp = self.send_with(sealed, Some(target.timeout)).await?;
        super::download::receive(resp, target).await
    }

    /// Sends and checks the status; the body is the caller's to read.
    async fn send(&self, sealed: OutgoingRequest) -> Result<reqwest::Response, TransportError> {
        self.send_with(sealed, None).await
    }

    async fn send_with(
        &self,
        sealed: OutgoingRequest,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, TransportError> {
        let mut req = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/json;charset=utf-8");
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        for (k, v) in sealed.headers {
            req = req.header(k, v);
        }
        // Built first: a request that cannot be built (a header value reqwest refuses) never
        // left, whereas an error of `execute` may come after the body did.
        let request = req.body(sealed.body).build().map_err(|e| {
            TransportError::unsent(format!(
                "请求无法构建，未发送 / the request could not be built, nothing sent: {}",
                error_chain(&e)
            ))
        })?;
        let resp = self.http.execute(request).await.map_err(classify)?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.map_err(classify)?;
            return Err(TransportError {
                kind: TransportErrorKind::HttpStatus(status.as_u16()),
                message: format!(
                    "平台返回错误状态 / the platform answered with an error status: HTTP {status}: {}",
                    super::response::preview(&body)
                ),
            });
        }
        Ok(resp)
    }
}

pub(super) fn classify(e: reqwest::Error) -> TransportError {
    let kind = if e.is_connect() {
        TransportErrorKind::NotSent
    } else if e.is_timeout() {
        TransportErrorKind::Timeout
    } else {
        TransportErrorKind::Broken
    };
    let what = match kind {
        TransportErrorKind::NotSent => "无法连接医保平台 / cannot connect to the platform",
        TransportErrorKind::Timeout => "医保平台应答超时 / the platform did not answer in time",
        _ => "与医保平台的连接中断 / the connection to the platform broke",
    };
    // reqwest's Display includes the URL but never headers or bodies: safe to show.
    TransportError {
        kind,
        message: format!("{what}: {}", error_chain(&e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(url: &str, timeout_ms: u64) -> Transport {
        Transport::new(&ClientSettings {
            url: url.into(),
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(timeout_ms),
            pool_idle_timeout: Duration::from_secs(30),
            pool_max_idle_per_host: 8,
        })
        .unwrap()
    }

    fn body() -> OutgoingRequest {
        OutgoingRequest {
            headers: Vec::new(),
            body: b"{}".to_vec(),
        }
    }

    /// An https endpoint needs a TLS stack; building it must not panic for want of a
    /// crypto provider, and a plain-HTTP server answering a TLS hello is a transport error.
    #[tokio::test]
    async fn https_is_supported_and_a_non_tls_peer_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let err = client(&format!("https://127.0.0.1:{port}/"), 1000)
            .post(body())
            .await
            .unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::NotSent, "{}", err.message);
    }

    #[tokio::test]
    async fn refused_connection_is_not_sent() {
        // Bind then drop to get a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = client(&format!("http://127.0.0.1:{port}/"), 1000)
            .post(body())
            .await
            .unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::NotSent);
        assert!(!err.kind.may_have_been_sent());
    }

    /// A server that answers every request with `reply`, counting the requests it read.
    async fn answering(reply: String) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                count.fetch_add(1, Ordering::SeqCst);
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        (port, seen)
    }

    /// The request reached a server that answered with a redirect to a dead address: it
    /// left this machine, so it may have been sent — never "not sent" because the second
    /// hop could not connect (a settlement would be sent again).
    #[tokio::test]
    async fn a_redirect_is_never_followed_and_never_counts_as_unsent() {
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        for status in ["302 Found", "307 Temporary Redirect"] {
            let reply = format!(
                "HTTP/1.1 {status}\r\nLocation: http://127.0.0.1:{dead}/\r\nContent-Length: 0\r\n\r\n"
            );
            let (port, seen) = answering(reply).await;
            let err = client(&format!("http://127.0.0.1:{port}/"), 1000)
                .post(body())
                .await
                .unwrap_err();
            assert!(err.kind.may_have_been_sent(), "{status}: {err:?}");
            assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }

    /// A header that cannot be sent is refused before anything leaves: not sent, so a
    /// settlement is not left UNCERTAIN for a request that never went out.
    #[tokio::test]
    async fn a_header_that_cannot_be_sent_is_not_sent() {
        let (port, seen) = answering("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".into()).await;
        let mut sealed = body();
        sealed.headers.push(("_api_name".into(), "a\u{1}b".into()));
        let err = client(&format!("http://127.0.0.1:{port}/"), 1000)
            .post(sealed)
            .await
            .unwrap_err();
        assert!(!err.kind.may_have_been_sent(), "{err:?}");
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn silent_server_is_a_timeout_that_may_have_been_sent() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let err = client(&format!("http://127.0.0.1:{port}/"), 300)
            .post(body())
            .await
            .unwrap_err();
        assert_eq!(err.kind, TransportErrorKind::Timeout);
        assert!(err.kind.may_have_been_sent());
        hold.abort();
    }
}
