//! `yibao-client`: the original design's SDK calls for local Rust programs, over the
//! broker's pipe — [`YibaoClient`] (blocking, no runtime) and, with the default `async`
//! feature, [`AsyncYibaoClient`] (tokio).
//!
//! | seed API | here | pipe request |
//! |---|---|---|
//! | `call_sync(code, data)` | [`YibaoClient::call_sync`] | `Call` (Sync) → `Outcome` |
//! | `call_async(code, data)` | [`YibaoClient::call_async`] | `Call` (Async) → request id |
//! | `get_result(id)` | [`YibaoClient::get_result`] | `Result` → `Outcome` |
//! | `wait_for_result(id, t)` | [`YibaoClient::wait_for_result`] | `Wait` → `Outcome` |
//!
//! Every request and answer is also in the database (`v_medical_insurance_result`); the
//! [`Outcome`] carries the status, infcode, err_msg, msgid and the platform's reply text.

#[cfg(feature = "async")]
mod nonblocking;

use std::time::Duration;

use yibao_proto::{CallMode, Request, Response};
pub use yibao_proto::{Outcome, Overrides, RequestStatus, REPLY_GRACE};

#[cfg(feature = "async")]
pub use nonblocking::AsyncYibaoClient;

/// Why a call did not produce an answer — the same for the blocking and the async client,
/// and the same the shim maps to its exit codes: `Unreachable` (no broker; nothing sent),
/// `Lost` (the connection broke; the outcome is unknown), `TimedOut` (no reply within the
/// request's wait plus the grace; it may still run), `Refused` (the broker's error code),
/// `TooLarge` (over the broker's `max_frame`; not sent), `Protocol` (an answer that does
/// not fit).
pub type Error = yibao_proto::ClientError;

/// The wait a request that never waits (`Result`, `Validate`, an async `Call`) is given
/// before the grace: the broker answers those at once.
const QUICK: Duration = Duration::from_secs(5);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn call_request(
    interface: &str,
    input_json: &str,
    mode: CallMode,
    wait: Duration,
    overrides: Overrides,
) -> Request {
    Request::Call {
        interface: interface.to_string(),
        input: input_json.to_string(),
        overrides,
        mode,
        wait_ms: (mode == CallMode::Sync).then(|| millis(wait)),
    }
}

pub(crate) fn wait_request(request_id: i64, timeout: Duration) -> Request {
    Request::Wait {
        request_id,
        timeout_ms: millis(timeout),
    }
}

pub(crate) fn async_call(interface: &str, input_json: &str, overrides: Overrides) -> Request {
    call_request(
        interface,
        input_json,
        CallMode::Async,
        Duration::ZERO,
        overrides,
    )
}

pub(crate) fn expect_outcome(r: Response) -> Result<Outcome, Error> {
    match r {
        Response::Outcome(o) => Ok(o),
        Response::Error { code, message } => Err(Error::refused(code, message)),
        other => Err(unexpected(&other)),
    }
}

pub(crate) fn expect_accepted(r: Response) -> Result<i64, Error> {
    match r {
        Response::Accepted { request_id } => Ok(request_id),
        Response::Error { code, message } => Err(Error::refused(code, message)),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(r: &Response) -> Error {
    Error::Protocol(format!("an answer that does not fit the request: {r:?}"))
}

/// The broker's verdict on an input checked with `validate`: `problems` holds one line
/// (中文 / English) per broken catalog rule; empty when the input passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub ok: bool,
    pub problems: Vec<String>,
    pub message: String,
}

pub(crate) fn validate_request(interface: &str, input_json: &str) -> Request {
    Request::Validate {
        interface: interface.to_string(),
        input: input_json.to_string(),
    }
}

pub(crate) fn expect_validation(r: Response) -> Result<Validation, Error> {
    match r {
        Response::Validation {
            ok,
            problems,
            message,
        } => Ok(Validation {
            ok,
            problems,
            message,
        }),
        Response::Error { code, message } => Err(Error::refused(code, message)),
        other => Err(unexpected(&other)),
    }
}

/// The blocking client: one short connection per call, like the shim.
#[derive(Debug, Clone)]
pub struct YibaoClient {
    pipe: String,
    grace: Duration,
}

impl YibaoClient {
    /// A client of the broker on pipe `pipe` (`yibao` unless configured otherwise).
    pub fn new(pipe: impl Into<String>) -> Self {
        Self {
            pipe: pipe.into(),
            grace: REPLY_GRACE,
        }
    }

    /// How long to wait for a reply beyond the wait asked of the broker before giving up
    /// with [`Error::TimedOut`] (default [`REPLY_GRACE`]). Only where the OS has read
    /// timeouts (Unix sockets); Windows named pipes have none.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    fn request(&self, req: &Request, wait: Duration) -> Result<Response, Error> {
        let mut c = yibao_call::Client::connect(&self.pipe)?;
        c.set_read_timeout(Some(wait.saturating_add(self.grace)));
        c.request(req)
    }

    /// Records and runs the call, waiting up to `timeout` for its terminal state
    /// (`timed_out` is set when it is still running then).
    pub fn call_sync(
        &self,
        interface: &str,
        input_json: &str,
        timeout: Duration,
        overrides: Overrides,
    ) -> Result<Outcome, Error> {
        let req = call_request(interface, input_json, CallMode::Sync, timeout, overrides);
        expect_outcome(self.request(&req, timeout)?)
    }

    /// Records the call and returns its request id at once.
    pub fn call_async(
        &self,
        interface: &str,
        input_json: &str,
        overrides: Overrides,
    ) -> Result<i64, Error> {
        let req = async_call(interface, input_json, overrides);
        expect_accepted(self.request(&req, QUICK)?)
    }

    /// The request as stored now; never waits.
    pub fn get_result(&self, request_id: i64) -> Result<Outcome, Error> {
        expect_outcome(self.request(&Request::Result { request_id }, QUICK)?)
    }

    /// Waits up to `timeout` for the request's terminal state.
    pub fn wait_for_result(&self, request_id: i64, timeout: Duration) -> Result<Outcome, Error> {
        expect_outcome(self.request(&wait_request(request_id, timeout), timeout)?)
    }

    /// Checks an input against the broker's interface catalog; nothing is recorded or sent.
    pub fn validate(&self, interface: &str, input_json: &str) -> Result<Validation, Error> {
        let req = validate_request(interface, input_json);
        expect_validation(self.request(&req, QUICK)?)
    }
}

#[cfg(test)]
mod tests;
