//! Signing profiles: how an envelope is sealed for a given kind of gateway, and how the reply
//! is opened. One trait, one implementation per gateway kind (design.md §6):
//! * `plain`: the envelope as is (intranet front-end processors);
//! * `tif`: the national gateway's `x-tif-*` headers;
//! * `sm` (国密, SM2/SM4): [`crate::sm::SmProfile`], in its own module.

use sha2::{Digest, Sha256};

use crate::platform::envelope::RequestEnvelope;

/// What goes on the wire for one attempt.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub headers: Vec<(&'static str, String)>,
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
}

/// The envelope as JSON bytes, for profiles that send it as it is.
fn envelope_bytes(envelope: &RequestEnvelope) -> Result<Vec<u8>, ProfileError> {
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
}

/// The national gateway (天眼/TIF) headers.
pub struct TifProfile {
    paasid: String,
    token: String,
    service_id: Option<String>,
}

impl std::fmt::Debug for TifProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TifProfile")
            .field("paasid", &self.paasid)
            .field("token", &"<redacted>")
            .field("service_id", &self.service_id)
            .finish()
    }
}

pub const HDR_PAASID: &str = "x-tif-paasid";
pub const HDR_TIMESTAMP: &str = "x-tif-timestamp";
pub const HDR_NONCE: &str = "x-tif-nonce";
pub const HDR_SIGNATURE: &str = "x-tif-signature";
pub const HDR_SERVICE_ID: &str = "x-tif-serviceid";

/// `x-tif-signature`: lowercase hex SHA-256 of `timestamp + token + nonce + timestamp`.
pub fn tif_signature(timestamp: &str, token: &str, nonce: &str) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(token.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    hex::encode(h.finalize())
}

/// A nonce of the widely copied form: hex(milliseconds) + "-" + hex(random 24 bits).
pub fn tif_nonce() -> String {
    let ms = crate::time::epoch_ms();
    let r: u32 = rand::random::<u32>() & 0x00ff_ffff;
    format!("{ms:x}-{r:06x}")
}

impl TifProfile {
    pub fn new(paasid: String, token: String, service_id: Option<String>) -> Self {
        Self {
            paasid,
            token,
            service_id,
        }
    }
}

impl Profile for TifProfile {
    fn name(&self) -> &'static str {
        "tif"
    }
    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError> {
        let body = envelope_bytes(envelope)?;
        let timestamp = (crate::time::epoch_ms() / 1000).to_string();
        let nonce = tif_nonce();
        let signature = tif_signature(&timestamp, &self.token, &nonce);
        let mut headers = vec![
            (HDR_PAASID, self.paasid.clone()),
            (HDR_TIMESTAMP, timestamp),
            (HDR_NONCE, nonce),
            (HDR_SIGNATURE, signature),
        ];
        if let Some(s) = &self.service_id {
            headers.push((HDR_SERVICE_ID, s.clone()));
        }
        Ok(OutgoingRequest { headers, body })
    }
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        Ok(Opened::Bytes(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_computation() {
        // sha256("1700000000" + "tok" + "n1" + "1700000000"), computed with coreutils sha256sum.
        assert_eq!(
            tif_signature("1700000000", "tok", "n1"),
            "78b09d58f97aa86b95e5f4f046ca86202495be2bce7102edbb773ac4c8a3d232"
        );
    }

    #[test]
    fn tif_sets_all_headers_and_never_shows_the_token() {
        let p = TifProfile::new("paas1".into(), "s3cret-token".into(), None);
        let envelope = crate::platform::envelope::sample_defaults().build(
            "1101",
            "m1".into(),
            "",
            &Default::default(),
            serde_json::json!({}),
        );
        let out = p.seal(&envelope).unwrap();
        let get = |k: &str| {
            out.headers
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get(HDR_PAASID), "paas1");
        let ts = get(HDR_TIMESTAMP);
        let nonce = get(HDR_NONCE);
        assert_eq!(
            get(HDR_SIGNATURE),
            tif_signature(&ts, "s3cret-token", &nonce)
        );
        assert!(!format!("{p:?}").contains("s3cret"));
        assert_ne!(tif_nonce(), tif_nonce());
    }
}
