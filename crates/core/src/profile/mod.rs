//! Signing profiles: how an envelope is sealed for a given kind of gateway, and how the reply
//! is opened. One trait, one implementation per gateway kind (design.md §6):
//! * `plain`: the envelope as is (intranet front-end processors);
//! * `tif`: the national gateway's `x-tif-*` headers ([`tif`]);
//! * `csb`: the `_api_*` headers of the API gateways (CSB) several provinces put in front of
//!   the platform, HMAC-SHA1 signed ([`csb`]);
//! * `apikey`: `plain` plus a key header that an intranet front-end processor checks, and
//!   any profile plus fixed headers (`[platform.headers]`) — both [`headers::WithHeaders`];
//! * `sm` (国密, SM2/SM4): [`crate::sm::SmProfile`], in its own module.
//!
//! Each profile also says what a hospital's IT staff should check when the gateway refuses
//! its requests ([`Profile::what_to_check`]): "签名失败" is the most common integration
//! problem, and the answer is always a key, a name or a clock the profile knows about.

pub mod csb;
pub mod headers;
pub mod tif;

pub use csb::{CsbProfile, CsbSettings};
pub use headers::{HeaderError, WithHeaders};
pub use tif::{tif_nonce, tif_signature, TifProfile};
pub use tif::{HDR_NONCE, HDR_PAASID, HDR_SERVICE_ID, HDR_SIGNATURE, HDR_TIMESTAMP};

use crate::platform::envelope::RequestEnvelope;

/// What goes on the wire for one attempt.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// Header names and values; names are checked when the profile is built (a header a
    /// site configured must not fail at send time, where a failure may count as "sent").
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("签名失败 / signing failed: {0}")]
    Seal(String),
    #[error("应答验签或解密失败 / reply failed verification or decryption: {0}")]
    Open(String),
}

/// A reply as a profile opened it: the body itself when the gateway sends the response
/// envelope as is, or the JSON a profile already decoded (the `sm` profile decrypts `data`),
/// so nobody serializes JSON only to parse it again.
#[derive(Debug, Clone)]
pub enum Opened {
    Bytes(Vec<u8>),
    Json(serde_json::Value),
}

/// Seals requests and opens replies for one kind of gateway. Implementations hold their
/// keys; they must never log them.
pub trait Profile: Send + Sync + std::fmt::Debug {
    /// The profile's name as written in the config (`plain`, `tif`, …).
    fn name(&self) -> &'static str;
    /// Turns the request envelope into the request to send.
    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError>;
    /// Turns the reply body into the response envelope.
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError>;
    /// The config keys (and anything else) to check when the gateway refuses a request or
    /// a reply fails verification: 中文 first, then English, naming keys, never values.
    fn what_to_check(&self) -> &'static str;
}

/// The text added to a gateway's refusal: which profile signed the request and what to
/// check. One wording for every profile, so a hospital reads the same kind of hint whatever
/// its province uses.
pub fn refusal_hint(profile: &dyn Profile) -> String {
    format!(
        "（签名方式 profile = \"{}\"；{}）",
        profile.name(),
        profile.what_to_check()
    )
}

/// The envelope as JSON bytes, for profiles that send it as it is.
pub(crate) fn envelope_bytes(envelope: &RequestEnvelope) -> Result<Vec<u8>, ProfileError> {
    serde_json::to_vec(envelope).map_err(|e| ProfileError::Seal(e.to_string()))
}

/// No signing: for front-end processors on the hospital's intranet.
#[derive(Debug, Default)]
pub struct PlainProfile;

impl Profile for PlainProfile {
    fn name(&self) -> &'static str {
        "plain"
    }
    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError> {
        Ok(OutgoingRequest {
            headers: Vec::new(),
            body: envelope_bytes(envelope)?,
        })
    }
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        Ok(Opened::Bytes(body))
    }
    fn what_to_check(&self) -> &'static str {
        "请确认前置机不要求签名，或改用 tif/csb/apikey/sm / check that the front-end processor \
         needs no signature, or choose the profile it expects"
    }
}
