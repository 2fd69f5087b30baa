//! One pipe connection: the handshake, then request → reply until the client hangs up.
//!
//! Replies use the format of the client's `Hello` (binary or JSON). A frame that cannot be
//! read (too large, unknown tag, undecodable) gets an `Error` reply and the connection is
//! closed, because the byte stream can no longer be trusted to be at a frame boundary. The
//! broker itself carries on serving everyone else.

use std::sync::Arc;

use interprocess::local_socket::tokio::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use yibao_proto::tokio_io::{read_frame, write_message};
use yibao_proto::{frame, ErrorCode, Format, FrameError, Request, Response};

use crate::service::{server_name, Broker};
use crate::shutdown::Shutdown;

/// Serves one connection until the client hangs up, or until shutdown while the
/// connection is idle: a request already being handled is answered first (its worker
/// finishes within the shutdown grace), so a cashier is not told "connection lost" — exit 2,
/// uncertain — for a settlement that completes a moment later.
pub async fn serve(stream: Stream, broker: Arc<Broker>, mut shutdown: Shutdown) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let result = converse(&mut rd, &mut wr, &broker, &mut shutdown).await;
    if let Err(e) = result {
        if !e.is_disconnect() {
            tracing::debug!("connection ended: {e}");
        }
    }
}

async fn converse<R, W>(
    rd: &mut R,
    wr: &mut W,
    broker: &Arc<Broker>,
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
        n = next(rd, wr, max, format) => n?,
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
            n = next(rd, wr, max, format) => n?,
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
) -> Result<Option<(Format, Request)>, FrameError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let err = match read_frame(rd, max).await {
        Ok(None) => return Ok(None),
        Ok(Some((f, payload))) => match frame::decode::<Request>(f, &payload) {
            Ok(req) => return Ok(Some((f, req))),
            Err(e) => e,
        },
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

async fn reply_error<W: AsyncWrite + Unpin>(
    wr: &mut W,
    format: Format,
    code: ErrorCode,
    message: String,
) -> Result<(), FrameError> {
    write_message(wr, format, &Response::Error { code, message }).await
}
