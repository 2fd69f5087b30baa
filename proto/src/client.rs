//! The client's side of a connection, without I/O: building `Hello`, checking `Welcome`,
//! deciding when a request may ride behind `Hello` unanswered and how large a frame may be,
//! and the one error type every client (the shim, the blocking and the async SDK) reports.
//!
//! [`crate::blocking::Connection`] and `tokio_io::Connection` drive a [`Session`] over their
//! streams, so these rules exist once and the clients cannot drift apart again.

use std::io;
use std::time::Duration;

use crate::frame::{self, Format, FrameError, HEADER_LEN};
use crate::message::{ErrorCode, Request, Response};
use crate::{DEFAULT_MAX_FRAME, PROTOCOL_VERSION};

/// The smallest `max_frame` a broker announces (its `max_frame_bytes` may not be set lower).
/// A request that fits in it is accepted by every broker, so it may be pipelined behind
/// `Hello` before `Welcome` has told the real limit.
pub const MIN_MAX_FRAME: u32 = 1024;

/// Replies carry whole response envelopes: a client accepts what the broker said it allows
/// plus this much room for the reply's own fields.
pub const REPLY_HEADROOM: u32 = 64 * 1024;

/// How long a client waits for a reply beyond the wait it asked the broker for, before it
/// gives up with [`ClientError::TimedOut`]. The broker answers at the end of that wait, so
/// this only covers a broker that hangs.
pub const REPLY_GRACE: Duration = Duration::from_secs(10);

/// Why a conversation with the broker failed. The shim maps each case to one documented exit
/// code (`yibao_call::exit`); the SDK returns it as is.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the endpoint: the broker is not running (or the name is wrong).
    /// Nothing was sent.
    #[error(
        "无法连接医保代理服务，请确认 yibao-broker 已启动 / \
         cannot reach the yibao broker; is yibao-broker running? ({endpoint}: {source})"
    )]
    Unreachable {
        endpoint: String,
        #[source]
        source: io::Error,
    },
    /// The connection broke or the reply was unreadable after the request was sent; the
    /// request may still complete.
    #[error(
        "与医保代理服务的连接中断，请求结果未知，请稍后查询 / \
         the connection to the broker broke; the outcome is unknown, query it later: {0}"
    )]
    Lost(#[source] FrameError),
    /// No reply within the read timeout; the request may still be running in the broker.
    #[error(
        "医保代理服务未在时限内应答，请求可能仍在处理，请稍后查询 / \
         the broker did not answer in time; the request may still be running, query it later"
    )]
    TimedOut,
    /// The broker answered with an error code: it refused the handshake
    /// (`UnsupportedVersion`, `HandshakeRequired`) or the request (unknown request id,
    /// database down, shutting down, …).
    #[error("医保代理服务拒绝 / the broker refused ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    /// The request is larger than the broker accepts (`Welcome.max_frame`); it was not sent
    /// and the connection is still usable.
    #[error(
        "请求过大（{len} 字节，上限 {max} 字节），未发送 / \
         the request is {len} bytes, over the broker's limit of {max}; it was not sent \
         (配置项 / config key broker.max_frame_bytes)"
    )]
    TooLarge { len: u32, max: u32 },
    /// An answer that does not fit the request or the protocol (a version mismatch, or a
    /// peer that is not a yibao broker).
    #[error("医保代理服务的应答不符合协议 / unexpected answer from the broker: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The broker at `endpoint` could not be reached (connecting, or sending `Hello`).
    pub fn unreachable(endpoint: &str, source: io::Error) -> Self {
        ClientError::Unreachable {
            endpoint: endpoint.to_string(),
            source,
        }
    }

    /// Classifies a failure after the request went out: a read timeout (`WouldBlock` from a
    /// Unix socket's receive timeout, `TimedOut` elsewhere) is [`ClientError::TimedOut`],
    /// anything else a lost connection.
    pub fn after_send(e: FrameError) -> Self {
        match &e {
            FrameError::Io(io) if is_timeout(io) => ClientError::TimedOut,
            _ => ClientError::Lost(e),
        }
    }

    /// A broker's `Error` reply.
    pub fn refused(code: ErrorCode, message: String) -> Self {
        ClientError::Refused { code, message }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The `io::Error` inside a frame error, for [`ClientError::Unreachable`].
pub(crate) fn io_error(e: FrameError) -> io::Error {
    match e {
        FrameError::Io(io) => io,
        other => io::Error::other(other.to_string()),
    }
}

/// What a connection must do before it may write a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `Welcome` has been read and the request fits: write it, read the reply.
    Send,
    /// `Welcome` is still unread but the request fits any broker: write it right behind
    /// `Hello`, then read `Welcome` and the reply (one round trip).
    Pipeline,
    /// The request may be over the broker's limit: read `Welcome` first, then ask again.
    AwaitWelcome,
}

/// One connection's handshake state and frame limits.
#[derive(Debug, Clone)]
pub struct Session {
    format: Format,
    /// The broker's `Welcome.max_frame`, once read.
    max_frame: Option<u32>,
}

impl Session {
    /// A session speaking `format` (Rust clients use [`Format::Binary`]).
    pub fn new(format: Format) -> Self {
        Self {
            format,
            max_frame: None,
        }
    }

    /// The first frame of the connection, announcing our protocol version.
    pub fn hello_frame(&self, client: &str) -> Result<Vec<u8>, ClientError> {
        self.encode(&Request::Hello {
            version: PROTOCOL_VERSION,
            client: client.to_string(),
        })
    }

    /// A request as a complete frame, so its size can be checked before anything is written.
    pub fn encode(&self, req: &Request) -> Result<Vec<u8>, ClientError> {
        frame::encode(self.format, req).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Decides how to send the encoded request `frame` (see [`Step`]). A request over the
    /// announced limit fails here, before a byte of it is written.
    pub fn plan(&self, frame: &[u8]) -> Result<Step, ClientError> {
        let len = u32::try_from(frame.len().saturating_sub(HEADER_LEN)).unwrap_or(u32::MAX);
        match self.max_frame {
            Some(max) if len > max => Err(ClientError::TooLarge { len, max }),
            Some(_) => Ok(Step::Send),
            None if len <= MIN_MAX_FRAME => Ok(Step::Pipeline),
            None => Ok(Step::AwaitWelcome),
        }
    }

    /// The largest reply payload to accept now.
    pub fn reply_limit(&self) -> u32 {
        self.max_frame
            .unwrap_or(DEFAULT_MAX_FRAME)
            .saturating_add(REPLY_HEADROOM)
    }

    /// Turns what was read from the stream into a reply: a clean close is a lost
    /// connection too, because an answer was due.
    pub fn reply(
        &self,
        read: Result<Option<(Format, Vec<u8>)>, FrameError>,
    ) -> Result<Response, ClientError> {
        match read {
            Ok(Some((format, payload))) => {
                frame::decode(format, &payload).map_err(ClientError::after_send)
            }
            Ok(None) => Err(ClientError::Lost(FrameError::Truncated)),
            Err(e) => Err(ClientError::after_send(e)),
        }
    }

    /// Checks the broker's answer to `Hello` and records its frame limit.
    pub fn welcome(&mut self, reply: Response) -> Result<(), ClientError> {
        match reply {
            Response::Welcome {
                version, max_frame, ..
            } if version == PROTOCOL_VERSION => {
                self.max_frame = Some(max_frame);
                Ok(())
            }
            Response::Welcome { version, .. } => Err(ClientError::Protocol(format!(
                "the broker welcomed protocol version {version}, we speak {PROTOCOL_VERSION}"
            ))),
            Response::Error { code, message } => Err(ClientError::refused(code, message)),
            other => Err(ClientError::Protocol(format!(
                "expected Welcome, got {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(max_frame: u32) -> Response {
        Response::Welcome {
            version: PROTOCOL_VERSION,
            server: "test".into(),
            max_frame,
        }
    }

    fn frame_of(payload: usize) -> Vec<u8> {
        vec![0; HEADER_LEN + payload]
    }

    #[test]
    fn small_requests_are_pipelined_larger_ones_wait_for_the_limit() {
        let s = Session::new(Format::Binary);
        assert_eq!(
            s.plan(&frame_of(MIN_MAX_FRAME as usize)).unwrap(),
            Step::Pipeline
        );
        assert_eq!(
            s.plan(&frame_of(MIN_MAX_FRAME as usize + 1)).unwrap(),
            Step::AwaitWelcome
        );
    }

    #[test]
    fn the_announced_limit_is_enforced_before_writing() {
        let mut s = Session::new(Format::Binary);
        s.welcome(welcome(2000)).unwrap();
        assert_eq!(s.plan(&frame_of(2000)).unwrap(), Step::Send);
        assert!(matches!(
            s.plan(&frame_of(2001)),
            Err(ClientError::TooLarge {
                len: 2001,
                max: 2000
            })
        ));
        assert_eq!(s.reply_limit(), 2000 + REPLY_HEADROOM);
    }

    #[test]
    fn welcome_is_checked() {
        let mut s = Session::new(Format::Json);
        let refused = s.welcome(Response::Error {
            code: ErrorCode::UnsupportedVersion,
            message: "no".into(),
        });
        assert!(matches!(
            refused,
            Err(ClientError::Refused {
                code: ErrorCode::UnsupportedVersion,
                ..
            })
        ));
        let old = s.welcome(Response::Welcome {
            version: PROTOCOL_VERSION - 1,
            server: "old".into(),
            max_frame: 9,
        });
        assert!(matches!(old, Err(ClientError::Protocol(_))));
        let odd = s.welcome(Response::Pong { server: "x".into() });
        assert!(matches!(odd, Err(ClientError::Protocol(_))));
        assert_eq!(s.reply_limit(), DEFAULT_MAX_FRAME + REPLY_HEADROOM);
    }

    #[test]
    fn read_failures_are_classified() {
        let s = Session::new(Format::Binary);
        let timeout = io::Error::from(io::ErrorKind::WouldBlock);
        assert!(matches!(
            s.reply(Err(FrameError::Io(timeout))),
            Err(ClientError::TimedOut)
        ));
        assert!(matches!(s.reply(Ok(None)), Err(ClientError::Lost(_))));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            s.reply(Err(FrameError::Io(reset))),
            Err(ClientError::Lost(_))
        ));
    }

    #[test]
    fn hello_announces_our_version() {
        let s = Session::new(Format::Json);
        let f = s.hello_frame("t/1").unwrap();
        let hello: Request = frame::decode(Format::Json, &f[HEADER_LEN..]).unwrap();
        assert_eq!(
            hello,
            Request::Hello {
                version: PROTOCOL_VERSION,
                client: "t/1".into()
            }
        );
    }
}
