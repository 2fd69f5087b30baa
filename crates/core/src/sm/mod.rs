//! The 国密 (`sm`) profile: SM4-encrypted, SM2-signed messages as used by 医保移动支付 and
//! vendor gateways (design.md §6, §9).
//!
//! * [`crypto`]: SM2 sign/verify/encrypt/decrypt, SM3, SM4 ECB/CBC over RustCrypto — every
//!   entry point returns an error on bad input, none panics;
//! * [`keys`]: loading keys from PEM/DER/hex/base64 and generating test keys;
//! * [`text`]: hex/base64 for signatures and ciphertexts;
//! * [`signstr`]: the exact string that is signed;
//! * [`codec`]: sealing and opening whole messages, shared by the broker and the simulator;
//! * [`SmProfile`]: the broker's [`Profile`](crate::Profile) on top of the codec.

pub mod codec;
pub mod crypto;
pub mod keys;
pub mod signstr;
pub mod text;

pub use codec::{Encryption, FieldNames, SmCodec, SmConfig, SmError};
pub use crypto::{CipherOrder, CryptoError, SignatureLayout, Sm4Mode};
pub use text::TextEncoding;

use crate::platform::envelope::RequestEnvelope;
use crate::profile::{Opened, OutgoingRequest, Profile, ProfileError};

/// The broker's `sm` profile: seals the envelope as `data`, opens the reply's `data` as the
/// response envelope.
#[derive(Debug)]
pub struct SmProfile {
    codec: SmCodec,
}

impl SmProfile {
    pub fn new(codec: SmCodec) -> Self {
        Self { codec }
    }

    pub fn codec(&self) -> &SmCodec {
        &self.codec
    }
}

impl Profile for SmProfile {
    fn name(&self) -> &'static str {
        "sm"
    }

    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError> {
        let data = serde_json::to_value(envelope)
            .map_err(|e| ProfileError::Seal(format!("envelope is not JSON: {e}")))?;
        let body = self
            .codec
            .seal(&data, serde_json::Map::new())
            .map_err(|e| ProfileError::Seal(e.to_string()))?;
        Ok(OutgoingRequest {
            headers: Vec::new(),
            body,
        })
    }

    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        let (data, _) = self
            .codec
            .open(&body)
            .map_err(|e| ProfileError::Open(e.to_string()))?;
        Ok(Opened::Json(data))
    }

    fn what_to_check(&self) -> &'static str {
        "请检查 [platform.sm] 的 app_id、app_secret、机构私钥与平台公钥（可运行 yibao-broker keys \
         check）/ check app_id, app_secret and both keys of [platform.sm]"
    }
}
