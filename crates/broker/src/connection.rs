//! One pipe connection: the handshake, then request → reply until the client hangs up.
//!
//! Replies use the format of the client's `Hello` (binary or JSON). A frame that cannot be
//! read (too large, unknown tag, undecodable) gets an `Error` reply and the connection is
//! closed, because the byte stream can no longer be trusted to be at a frame boundary. The
//! broker itself carries on serving everyone else.
//!
//! A connection holds one of `max_connections` slots, so it must not hold it for nothing:
//! `Hello` must come within the handshake deadline and each next request within the idle
//! timeout. Memory is bounded the same way: a large frame (over [`SMALL_FRAME`]) reserves
//! its length from one budget shared by all connections before its payload is read, and
//! the payload buffer grows only with the bytes that actually arrive.

use std::sync::Arc;
use std::time::Duration;

use interprocess::local_socket::tokio::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use yibao_proto::tokio_io::{read_header, read_payload, write_message};
use yibao_proto::{frame, ErrorCode, Format, FrameError, Request, Response};

use crate::front::Front;
use crate::service::server_name;
use crate::shutdown::Shutdown;

/// Frames up to this size are read without reserving from the shared budget: every
/// connection may hold one (512 × 64 KiB at most), and a `Hello` or a `Ping` must never
/// wait behind someone's half-sent 8 MiB frame.
pub const SMALL_FRAME: u32 = 64 * 1024;

/// How long a refusal (`Busy`) may take to write before the socket is simply dropped.
const REFUSAL_WRITE: Duration = Duration::from_secs(1);

/// The deadlines and the memory budget every connection lives by.
#[derive(Clone)]
pub struct Limits {
    pub handshake: Duration,
    pub idle: Duration,
    /// Bytes of large frames being read, over all connections.
    pub budget: Arc<Semaphore>,
}

impl Limits {
    pub fn from_config(b: &crate::config::BrokerSection) -> Self {
        let budget = usize::try_from(b.max_buffered_bytes)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        Self {
            handshake: Duration::from_millis(b.handshake_timeout_ms),
            idle: Duration::from_millis(b.idle_timeout_ms),
            budget: Arc::new(Semaphore::new(budget)),
        }
    }
}

/// Answers a connection over `max_connections` with `Busy` (JSON: its format is unknown,
/// and every client reads the frame's own tag) and closes it. What the client sends is
/// read and thrown away for a moment first: a client still writing its `Hello` and request
/// when the socket closed would see a broken write — "outcome unknown" — instead of the
/// refusal waiting for it.
pub async fn refuse_busy(stream: Stream, max: usize) {
    use tokio::io::AsyncReadExt;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let msg = format!(
        "医保代理服务的连接数已满，请稍后重试 / every connection slot is taken; retry shortly \
         (broker.max_connections = {max})"
    );
    tracing::warn!("refused a connection: all {max} connection slots taken");
    let reply = reply_error(&mut wr, Format::Json, ErrorCode::Busy, msg);
    let _ = tokio::time::timeout(REFUSAL_WRITE, reply).await;
    let drain = async {
        let mut sink = [0u8; 4096];
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let _ = tokio::time::timeout(REFUSAL_WRITE, drain).await;
}

/// Serves one connection until the client hangs up, or until shutdown while the
/// connection is idle: a request already being handled is answered first (its worker
/// finishes within the shutdown grace), so a cashier is not told "connection lost" — exit 2,
/// uncertain — for a settlement that completes a moment later.
pub async fn serve(stream: Stream, broker: Arc<Front>, limits: Limits, mut shutdown: Shutdown) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let result = converse(&mut rd, &mut wr, &broker, &limits, &mut shutdown).await;
    if let Err(e) = result {
        if !e.is_disconnect() {
            tracing::debug!("connection ended: {e}");
        }
    }
}

async fn converse<R, W>(
    rd: &mut R,
    wr: &mut W,
    broker: &Arc<Front>,
    limits: &Limits,
    shutdown: &mut Shutdown,
) -> Result<(), FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let max = broker.max_frame;
    // Handshake. Until a frame is read, answer in JSON: a human with a test tool is the
    // likeliest sender of a broken first frame.
    let mut format = Format::Json;
    let first = tokio::select! {
        n = tokio::time::timeout(limits.handshake, next(rd, wr, max, format, &limits.budget)) => match n {
            Ok(n) => n?,
            Err(_) => {
                let msg = format!(
                    "{} ms 内没有收到 Hello，连接已关闭 / no Hello within {} ms; closing the connection",
                    limits.handshake.as_millis(),
                    limits.handshake.as_millis()
                );
                return reply_error(wr, format, ErrorCode::HandshakeRequired, msg).await;
            }
        },
        () = shutdown.recv() => return Ok(()),
    };
    let hello = match first {
        Some((f, req)) => {
            format = f;
            req
        }
        None => return Ok(()),
    };
    match hello {
        Request::Hello { version, .. }
            if (yibao_proto::MIN_PROTOCOL_VERSION..=yibao_proto::PROTOCOL_VERSION)
                .contains(&version) =>
        {
            let welcome = Response::Welcome {
                version,
                server: server_name(),
                max_frame: max,
            };
            write_message(wr, format, &welcome).await?;
        }
        Request::Hello { version, .. } => {
            let msg = format!(
                "不支持的协议版本 {version}，本服务支持 {min}–{max} / protocol version {version} is not supported; this broker speaks {min} to {max}",
                min = yibao_proto::MIN_PROTOCOL_VERSION,
                max = yibao_proto::PROTOCOL_VERSION
            );
            return reply_error(wr, format, ErrorCode::UnsupportedVersion, msg).await;
        }
        _ => {
            let msg = "连接的第一帧必须是 Hello / the first frame must be Hello".to_string();
            return reply_error(wr, format, ErrorCode::HandshakeRequired, msg).await;
        }
    }
    loop {
        let following = tokio::select! {
            n = tokio::time::timeout(limits.idle, next(rd, wr, max, format, &limits.budget)) => match n {
                Ok(n) => n?,
                // Idle too long: close quietly (the client reconnects for its next call).
                Err(_) => return Ok(()),
            },
            () = shutdown.recv() => return Ok(()),
        };
        let Some((f, req)) = following else {
            return Ok(());
        };
        format = f;
        let resp = broker.handle(req).await;
        write_message(wr, format, &resp).await?;
    }
}

/// Reads the next request. Unreadable frames are answered here and end the conversation
/// (`Ok(None)`), as does a clean close.
async fn next<R, W>(
    rd: &mut R,
    wr: &mut W,
    max: u32,
    format: Format,
    budget: &Semaphore,
) -> Result<Option<(Format, Request)>, FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let err = match read_request(rd, max, budget).await {
        Ok(None) => return Ok(None),
        Ok(Some(req)) => return Ok(Some(req)),
        Err(e) if e.is_disconnect() || matches!(e, FrameError::Io(_)) => return Err(e),
        Err(e) => e,
    };
    let code = match err {
        FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
        _ => ErrorCode::BadFrame,
    };
    tracing::info!("refused a frame: {err}");
    let msg =
        format!("无法接受的数据帧，连接将关闭 / unacceptable frame, closing the connection: {err}");
    reply_error(wr, format, code, msg).await?;
    Ok(None)
}

/// Reads and decodes one request; a large frame first reserves its length from `budget`
/// (released once decoded). `Ok(None)`: the peer closed between frames.
async fn read_request<R: AsyncRead + Unpin>(
    rd: &mut R,
    max: u32,
    budget: &Semaphore,
) -> Result<Option<(Format, Request)>, FrameError> {
    let Some((len, f)) = read_header(rd, max).await? else {
        return Ok(None);
    };
    let _reserved = if len > SMALL_FRAME {
        // Closed never happens (the budget lives as long as the broker); treat it as busy.
        Some(
            budget
                .acquire_many(len)
                .await
                .map_err(|_| FrameError::Truncated)?,
        )
    } else {
        None
    };
    let payload = read_payload(rd, len).await?;
    Ok(Some((f, frame::decode::<Request>(f, &payload)?)))
}

async fn reply_error<W: AsyncWrite + Unpin>(
    wr: &mut W,
    format: Format,
    code: ErrorCode,
    message: String,
) -> Result<(), FrameError> {
    write_message(wr, format, &Response::Error { code, message }).await
}
