//! Async framing for tokio programs (the broker). Same rules as [`crate::blocking`].

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{self, Format, FrameError, HEADER_LEN};

/// Reads one frame. `Ok(None)` means the peer closed the connection cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: u32,
) -> Result<Option<(Format, Vec<u8>)>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]).await? {
            0 if got == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            n => got += n,
        }
    }
    let (len, format) = frame::parse_header(header, max)?;
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(e),
        })?;
    Ok(Some((format, payload)))
}

/// Encodes and writes one message as a frame, then flushes.
pub async fn write_message<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    format: Format,
    msg: &T,
) -> Result<(), FrameError> {
    let bytes = frame::encode(format, msg)?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(())
}
