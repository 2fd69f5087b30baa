//! The async client (tokio): the same calls, one connection each, `Hello` pipelined with
//! the request so a call costs one round trip. The handshake, the frame limit and the read
//! timeout are `yibao_proto::tokio_io::Connection`'s, the same rules as the blocking client.

use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Stream};
use interprocess::local_socket::GenericFilePath;
use yibao_proto::{tokio_io, CallMode, Request, Response, REPLY_GRACE};

use crate::{
    async_call, call_request, expect_accepted, expect_outcome, expect_validation, validate_request,
    wait_request, Error, Outcome, Overrides, Validation, QUICK,
};

/// The async client.
#[derive(Debug, Clone)]
pub struct AsyncYibaoClient {
    pipe: String,
    grace: Duration,
}

impl AsyncYibaoClient {
    /// A client of the broker on pipe `pipe` (`yibao` unless configured otherwise).
    pub fn new(pipe: impl Into<String>) -> Self {
        Self {
            pipe: pipe.into(),
            grace: REPLY_GRACE,
        }
    }

    /// How long to wait for a reply beyond the wait asked of the broker before giving up
    /// with [`Error::TimedOut`] (default [`REPLY_GRACE`], as for the blocking client).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    async fn request(&self, req: &Request, wait: Duration) -> Result<Response, Error> {
        let endpoint = yibao_proto::resolve_endpoint(&self.pipe);
        let unreachable = |source| Error::unreachable(&endpoint, source);
        let name = endpoint
            .as_str()
            .to_fs_name::<GenericFilePath>()
            .map_err(unreachable)?;
        let stream = Stream::connect(name).await.map_err(unreachable)?;
        let client = format!("yibao-client/{}", env!("CARGO_PKG_VERSION"));
        let mut conn = tokio_io::Connection::open(stream, &endpoint, &client).await?;
        conn.set_read_timeout(Some(wait.saturating_add(self.grace)));
        conn.request(req).await
    }

    /// Records and runs the call, waiting up to `timeout` for its terminal state
    /// (`timed_out` is set when it is still running then).
    pub async fn call_sync(
        &self,
        interface: &str,
        input_json: &str,
        timeout: Duration,
        overrides: Overrides,
    ) -> Result<Outcome, Error> {
        let req = call_request(interface, input_json, CallMode::Sync, timeout, overrides);
        expect_outcome(self.request(&req, timeout).await?)
    }

    /// Records the call and returns its request id at once.
    pub async fn call_async(
        &self,
        interface: &str,
        input_json: &str,
        overrides: Overrides,
    ) -> Result<i64, Error> {
        let req = async_call(interface, input_json, overrides);
        expect_accepted(self.request(&req, QUICK).await?)
    }

    /// The request as stored now; never waits.
    pub async fn get_result(&self, request_id: i64) -> Result<Outcome, Error> {
        expect_outcome(self.request(&Request::Result { request_id }, QUICK).await?)
    }

    /// Waits up to `timeout` for the request's terminal state.
    pub async fn wait_for_result(
        &self,
        request_id: i64,
        timeout: Duration,
    ) -> Result<Outcome, Error> {
        let req = wait_request(request_id, timeout);
        expect_outcome(self.request(&req, timeout).await?)
    }

    /// Checks an input against the broker's interface catalog; nothing is recorded or sent.
    pub async fn validate(&self, interface: &str, input_json: &str) -> Result<Validation, Error> {
        let req = validate_request(interface, input_json);
        expect_validation(self.request(&req, QUICK).await?)
    }
}
