//! The conversation with the 医保 platform, in one place: build the request envelope, seal it
//! with the configured [`Profile`], POST it, open the reply, parse the response envelope and
//! classify the whole exchange into one [`Outcome`]. The broker decides what an outcome
//! means for a request (retry, UNCERTAIN, …); it never touches bytes, headers or JSON
//! envelopes itself.
//!
//! * [`envelope`]: the request envelope and the institution's fixed fields;
//! * [`transport`]: the HTTP keep-alive pool and "may have been sent" errors;
//! * [`download`]: a reply that is a file (9102), streamed to disk;
//! * [`response`]: reading the response envelope;
//! * [`outcome`](Outcome): reply / refusal / unreadable / transport error;
//! * [`session`]: the messages the broker writes itself (9001, 9002, 2601);
//! * [`codes`]: the interface codes the broker treats specially;
//! * [`crate::cainfo`]: a settlement's `cainfo`, taken from the input into the envelope.

pub mod codes;
pub mod download;
pub mod envelope;
mod outcome;
pub mod response;
pub mod session;
pub mod transport;

use std::sync::Arc;

use yibao_proto::Overrides;

pub use download::{DownloadTarget, Downloaded};
pub use envelope::{EnvelopeDefaults, RequestEnvelope};
pub use outcome::{Outcome, Reply};
pub use response::{ResponseEnvelope, ResponseError};
pub use transport::{ClientSettings, Transport, TransportError, TransportErrorKind};

use crate::cainfo::{Cainfo, CainfoError};
use crate::profile::Profile;

/// One message to send: which interface, under which msgid (fresh for every attempt and
/// recorded before this is called), for which operator's session.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub infno: &'a str,
    pub msgid: &'a str,
    pub sign_no: &'a str,
    pub overrides: &'a Overrides,
    pub input: &'a serde_json::Value,
    /// Where the answer goes when it may be a file (9102); `None` for every other call.
    pub download: Option<&'a DownloadTarget>,
}

/// The platform as the broker sees it: one endpoint, one signing profile, the institution's
/// envelope fields (and, for the interfaces that carry one, the HIS's `cainfo`).
#[derive(Debug, Clone)]
pub struct Platform {
    transport: Transport,
    profile: Arc<dyn Profile>,
    defaults: EnvelopeDefaults,
    cainfo: Option<Arc<Cainfo>>,
}

impl Platform {
    pub fn new(
        settings: &ClientSettings,
        profile: Arc<dyn Profile>,
        defaults: EnvelopeDefaults,
    ) -> Result<Self, String> {
        Ok(Self {
            transport: Transport::new(settings)?,
            profile,
            defaults,
            cainfo: None,
        })
    }

    /// Takes the envelope's `cainfo` from the input of the interfaces `[platform.cainfo]`
    /// names ([`crate::cainfo`]); without it every envelope carries the configured constant.
    pub fn with_cainfo(mut self, cainfo: Option<Cainfo>) -> Self {
        self.cainfo = cainfo.map(Arc::new);
        self
    }

    /// The check before sending: a `cainfo` the HIS passed for a configured interface can be
    /// sent (it is text). The message never holds the value.
    pub fn check_cainfo(&self, infno: &str, input: &serde_json::Value) -> Result<(), String> {
        match &self.cainfo {
            Some(c) => c.check_input(infno, input).map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    pub fn url(&self) -> &str {
        self.transport.url()
    }

    pub fn profile_name(&self) -> &'static str {
        self.profile.name()
    }

    /// The institution's envelope fields (the default operator, sign-in's ip and mac).
    pub fn defaults(&self) -> &EnvelopeDefaults {
        &self.defaults
    }

    /// The operator a call runs as (its override, else the configured one).
    pub fn operator<'a>(&'a self, overrides: &'a Overrides) -> &'a str {
        self.defaults.operator(overrides)
    }

    /// The envelope of one attempt, with the HIS's `cainfo` taken out of the input (and
    /// sealed) for a configured interface; `true` when it carries one.
    pub(crate) fn envelope(&self, m: &Message<'_>) -> Result<(RequestEnvelope, bool), CainfoError> {
        let mut input = m.input.clone();
        let given = match &self.cainfo {
            Some(c) => c.take(m.infno, &mut input)?,
            None => None,
        };
        let mut envelope =
            self.defaults
                .build(m.infno, m.msgid.to_string(), m.sign_no, m.overrides, input);
        let carried = given.is_some();
        if let Some(value) = given {
            envelope.cainfo = value;
        }
        Ok((envelope, carried))
    }

    /// One exchange: envelope → seal → POST → open → parse → [`Outcome`].
    pub async fn exchange(&self, m: Message<'_>) -> Outcome {
        let (envelope, carried) = match self.envelope(&m) {
            Ok(built) => built,
            Err(e) => return Outcome::Transport(TransportError::unsent(e.to_string())),
        };
        let sealed = match self.profile.seal(&envelope) {
            Ok(sealed) => sealed,
            Err(e) => return Outcome::Transport(TransportError::unsent(e.to_string())),
        };
        let body = match m.download {
            None => self.transport.post(sealed).await,
            Some(target) => match self.transport.post_download(sealed, target).await {
                Ok(download::Body::Envelope(body)) => Ok(body),
                Ok(download::Body::File(file)) => return Outcome::Success(Reply::for_file(file)),
                Err(e) => Err(e),
            },
        };
        let body = match body {
            Ok(body) => body,
            Err(e) => return Outcome::Transport(self.with_hint(e)),
        };
        match self.profile.open(body) {
            Ok(opened) if carried => crate::cainfo::explain_refusal(Outcome::from_opened(opened)),
            Ok(opened) => Outcome::from_opened(opened),
            Err(e) => Outcome::Transport(self.with_hint(TransportError {
                kind: TransportErrorKind::BadReply,
                message: e.to_string(),
            })),
        }
    }

    /// A gateway's refusal (HTTP 401/403) or a reply that failed verification is almost
    /// always a key, a name or a clock: say which profile signed and what to check, once,
    /// here, for every profile.
    fn with_hint(&self, mut e: TransportError) -> TransportError {
        let refused = matches!(
            e.kind,
            TransportErrorKind::HttpStatus(401 | 403) | TransportErrorKind::BadReply
        );
        if refused {
            e.message
                .push_str(&crate::profile::refusal_hint(self.profile.as_ref()));
        }
        e
    }
}
