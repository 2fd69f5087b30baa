//! Async framing for tokio programs (the broker, the async SDK), and the client's
//! [`Connection`] built on it. Same rules as [`crate::blocking`].

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::{self, ClientError, Session, Step};
use crate::frame::{self, Format, FrameError, HEADER_LEN};
use crate::message::{Request, Response};

/// Reads one frame. `Ok(None)` means the peer closed the connection cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: u32,
) -> Result<Option<(Format, Vec<u8>)>, FrameError> {
    match read_header(r, max).await? {
        None => Ok(None),
        Some((len, format)) => Ok(Some((format, read_payload(r, len).await?))),
    }
}

/// Reads and checks a frame's header: the payload's length (at most `max`) and format.
/// `Ok(None)` means the peer closed the connection cleanly between frames.
pub async fn read_header<R: AsyncRead + Unpin>(
    r: &mut R,
    max: u32,
) -> Result<Option<(u32, Format)>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            n => got += n,
        }
    }
    Ok(Some(frame::parse_header(header, max)?))
}

/// Reads a payload of `len` bytes. The buffer grows with what arrives rather than being
/// allocated from the header's word, so a peer that announces 8 MiB and sends little holds
/// little memory.
pub async fn read_payload<R: AsyncRead + Unpin>(
    r: &mut R,
    len: u32,
) -> Result<Vec<u8>, FrameError> {
    let mut payload = Vec::with_capacity((len as usize).min(64 * 1024));
    r.take(u64::from(len)).read_to_end(&mut payload).await?;
    if payload.len() < len as usize {
        return Err(FrameError::Truncated);
    }
    Ok(payload)
}

/// Encodes and writes one message as a frame, then flushes.
pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    format: Format,
    msg: &T,
) -> Result<(), FrameError> {
    write_frame(w, &frame::encode(format, msg)?).await
}

/// Writes one complete, already encoded frame, then flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &[u8]) -> Result<(), FrameError> {
    w.write_all(frame).await?;
    w.flush().await?;
    Ok(())
}

/// A client's end of one connection to the broker: the handshake and frame limits of a
/// [`Session`] over a tokio stream, with a read timeout (tokio streams have none of their
/// own): a reply that does not come in time is [`ClientError::TimedOut`].
#[derive(Debug)]
pub struct Connection<S> {
    stream: S,
    session: Session,
    read_timeout: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// Starts the conversation on a freshly connected `stream` by sending `Hello` as
    /// `client`; `Welcome` is read with the first reply. `endpoint` names the broker in
    /// errors: a broker that cannot even take `Hello` is unreachable.
    pub async fn open(stream: S, endpoint: &str, client: &str) -> Result<Self, ClientError> {
        let mut conn = Self {
            stream,
            session: Session::new(Format::Binary),
            read_timeout: None,
        };
        let hello = conn.session.hello_frame(client)?;
        write_frame(&mut conn.stream, &hello)
            .await
            .map_err(|e| ClientError::unreachable(endpoint, client::io_error(e)))?;
        Ok(conn)
    }

    /// Bounds how long each read of a reply may take (`None`: no bound).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// Sends one request and reads its answer. A broker's `Error` reply is returned as a
    /// response (the caller decides what a refusal means); a refused handshake is an error.
    pub async fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        let frame = self.session.encode(req)?;
        loop {
            match self.session.plan(&frame)? {
                Step::AwaitWelcome => self.welcome().await?,
                step => {
                    write_frame(&mut self.stream, &frame)
                        .await
                        .map_err(ClientError::after_send)?;
                    if step == Step::Pipeline {
                        self.welcome().await?;
                    }
                    return self.read().await;
                }
            }
        }
    }

    async fn welcome(&mut self) -> Result<(), ClientError> {
        let reply = self.read().await?;
        self.session.welcome(reply)
    }

    async fn read(&mut self) -> Result<Response, ClientError> {
        let max = self.session.reply_limit();
        let read = read_frame(&mut self.stream, max);
        let got = match self.read_timeout {
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .map_err(|_| ClientError::TimedOut)?,
            None => read.await,
        };
        self.session.reply(got)
    }
}
