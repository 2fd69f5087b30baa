//! `yibao-call` as a library: the blocking pipe client the shim binary is made of, reusable
//! by any Rust program (the demo, the e2e tests) that wants to talk to the broker without
//! an async runtime.
//!
//! A connection sends `Hello` and the first request back to back (pipelining) and only
//! then reads `Welcome` and the answer, so a shim invocation costs one round trip.

mod exit;

pub use exit::{exit_code_for, ExitCode};

use std::io;
use std::time::Duration;

use interprocess::local_socket::{prelude::*, GenericFilePath, Stream};
use yibao_proto::{blocking, Format, FrameError, Request, Response, PROTOCOL_VERSION};

/// Why a conversation with the broker failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the endpoint: the broker is not running (or the name is wrong).
    #[error(
        "无法连接医保代理服务（{endpoint}），请确认 yibao-broker 已启动 / \
         cannot reach the yibao broker at {endpoint}; is yibao-broker running? ({source})"
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
    /// The broker refused the connection's handshake.
    #[error("医保代理服务拒绝连接 / the broker refused the handshake: {0}")]
    Handshake(String),
}

/// A connection to the broker.
pub struct Client {
    stream: Stream,
    format: Format,
    max_frame: u32,
    welcomed: bool,
}

impl Client {
    /// Connects to the broker listening on the pipe `name` (see
    /// [`yibao_proto::resolve_endpoint`]) and sends `Hello`; the answer is read with the
    /// first reply.
    pub fn connect(name: &str) -> Result<Self, ClientError> {
        let endpoint = yibao_proto::resolve_endpoint(name);
        let unreachable = |source| ClientError::Unreachable {
            endpoint: endpoint.clone(),
            source,
        };
        let fs_name = endpoint
            .as_str()
            .to_fs_name::<GenericFilePath>()
            .map_err(unreachable)?;
        let stream = Stream::connect(fs_name).map_err(unreachable)?;
        let mut client = Self {
            stream,
            format: Format::Binary,
            max_frame: yibao_proto::DEFAULT_MAX_FRAME,
            welcomed: false,
        };
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
            client: format!("yibao-call/{}", env!("CARGO_PKG_VERSION")),
        };
        blocking::write_message(&mut client.stream, client.format, &hello)
            .map_err(|e| unreachable(io::Error::other(e.to_string())))?;
        Ok(client)
    }

    /// Bounds how long a read may block, where the OS supports it (Unix sockets). Windows
    /// named pipes have no read timeout; the shim guards its wall clock itself.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        let _ = self.stream.set_recv_timeout(timeout);
    }

    /// Sends one request and reads its answer.
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        blocking::write_message(&mut self.stream, self.format, req).map_err(ClientError::Lost)?;
        if !self.welcomed {
            match self.read()? {
                Response::Welcome { max_frame, .. } => {
                    self.max_frame = max_frame.max(1024);
                    self.welcomed = true;
                }
                Response::Error { message, .. } => return Err(ClientError::Handshake(message)),
                other => {
                    return Err(ClientError::Handshake(format!(
                        "expected Welcome, got {other:?}"
                    )))
                }
            }
        }
        self.read()
    }

    fn read(&mut self) -> Result<Response, ClientError> {
        // Replies carry whole response envelopes; accept what the broker said it allows,
        // with room for the reply's own fields.
        let max = self.max_frame.saturating_add(64 * 1024);
        blocking::read_message(&mut self.stream, max).map_err(ClientError::Lost)
    }
}
