//! `tif`: the national gateway's (天眼/TIF) `x-tif-*` headers.

use sha2::{Digest, Sha256};

use super::{envelope_bytes, Opened, OutgoingRequest, Profile, ProfileError};
use crate::platform::envelope::RequestEnvelope;

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
            (HDR_PAASID.to_string(), self.paasid.clone()),
            (HDR_TIMESTAMP.to_string(), timestamp),
            (HDR_NONCE.to_string(), nonce),
            (HDR_SIGNATURE.to_string(), signature),
        ];
        if let Some(s) = &self.service_id {
            headers.push((HDR_SERVICE_ID.to_string(), s.clone()));
        }
        Ok(OutgoingRequest { headers, body })
    }
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        Ok(Opened::Bytes(body))
    }
    fn what_to_check(&self) -> &'static str {
        "请检查 tif_paasid、tif_token 与本机时钟 / check tif_paasid, tif_token and this \
         machine's clock"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

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
