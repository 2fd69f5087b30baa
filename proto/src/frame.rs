//! Frames: `u32` little-endian payload length, one format tag byte, then the payload.
//!
//! ```text
//! +----------------+-----+---------------------------+
//! | len: u32 LE    | tag | payload (len bytes)       |
//! +----------------+-----+---------------------------+
//!   tag b'B' = postcard (compact binary serde, for Rust clients)
//!   tag b'J' = UTF-8 JSON (for C#, Delphi, Python, …)
//! ```
//! The length counts the payload only, not the tag. Readers check it against their
//! maximum *before* allocating, so a hostile or broken peer cannot make us reserve
//! gigabytes by sending four bytes.

use serde::{de::DeserializeOwned, Serialize};

/// Bytes before the payload: 4 length bytes and the tag.
pub const HEADER_LEN: usize = 5;

/// Largest payload accepted unless configured otherwise (8 MiB).
pub const DEFAULT_MAX_FRAME: u32 = 8 * 1024 * 1024;

/// How a payload is encoded. The broker answers in the format of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// postcard: compact binary serde, for Rust clients.
    Binary,
    /// UTF-8 JSON, for everyone else.
    Json,
}

impl Format {
    pub fn tag(self) -> u8 {
        match self {
            Format::Binary => b'B',
            Format::Json => b'J',
        }
    }

    pub fn from_tag(tag: u8) -> Result<Self, FrameError> {
        match tag {
            b'B' => Ok(Format::Binary),
            b'J' => Ok(Format::Json),
            other => Err(FrameError::UnknownFormat(other)),
        }
    }
}

/// Everything that can go wrong with a frame. I/O errors are kept apart from protocol
/// errors because only the latter deserve an error reply to the peer.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("I/O error on the pipe: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge { len: u32, max: u32 },
    #[error("unknown frame format tag 0x{0:02x} (expected 'B' or 'J')")]
    UnknownFormat(u8),
    #[error("malformed JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    #[error("malformed binary payload: {0}")]
    Binary(#[from] postcard::Error),
    #[error("peer closed the connection in the middle of a frame")]
    Truncated,
}

impl FrameError {
    /// True when the peer simply went away (not worth an error reply or a warning).
    pub fn is_disconnect(&self) -> bool {
        match self {
            FrameError::Truncated => true,
            FrameError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }
}

/// Parses the 5 header bytes, enforcing `max` before anything is allocated.
pub fn parse_header(header: [u8; HEADER_LEN], max: u32) -> Result<(u32, Format), FrameError> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok((len, Format::from_tag(header[4])?))
}

/// Serialises `msg` into a complete frame (header + payload).
pub fn encode<T: Serialize>(format: Format, msg: &T) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; HEADER_LEN];
    match format {
        Format::Json => serde_json::to_writer(&mut out, msg)?,
        Format::Binary => out = postcard::to_extend(msg, out)?,
    }
    let len = u32::try_from(out.len() - HEADER_LEN).map_err(|_| FrameError::TooLarge {
        len: u32::MAX,
        max: u32::MAX,
    })?;
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4] = format.tag();
    Ok(out)
}

/// Deserialises a payload of the given format.
pub fn decode<T: DeserializeOwned>(format: Format, payload: &[u8]) -> Result<T, FrameError> {
    Ok(match format {
        Format::Json => serde_json::from_slice(payload)?,
        Format::Binary => postcard::from_bytes(payload)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Request, Response};

    #[test]
    fn header_rejects_oversize_before_allocation() {
        let mut h = [0u8; HEADER_LEN];
        h[..4].copy_from_slice(&(u32::MAX).to_le_bytes());
        h[4] = b'J';
        assert!(matches!(
            parse_header(h, DEFAULT_MAX_FRAME),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_tag_is_an_error() {
        let h = [1, 0, 0, 0, b'X'];
        assert!(matches!(
            parse_header(h, 10),
            Err(FrameError::UnknownFormat(b'X'))
        ));
    }

    #[test]
    fn both_formats_round_trip() {
        let req = Request::Run {
            request_id: 42,
            wait_ms: 1500,
        };
        for f in [Format::Binary, Format::Json] {
            let bytes = encode(f, &req).unwrap();
            let (len, fmt) = parse_header(bytes[..5].try_into().unwrap(), 1 << 20).unwrap();
            assert_eq!(fmt, f);
            assert_eq!(len as usize, bytes.len() - 5);
            let back: Request = decode(f, &bytes[5..]).unwrap();
            assert_eq!(back, req);
        }
    }

    #[test]
    fn json_wire_form_is_what_the_readme_says() {
        let bytes = encode(
            Format::Json,
            &Request::Run {
                request_id: 7,
                wait_ms: 30000,
            },
        )
        .unwrap();
        assert_eq!(&bytes[5..], br#"{"Run":{"request_id":7,"wait_ms":30000}}"#);
        assert_eq!(&bytes[..5], &[40, 0, 0, 0, b'J']);
        // A JSON client may omit optional fields.
        let r: Request = decode(
            Format::Json,
            br#"{"Call":{"interface":"1101","input":"{}"}}"#,
        )
        .unwrap();
        assert!(matches!(r, Request::Call { wait_ms: None, .. }));
        let w: Response = decode(
            Format::Json,
            br#"{"Welcome":{"version":1,"server":"x","max_frame":9}}"#,
        )
        .unwrap();
        assert!(matches!(w, Response::Welcome { version: 1, .. }));
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        for junk in [&b""[..], b"\xff\xff\xff", b"{", b"[1,2", b"\x07\x00"] {
            assert!(decode::<Request>(Format::Json, junk).is_err());
            // postcard may decode short junk as *some* message; it must never panic.
            let _ = decode::<Request>(Format::Binary, junk);
        }
    }
}
