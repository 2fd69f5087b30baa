//! The async client (tokio): the same four calls, one connection each, `Hello` pipelined
//! with the request so a call costs one round trip.

use std::time::Duration;

use interprocess::local_socket::tokio::{prelude::*, Stream};
use interprocess::local_socket::GenericFilePath;
use yibao_proto::{tokio_io, CallMode, Format, Request, Response, PROTOCOL_VERSION};

use crate::{
    async_call, call_request, expect_accepted, expect_outcome, expect_validation, validate_request,
    wait_request, Error, Outcome, Overrides, Validation,
};

/// The async client.
#[derive(Debug, Clone)]
pub struct AsyncYibaoClient {
    pipe: String,
}

impl AsyncYibaoClient {
    pub fn new(pipe: impl Into<String>) -> Self {
        Self { pipe: pipe.into() }
    }

    async fn request(&self, req: &Request) -> Result<Response, Error> {
        let endpoint = yibao_proto::resolve_endpoint(&self.pipe);
        let unreachable = |source| Error::Unreachable {
            endpoint: endpoint.clone(),
            source,
        };
        let name = endpoint
            .as_str()
            .to_fs_name::<GenericFilePath>()
            .map_err(unreachable)?;
        let mut stream = Stream::connect(name).await.map_err(unreachable)?;
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
            client: format!("yibao-client/{}", env!("CARGO_PKG_VERSION")),
        };
        tokio_io::write_message(&mut stream, Format::Binary, &hello).await?;
        tokio_io::write_message(&mut stream, Format::Binary, req).await?;
        let max = yibao_proto::DEFAULT_MAX_FRAME + 64 * 1024;
        match read(&mut stream, max).await? {
            Response::Welcome { .. } => {}
            Response::Error { code, message } => return Err(Error::Refused { code, message }),
            other => return Err(Error::Unexpected(format!("{other:?}"))),
        }
        read(&mut stream, max).await
    }

    pub async fn call_sync(
        &self,
        interface: &str,
        input_json: &str,
        timeout: Duration,
        overrides: Overrides,
    ) -> Result<Outcome, Error> {
        let req = call_request(interface, input_json, CallMode::Sync, timeout, overrides);
        expect_outcome(self.request(&req).await?)
    }

    pub async fn call_async(
        &self,
        interface: &str,
        input_json: &str,
        overrides: Overrides,
    ) -> Result<i64, Error> {
        let req = async_call(interface, input_json, overrides);
        expect_accepted(self.request(&req).await?)
    }

    pub async fn get_result(&self, request_id: i64) -> Result<Outcome, Error> {
        expect_outcome(self.request(&Request::Result { request_id }).await?)
    }

    pub async fn wait_for_result(
        &self,
        request_id: i64,
        timeout: Duration,
    ) -> Result<Outcome, Error> {
        expect_outcome(self.request(&wait_request(request_id, timeout)).await?)
    }

    /// Checks an input against the broker's interface catalog; nothing is recorded or sent.
    pub async fn validate(&self, interface: &str, input_json: &str) -> Result<Validation, Error> {
        expect_validation(
            self.request(&validate_request(interface, input_json))
                .await?,
        )
    }
}

async fn read(stream: &mut Stream, max: u32) -> Result<Response, Error> {
    match tokio_io::read_frame(stream, max).await? {
        Some((format, payload)) => Ok(yibao_proto::frame::decode(format, &payload)?),
        None => Err(Error::Pipe(yibao_proto::FrameError::Truncated)),
    }
}
