//! `yibao-mock` simulates the national 医保 platform over HTTP on 127.0.0.1 so the broker
//! can be developed, tested and demonstrated without a hospital's network.
//!
//! It is strict on purpose: it checks the gateway headers, every envelope field's format,
//! that each msgid is new and that `sign_no` came from its own 9001, and answers wrong input
//! with the platform's error shape (`infcode` -1 and `err_msg`). Answers are deterministic
//! (derived from the input), so tests can assert on them.
//!
//! With `--cainfo-mode` it reads a settlement's `cainfo` (the HIS's card / 电子凭证 password,
//! encrypted by the broker) back, as the platform would, and refuses one it cannot decrypt.
//!
//! It speaks the file interfaces too: 9101 文件上传 keeps the uploaded bytes, the catalog
//! downloads (1301…, [`catalogs`]) generate a zipped catalog, and 9102 文件下载 answers with
//! a file's raw bytes — not an envelope, and not sealed even under `sm`.
//!
//! Control endpoints, for tests (every other path is the platform):
//! - `GET /__mock/stats`, `GET /__mock/applied`: what reached the platform, what it applied;
//! - `POST /__mock/faults`, `DELETE /__mock/faults`: fault injection ([`faults`]);
//! - `GET /__mock/files`, `GET /__mock/files/<file_qury_no>`: the kept files ([`FileInfo`]);
//! - `GET /__mock/catalog`, `POST /__mock/catalog`: the generated catalogs ([`catalogs`]);
//! - `GET /__mock/reconcile`, `POST /__mock/reconcile`, `DELETE /__mock/reconcile`: the book
//!   of applied settlements that 3201/3202 reconcile against, and disagreements planted in
//!   it ([`ledger`]).
//!
//! 对账 / reconciliation: 3201 对总账 and 3202 对明细账 are answered from the settlements the
//! simulator applied (2207/2304, less their 2208/2305 cancellations), so a HIS that keeps the
//! simulator's replies balances, and a planted disagreement shows up ([`recon`]).

mod answers;
mod catalog_rows;
pub mod catalogs;
mod checks;
pub mod faults;
mod files;
pub mod ledger;
pub mod recon;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use yibao_core::sm::SmCodec;

use answers::Answer;
pub use catalogs::{parse_sizes, CatalogInfo, CatalogSize, VersionInfo};
pub use faults::{Fault, FaultKind};
pub use files::FileInfo;
pub use state::{Applied, MockState, Stats};

/// The largest request body accepted: a 9101 upload carries its file base64-encoded in the
/// JSON (axum's default of 2 MiB would refuse a settlement detail file of ordinary size).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the simulator expects of its callers.
#[derive(Debug, Clone, Default)]
pub struct MockConfig {
    /// When set, every request must carry valid `x-tif-*` headers for this paasid/token.
    pub tif: Option<TifCredentials>,
    /// When set, every request must carry valid CSB `_api_*` headers for this access key.
    pub csb: Option<CsbCredentials>,
    /// When set, every request must carry this header with this key (`apikey` profile).
    pub apikey: Option<ApikeyCredentials>,
    /// When set, msgids and `fixmedins_code` must name this institution.
    pub fixmedins_code: Option<String>,
    /// When set, requests must be 国密-sealed (`sm` profile) and replies are sealed with the
    /// platform's key: this codec holds the platform's private key and the institution's
    /// public key.
    pub sm: Option<Arc<SmCodec>>,
    /// The interface catalog the simulator checks inputs against, like the platform's own
    /// validation (the shipped one unless `--catalog` lays a site file over it).
    pub catalog: Arc<yibao_core::Catalog>,
    /// Sizes of the generated catalog downloads (1301…) that differ from the defaults, by
    /// interface code (`--catalog-rows`; see [`catalogs`]).
    pub catalog_sizes: BTreeMap<String, CatalogSize>,
    /// When set, the envelope's `cainfo` of 2207, 2304 and 2102 is read back with this key
    /// (`--cainfo-mode`, `--cainfo-key`): a request whose non-empty cainfo does not decrypt is
    /// refused and not applied, and the plaintext of one that does is kept in its
    /// [`Applied`] record, so tests see what the HIS passed arrive.
    pub cainfo: Option<Arc<yibao_core::cainfo::CainfoOpener>>,
}

#[derive(Clone)]
pub struct TifCredentials {
    pub paasid: String,
    pub token: String,
}

impl std::fmt::Debug for TifCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TifCredentials")
            .field("paasid", &self.paasid)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The access key a CSB gateway knows, with its secret.
#[derive(Clone)]
pub struct CsbCredentials {
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for CsbCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsbCredentials")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// The header and key an intranet front-end processor checks.
#[derive(Clone)]
pub struct ApikeyCredentials {
    pub header: String,
    pub key: String,
}

impl std::fmt::Debug for ApikeyCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApikeyCredentials")
            .field("header", &self.header)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A running simulator.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Binds `addr` (use port 0 for any free port) and serves in the background.
    pub async fn start(addr: SocketAddr, config: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(MockState::new(config));
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("simulator stopped: {e}");
            }
        });
        Ok(Self { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL the broker should POST to (any path works; this is the national one).
    pub fn url(&self) -> String {
        format!("http://{}/fsi/api/rsfComIfsService/callService", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Adds a fault (see [`faults`]).
    /// Every request the simulator applied, in order.
    pub fn applied(&self) -> Vec<Applied> {
        self.state.applied()
    }

    /// Every file the simulator keeps (9101 uploads, catalog downloads), oldest first.
    pub fn files(&self) -> Vec<FileInfo> {
        state::lock(&self.state.files).list()
    }

    pub fn add_fault(&self, f: Fault) {
        state::lock(&self.state.faults).add(f);
    }

    /// Serves until the task ends (for the binary).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/__mock/stats", get(stats))
        .route("/__mock/applied", get(applied))
        .route("/__mock/faults", post(add_fault).delete(clear_faults))
        .route("/__mock/files", get(files::list))
        .route("/__mock/files/{file_qury_no}", get(files::raw))
        .route("/__mock/catalog", get(catalogs::list).post(catalogs::set))
        .route(
            "/__mock/reconcile",
            get(ledger::show).post(ledger::set).delete(ledger::clear),
        )
        .fallback(call)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn stats(State(state): State<Arc<MockState>>) -> Json<Stats> {
    Json(state.stats())
}

async fn applied(State(state): State<Arc<MockState>>) -> Json<Vec<Applied>> {
    Json(state.applied())
}

async fn add_fault(State(state): State<Arc<MockState>>, Json(f): Json<Fault>) -> StatusCode {
    state::lock(&state.faults).add(f);
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(state): State<Arc<MockState>>) -> StatusCode {
    state::lock(&state.faults).clear();
    StatusCode::NO_CONTENT
}

/// The interface code of a body, if it has one (for choosing a fault).
fn peek_infno(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("infno").and_then(|i| i.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// The gateway's checks before anything is read: tif, CSB, apikey, as configured. A refusal
/// is HTTP 401 with the platform's error shape, and nothing is applied.
fn gateway_refusal(
    state: &MockState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let c = &state.config;
    let checked = c
        .tif
        .as_ref()
        .map_or(Ok(()), |tif| checks::check_tif(headers, tif))
        .and_then(|()| {
            c.csb
                .as_ref()
                .map_or(Ok(()), |csb| checks::check_csb(headers, uri.query(), csb))
        })
        .and_then(|()| {
            c.apikey
                .as_ref()
                .map_or(Ok(()), |k| checks::check_apikey(headers, k))
        });
    let msg = checked.err()?;
    state.count_rejected(None);
    Some(
        (
            StatusCode::UNAUTHORIZED,
            Json(answers::error_reply("", &msg)),
        )
            .into_response(),
    )
}

async fn call(
    State(state): State<Arc<MockState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != axum::http::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response();
    }
    if let Some(refusal) = gateway_refusal(&state, &uri, &headers) {
        return refusal;
    }
    let body = match &state.config.sm {
        None => body.to_vec(),
        Some(codec) => match codec.open(&body) {
            Ok((data, _)) => data.to_string().into_bytes(),
            Err(e) => {
                // What a gateway does with a message it cannot verify: a plain error, no
                // encrypted data, nothing applied.
                state.count_rejected(None);
                let reply =
                    serde_json::json!({"code": 401, "message": format!("验签或解密失败 / {e}")});
                return (StatusCode::OK, Json(reply)).into_response();
            }
        },
    };
    let fault = state::lock(&state.faults).pick(&peek_infno(&body));
    let Some(fault) = fault else {
        return reply(&state, answers::handle(&state, &body), false);
    };
    tracing::info!("injecting fault {:?}", fault.kind);
    match fault.kind {
        FaultKind::Delay => {
            tokio::time::sleep(fault.pause()).await;
            reply(&state, answers::handle(&state, &body), false)
        }
        FaultKind::Hang => {
            let answer = answers::handle(&state, &body);
            tokio::time::sleep(fault.pause()).await;
            reply(&state, answer, false)
        }
        FaultKind::Reset => match answers::handle(&state, &body) {
            // A download cut in the middle: the client was promised the whole file
            // (Content-Length) and gets half of it.
            Answer::File(bytes) => {
                let len = bytes.len();
                let mut r = cut_off(bytes.slice(..len / 2));
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/octet-stream"),
                );
                r
            }
            Answer::Envelope(_) => cut_off(Bytes::from_static(b"{\"infcode\":0,")),
        },
        FaultKind::ResetBefore => cut_off(Bytes::from_static(b"{\"infcode\":0,")),
        FaultKind::Http500 => {
            (StatusCode::INTERNAL_SERVER_ERROR, "simulated failure").into_response()
        }
        FaultKind::Garbage => {
            let _ = answers::handle(&state, &body);
            let text = fault
                .body
                .clone()
                .unwrap_or_else(|| "<html>502 Bad Gateway</html>".into());
            (StatusCode::OK, text).into_response()
        }
        FaultKind::BadSignature => reply(&state, answers::handle(&state, &body), true),
        FaultKind::BusinessError => reply(
            &state,
            answers::error_reply("", "模拟的业务错误 / simulated business error").into(),
            false,
        ),
        FaultKind::InvalidSignNo => {
            state.forget_sign_ins();
            reply(
                &state,
                answers::error_reply("", "签到信息无效或已过期，请重新签到").into(),
                false,
            )
        }
    }
}

/// Sends `first`, then breaks the connection: the response headers went out and the body
/// stops in the middle. The pause lets the server flush what was sent before it fails, so
/// the client really holds a partial body, not just an error.
fn cut_off(first: Bytes) -> Response {
    let head = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(first)]);
    let reset = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated reset",
        ))
    });
    Response::new(axum::body::Body::from_stream(
        futures_util::StreamExt::chain(head, reset),
    ))
}

/// Sends an answer. A file goes raw (the platform never seals 9102's bytes); with `forge`
/// one byte in its middle is changed, so a client that checks the archive's CRC or a digest
/// notices. An envelope goes as is, or sealed with the platform's key under `sm`; with
/// `forge`, its signature is damaged after sealing (the `bad_signature` fault).
fn reply(state: &MockState, answer: Answer, forge: bool) -> Response {
    let answer = match answer {
        Answer::Envelope(v) => v,
        Answer::File(bytes) if forge && !bytes.is_empty() => {
            let mut damaged = bytes.to_vec();
            let mid = damaged.len() / 2;
            damaged[mid] ^= 0xFF;
            return files::file_response(Bytes::from(damaged));
        }
        Answer::File(bytes) => return files::file_response(bytes),
    };
    let Some(codec) = &state.config.sm else {
        let mut answer = answer;
        if forge {
            // Without the sm profile there is no signature to damage; answer with one that
            // cannot be right, so a profile that checked would notice.
            answer["signData"] = "forged".into();
        }
        return Json(answer).into_response();
    };
    let mut extra = serde_json::Map::new();
    extra.insert("code".into(), 0.into());
    extra.insert("message".into(), "成功".into());
    let sealed = match codec.seal(&answer, extra) {
        Ok(b) => b,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let sealed = if forge {
        forge_signature(sealed, codec.sign_field())
    } else {
        sealed
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json;charset=utf-8",
        )],
        sealed,
    )
        .into_response()
}

/// Changes the signature's first character, keeping the body well-formed: the signature
/// still decodes, it just is not the platform's.
fn forge_signature(body: Vec<u8>, field: &str) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if let Some(sig) = v.get(field).and_then(|s| s.as_str()) {
        let mut chars: Vec<char> = sig.chars().collect();
        if let Some(c) = chars.first_mut() {
            *c = if *c == 'A' { 'B' } else { 'A' };
        }
        v[field] = chars.into_iter().collect::<String>().into();
    }
    serde_json::to_vec(&v).unwrap_or(body)
}
