//! Blocking framing over any `Read`/`Write` (the shim, std-only clients, tests).

use std::io::{ErrorKind, Read, Write};

use serde::{de::DeserializeOwned, Serialize};

use crate::frame::{self, Format, FrameError, HEADER_LEN};

/// Reads one frame. `Ok(None)` means the peer closed the connection cleanly between frames.
pub fn read_frame<R: Read>(r: &mut R, max: u32) -> Result<Option<(Format, Vec<u8>)>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (len, format) = frame::parse_header(header, max)?;
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    Ok(Some((format, payload)))
}

/// Encodes and writes one message as a frame, then flushes.
pub fn write_message<W: Write, T: Serialize>(
    w: &mut W,
    format: Format,
    msg: &T,
) -> Result<(), FrameError> {
    let bytes = frame::encode(format, msg)?;
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

/// Reads and decodes one message; a clean close is reported as `Truncated` because the
/// caller was expecting an answer.
pub fn read_message<R: Read, T: DeserializeOwned>(r: &mut R, max: u32) -> Result<T, FrameError> {
    match read_frame(r, max)? {
        Some((format, payload)) => frame::decode(format, &payload),
        None => Err(FrameError::Truncated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;
    use std::io::Cursor;

    #[test]
    fn eof_between_frames_is_clean_and_inside_is_truncated() {
        assert!(read_frame(&mut Cursor::new(Vec::<u8>::new()), 100)
            .unwrap()
            .is_none());
        assert!(matches!(
            read_frame(&mut Cursor::new(vec![9, 0]), 100),
            Err(FrameError::Truncated)
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new(vec![9, 0, 0, 0, b'J', b'{']), 100),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn write_then_read() {
        let mut buf = Vec::new();
        write_message(&mut buf, Format::Binary, &Request::Ping {}).unwrap();
        write_message(&mut buf, Format::Json, &Request::Status {}).unwrap();
        let mut c = Cursor::new(buf);
        let a: Request = read_message(&mut c, 1024).unwrap();
        let b: Request = read_message(&mut c, 1024).unwrap();
        assert_eq!((a, b), (Request::Ping {}, Request::Status {}));
    }
}
