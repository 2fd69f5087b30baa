//! One `sm` message codec for both ends of the wire: the broker seals requests with the
//! institution's key and opens replies with the platform's public key; the simulator does the
//! mirror image with the same code, so the two cannot drift apart silently.
//!
//! Sealed body (field names configurable): `{appId, encType, signType, timestamp, version,
//! encData, signData}` where `encData` is the encrypted JSON of the plaintext `data` and
//! `signData` the SM2 signature over [`string_to_sign`] of the message *with* plaintext
//! `data`. Opening decrypts `encData`, puts `data` back and verifies — a reply that does not
//! verify is an error, never a success.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crypto::{
    derive_sm4_key, CipherOrder, CryptoError, SignatureLayout, Sm2Signer, Sm2Verifier, Sm4Cipher,
    Sm4Mode, DEFAULT_USER_ID,
};
use super::keys::{load_private_key, load_public_key, KeyError};
use super::signstr::{string_to_sign, SignFields};
use super::text::{TextEncoding, TextError};
use crate::secret::Secret;

/// `[platform.sm]` in the broker's config. Every option is documented in docs/config.md.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmConfig {
    /// The appId the platform issued.
    pub app_id: String,
    /// The appSecret: `env:NAME`, `file:PATH` or the value.
    pub app_secret: Secret,
    /// This side's SM2 private key: `file:PATH` (PEM/DER/hex/base64), `env:NAME` or inline.
    pub private_key: Secret,
    /// The other side's SM2 public key (for the broker: the platform's), same forms.
    pub platform_public_key: String,
    /// A fixed SM4 key (32 hex digits or 16 characters) instead of the appId/appSecret
    /// derivation; `env:`/`file:` allowed.
    #[serde(default)]
    pub sm4_key: Option<Secret>,
    #[serde(default = "default_user_id")]
    pub user_id: String,
    #[serde(default)]
    pub signature_layout: SignatureLayout,
    #[serde(default = "default_signature_encoding")]
    pub signature_encoding: TextEncoding,
    #[serde(default)]
    pub encryption: Encryption,
    #[serde(default)]
    pub sm2_cipher_order: CipherOrder,
    #[serde(default)]
    pub sm4_mode: Sm4Mode,
    /// 32 hex digits; required with `sm4_mode = "cbc"`.
    #[serde(default)]
    pub sm4_iv: Option<String>,
    #[serde(default = "default_data_encoding")]
    pub data_encoding: TextEncoding,
    /// Write non-ASCII characters as `\uXXXX` in the encrypted JSON (as the platform's own
    /// client does); the signed string always carries them as UTF-8.
    #[serde(default = "yes")]
    pub escape_non_ascii: bool,
    /// Append `&key=<appSecret>` to the string to sign.
    #[serde(default = "yes")]
    pub sign_with_app_secret: bool,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub fields: FieldNames,
}

/// How `encData` is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// SM4 with the derived or configured key (`encType` "SM4").
    #[default]
    Sm4,
    /// SM2 to the other side's public key (`encType` "SM2").
    Sm2,
}

/// The JSON field names of the sealed body.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldNames {
    pub app_id: String,
    pub enc_type: String,
    pub sign_type: String,
    pub timestamp: String,
    pub version: String,
    pub data: String,
    pub enc_data: String,
    pub sign_data: String,
}

impl Default for FieldNames {
    fn default() -> Self {
        Self {
            app_id: "appId".into(),
            enc_type: "encType".into(),
            sign_type: "signType".into(),
            timestamp: "timestamp".into(),
            version: "version".into(),
            data: "data".into(),
            enc_data: "encData".into(),
            sign_data: "signData".into(),
        }
    }
}

fn default_user_id() -> String {
    DEFAULT_USER_ID.into()
}
fn default_signature_encoding() -> TextEncoding {
    TextEncoding::Base64
}
fn default_data_encoding() -> TextEncoding {
    TextEncoding::HexUpper
}
fn yes() -> bool {
    true
}
fn default_version() -> String {
    "1.0.0".into()
}

impl SmConfig {
    /// A config with every shape option at its default (for tests and the simulator).
    pub fn new(app_id: &str, app_secret: &str, private_key: &str, peer_public_key: &str) -> Self {
        Self {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            private_key: private_key.into(),
            platform_public_key: peer_public_key.into(),
            sm4_key: None,
            user_id: default_user_id(),
            signature_layout: SignatureLayout::default(),
            signature_encoding: default_signature_encoding(),
            encryption: Encryption::default(),
            sm2_cipher_order: CipherOrder::default(),
            sm4_mode: Sm4Mode::default(),
            sm4_iv: None,
            data_encoding: default_data_encoding(),
            escape_non_ascii: true,
            sign_with_app_secret: true,
            version: default_version(),
            fields: FieldNames::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmError {
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("国密配置错误 / sm profile config: {0}")]
    Config(String),
    #[error("{field} 编码错误 / {field} is badly encoded: {source}")]
    Text { field: String, source: TextError },
    #[error("应答格式错误 / malformed sm message: {0}")]
    Body(String),
    #[error("网关拒绝（无加密数据）/ gateway answered without encrypted data: {0}")]
    Rejected(String),
}

/// Seals and opens `sm` messages for one side of the wire.
pub struct SmCodec {
    app_id: String,
    app_secret: String,
    signer: Sm2Signer,
    peer: Sm2Verifier,
    sm4: Sm4Cipher,
    cfg: SmConfig,
}

impl std::fmt::Debug for SmCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmCodec")
            .field("app_id", &self.app_id)
            .field("peer", &self.peer)
            .field("encryption", &self.cfg.encryption)
            .finish_non_exhaustive()
    }
}

impl SmCodec {
    /// Loads keys and secrets named in the config.
    pub fn from_config(cfg: &SmConfig) -> Result<Self, SmError> {
        let own = load_private_key(&cfg.private_key)?;
        let peer = load_public_key(&cfg.platform_public_key)?;
        Self::new(cfg, &own, &peer)
    }

    /// With keys already loaded (the simulator passes the platform's private key as `own`).
    pub fn new(
        cfg: &SmConfig,
        own: &sm2::SecretKey,
        peer: &sm2::PublicKey,
    ) -> Result<Self, SmError> {
        let app_secret = cfg
            .app_secret
            .resolve_text()
            .map_err(|m| SmError::Config(format!("app_secret: {m}")))?;
        let key = match &cfg.sm4_key {
            Some(spec) => fixed_sm4_key(spec)?,
            None => derive_sm4_key(&cfg.app_id, &app_secret)?.to_vec(),
        };
        let iv = match (&cfg.sm4_mode, &cfg.sm4_iv) {
            (Sm4Mode::Cbc, None) => {
                return Err(SmError::Config(
                    "sm4_mode = \"cbc\" 需要 sm4_iv / sm4_mode = \"cbc\" needs sm4_iv".into(),
                ))
            }
            (_, Some(hex_iv)) => {
                Some(
                    TextEncoding::Hex
                        .decode(hex_iv)
                        .map_err(|source| SmError::Text {
                            field: "sm4_iv".into(),
                            source,
                        })?,
                )
            }
            _ => None,
        };
        Ok(Self {
            app_id: cfg.app_id.clone(),
            app_secret,
            signer: Sm2Signer::new(own, &cfg.user_id)?,
            peer: Sm2Verifier::new(peer, &cfg.user_id)?,
            sm4: Sm4Cipher::new(&key, cfg.sm4_mode, iv.as_deref())?,
            cfg: cfg.clone(),
        })
    }

    /// This side's public key (04‖x‖y), to hand to the other side.
    pub fn own_public_key(&self) -> Vec<u8> {
        self.signer.verifier().public_key_bytes()
    }

    /// The body field that carries the signature.
    pub fn sign_field(&self) -> &str {
        &self.cfg.fields.sign_data
    }

    fn sign_fields(&self) -> SignFields<'_> {
        SignFields {
            data: &self.cfg.fields.data,
            enc_data: &self.cfg.fields.enc_data,
            sign_data: &self.cfg.fields.sign_data,
        }
    }

    fn key_suffix(&self) -> Option<&str> {
        self.cfg
            .sign_with_app_secret
            .then_some(self.app_secret.as_str())
    }

    /// Seals `data` (the 医保 envelope) into a request or reply body. `extra` top-level
    /// fields (a reply's `code`/`message`) are signed along.
    pub fn seal(&self, data: &Value, extra: Map<String, Value>) -> Result<Vec<u8>, SmError> {
        let f = &self.cfg.fields;
        let mut msg = extra;
        msg.insert(f.app_id.clone(), Value::String(self.app_id.clone()));
        let enc_type = match self.cfg.encryption {
            Encryption::Sm4 => "SM4",
            Encryption::Sm2 => "SM2",
        };
        msg.insert(f.enc_type.clone(), enc_type.into());
        msg.insert(f.sign_type.clone(), "SM2".into());
        msg.insert(f.timestamp.clone(), (crate::time::epoch_ms() / 1000).into());
        msg.insert(f.version.clone(), Value::String(self.cfg.version.clone()));
        msg.insert(f.data.clone(), data.clone());
        let text = string_to_sign(&msg, self.sign_fields(), self.key_suffix());
        let signature = self
            .signer
            .sign(text.as_bytes(), self.cfg.signature_layout)?;
        msg.remove(&f.data);
        let plain = json_text(data, self.cfg.escape_non_ascii);
        let ct = match self.cfg.encryption {
            Encryption::Sm4 => self.sm4.encrypt(plain.as_bytes()),
            Encryption::Sm2 => self
                .peer
                .encrypt(plain.as_bytes(), self.cfg.sm2_cipher_order)?,
        };
        msg.insert(
            f.enc_data.clone(),
            self.cfg.data_encoding.encode(&ct).into(),
        );
        msg.insert(
            f.sign_data.clone(),
            self.cfg.signature_encoding.encode(&signature).into(),
        );
        serde_json::to_vec(&Value::Object(msg)).map_err(|e| SmError::Body(e.to_string()))
    }

    /// Opens a sealed body: decrypts `encData`, verifies `signData` over the message with the
    /// plaintext put back, and returns the plaintext `data` and the other top-level fields.
    pub fn open(&self, body: &[u8]) -> Result<(Value, Map<String, Value>), SmError> {
        let f = &self.cfg.fields;
        let mut msg = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(SmError::Body("不是 JSON 对象 / not a JSON object".into())),
            Err(_) => {
                return Err(SmError::Body(format!(
                    "不是 JSON / not JSON: {}",
                    excerpt(body)
                )))
            }
        };
        let enc = match msg.remove(&f.enc_data) {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::String(_)) | Some(Value::Null) | None => {
                return Err(SmError::Rejected(describe(&msg)))
            }
            Some(_) => {
                return Err(SmError::Body(format!(
                    "{} 不是字符串 / is not a string",
                    f.enc_data
                )))
            }
        };
        let sig = match msg.remove(&f.sign_data) {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => {
                return Err(SmError::Body(format!(
                    "缺少签名 {} / the signature {} is missing",
                    f.sign_data, f.sign_data
                )))
            }
        };
        let ct = self
            .cfg
            .data_encoding
            .decode(&enc)
            .map_err(|source| SmError::Text {
                field: f.enc_data.clone(),
                source,
            })?;
        let enc_type = msg.get(&f.enc_type).and_then(Value::as_str).unwrap_or("");
        let plain = if enc_type.eq_ignore_ascii_case("SM2")
            || (enc_type.is_empty() && self.cfg.encryption == Encryption::Sm2)
        {
            self.signer.decrypt(&ct, self.cfg.sm2_cipher_order)?
        } else {
            self.sm4.decrypt(&ct)?
        };
        let data: Value = serde_json::from_slice(&plain).map_err(|_| {
            SmError::Body(
                "解密后的数据不是 JSON（密钥不对？）/ decrypted data is not JSON (wrong key?)"
                    .into(),
            )
        })?;
        let signature =
            self.cfg
                .signature_encoding
                .decode(&sig)
                .map_err(|source| SmError::Text {
                    field: f.sign_data.clone(),
                    source,
                })?;
        msg.insert(f.data.clone(), data);
        let text = string_to_sign(&msg, self.sign_fields(), self.key_suffix());
        self.peer
            .verify(text.as_bytes(), &signature, self.cfg.signature_layout)?;
        let data = msg.remove(&f.data).unwrap_or(Value::Null);
        Ok((data, msg))
    }
}

#[cfg(test)]
impl SmCodec {
    pub(crate) fn peer_for_tests(&self) -> &Sm2Verifier {
        &self.peer
    }
    pub(crate) fn signer_for_tests(&self) -> &Sm2Signer {
        &self.signer
    }
}

fn fixed_sm4_key(spec: &Secret) -> Result<Vec<u8>, SmError> {
    let text = spec
        .resolve_text()
        .map_err(|m| SmError::Config(format!("sm4_key: {m}")))?;
    match text.len() {
        32 => TextEncoding::Hex.decode(&text).map_err(|source| SmError::Text {
            field: "sm4_key".into(),
            source,
        }),
        16 => Ok(text.into_bytes()),
        n => Err(SmError::Config(format!(
            "sm4_key 应为 32 位十六进制或 16 个字符，实际 {n} / sm4_key must be 32 hex digits or 16 characters, got {n}"
        ))),
    }
}

/// Compact JSON, optionally with every non-ASCII character as `\uXXXX` (UTF-16 units).
pub fn json_text(v: &Value, escape_non_ascii: bool) -> String {
    let s = v.to_string();
    if !escape_non_ascii || s.is_ascii() {
        return s;
    }
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// A gateway's error fields for the message (never the body's secrets: it has none).
fn describe(msg: &Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for k in ["code", "message", "msg", "errMsg", "err_msg", "success"] {
        if let Some(v) = msg.get(k) {
            parts.push(format!(
                "{k}={}",
                v.to_string().chars().take(200).collect::<String>()
            ));
        }
    }
    if parts.is_empty() {
        parts.push(excerpt(&serde_json::to_vec(msg).unwrap_or_default()));
    }
    parts.join(", ")
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(120).collect()
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
