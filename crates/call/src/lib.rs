//! `yibao-call` as a library: the blocking pipe client the shim binary is made of, reusable
//! by any Rust program (the demo, the e2e tests) that wants to talk to the broker without
//! an async runtime.
//!
//! A connection sends `Hello` and the first request back to back (pipelining) and only
//! then reads `Welcome` and the answer, so a shim invocation costs one round trip. The
//! handshake itself (and when a request is too large to pipeline) is
//! [`yibao_proto::blocking::Connection`]'s, shared with the async SDK.

mod exit;

pub use exit::{exit_code_for, failure, ExitCode};
pub use yibao_proto::ClientError;

use std::time::Duration;

use interprocess::local_socket::{prelude::*, GenericFilePath, Stream};
use yibao_proto::{blocking, Request, Response};

/// A connection to the broker.
pub struct Client {
    conn: blocking::Connection<Stream>,
}

impl Client {
    /// Connects to the broker listening on the pipe `name` (see
    /// [`yibao_proto::resolve_endpoint`]) and sends `Hello`; the answer is read with the
    /// first reply.
    pub fn connect(name: &str) -> Result<Self, ClientError> {
        let endpoint = yibao_proto::resolve_endpoint(name);
        let unreachable = |source| ClientError::unreachable(&endpoint, source);
        let fs_name = endpoint
            .as_str()
            .to_fs_name::<GenericFilePath>()
            .map_err(unreachable)?;
        let stream = Stream::connect(fs_name).map_err(unreachable)?;
        let client = format!("yibao-call/{}", env!("CARGO_PKG_VERSION"));
        let conn = blocking::Connection::open(stream, &endpoint, &client)?;
        Ok(Self { conn })
    }

    /// Bounds how long a read may block, where the OS supports it (Unix sockets); a read
    /// that times out is [`ClientError::TimedOut`]. Windows named pipes have no read
    /// timeout; the shim guards its wall clock itself.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) {
        let _ = self.conn.get_ref().set_recv_timeout(timeout);
    }

    /// Sends one request and reads its answer. A broker's `Error` reply is an `Ok`
    /// response here: the shim prints it; a refused handshake is an error.
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.conn.request(req)
    }
}
