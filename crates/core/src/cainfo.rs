//! `cainfo`: the encrypted card / 电子凭证 password or certificate information that some
//! settlement interfaces (2207 门诊结算, 2304 住院结算, 2102 药店结算 by default) carry in the
//! request envelope — not in `input`, where the HIS can reach it.
//!
//! The HIS passes the value as a top-level key `cainfo` of the request's input JSON, next to
//! `data` (`{"data": {…}, "cainfo": "123456"}`), so a pipe call and a row inserted by SQL
//! pass it alike. For the configured interfaces [`Cainfo::take`] removes the key from
//! `input` and returns the value for the envelope, encrypted as `[platform.cainfo]` says;
//! [`crate::Platform::exchange`] calls it for every attempt, so each attempt's envelope is
//! built from the stored input the same way (an SM2 ciphertext is fresh each time). Other
//! interfaces keep the key in `input` untouched.
//!
//! Modes (`mode`):
//! * `as_given`: the value is sent as the HIS wrote it (the HIS encrypted it itself);
//! * `sm4`: SM4-ECB with PKCS#7 padding under the site's 16-byte key — the block mode every
//!   platform sample uses for short fields; ECB is deterministic, so the same password
//!   gives the same ciphertext, which is what those platforms compare;
//! * `sm2`: SM2 public-key encryption to the platform's key, GM/T 0003-2012 order C1C3C2
//!   with C1's 04 prefix (what [`crate::sm::crypto::Sm2Verifier::encrypt`] writes).
//!
//! The ciphertext travels as text in `encoding` (base64 by default, or hex).
//!
//! Never logged: neither the plaintext nor the ciphertext is written to a log, an error or a
//! status text by this module; [`crate::privacy::mask_pii`] masks a `cainfo` value wherever
//! one would be quoted. The simulator's side, decryption, is [`CainfoOpener`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::platform::Outcome;
use crate::secret::Secret;
use crate::sm::crypto::{CipherOrder, Sm2Signer, Sm2Verifier, Sm4Cipher, Sm4Mode};
use crate::sm::keys;
use crate::sm::text::{decode_hex_or_base64, TextEncoding};

/// The key of the input (and of the envelope) that carries the value.
pub const KEY: &str = "cainfo";

/// The interfaces whose `cainfo` is taken from the input unless `interfaces` says otherwise.
pub const DEFAULT_INTERFACES: [&str; 3] = ["2207", "2304", "2102"];

/// How the value the HIS passes becomes the envelope's `cainfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CainfoMode {
    /// Sent as written (already encrypted by the HIS).
    AsGiven,
    /// SM4-ECB-PKCS7 under the site's key.
    Sm4,
    /// SM2 (C1C3C2) to the platform's public key.
    Sm2,
}

impl CainfoMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CainfoMode::AsGiven => "as_given",
            CainfoMode::Sm4 => "sm4",
            CainfoMode::Sm2 => "sm2",
        }
    }
}

impl std::str::FromStr for CainfoMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [CainfoMode::AsGiven, CainfoMode::Sm4, CainfoMode::Sm2]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("cainfo 加密方式应为 as_given、sm4 或 sm2 / mode must be as_given, sm4 or sm2, not {s:?}"))
    }
}

/// `[platform.cainfo]` as written (docs/config.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CainfoConfig {
    pub mode: CainfoMode,
    /// `sm4`: the 16-byte key as 32 hex digits; `sm2`: the platform's SM2 public key (PEM,
    /// DER, hex or base64). `env:NAME`, `file:PATH` or the value; unused by `as_given`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// The ciphertext as text: `base64` (default), `hex` or `hex_upper`.
    #[serde(default = "default_encoding")]
    pub encoding: TextEncoding,
    /// The interface codes whose input's `cainfo` goes into the envelope.
    #[serde(default = "default_interfaces")]
    pub interfaces: Vec<String>,
}

fn default_encoding() -> TextEncoding {
    TextEncoding::Base64
}

fn default_interfaces() -> Vec<String> {
    DEFAULT_INTERFACES.iter().map(|c| c.to_string()).collect()
}

impl CainfoConfig {
    /// `mode` with `key`; base64, the default interfaces.
    pub fn new(mode: CainfoMode, key: Option<Secret>) -> Self {
        Self {
            mode,
            key,
            encoding: default_encoding(),
            interfaces: default_interfaces(),
        }
    }

    /// What can be checked without reading a variable or a file (config parse time): a key
    /// for the modes that encrypt, interface codes that can exist.
    pub fn check(&self) -> Result<(), CainfoError> {
        if self.mode != CainfoMode::AsGiven && self.key.as_ref().is_none_or(Secret::is_blank) {
            return Err(missing_key(self.mode));
        }
        if let Some(bad) = self
            .interfaces
            .iter()
            .find(|c| !crate::Catalog::is_well_formed(c))
        {
            return Err(CainfoError::Interfaces(format!(
                "交易编号格式错误 {bad:?}（应为如 2207 的字母数字）/ malformed interface code {bad:?}"
            )));
        }
        Ok(())
    }
}

fn missing_key(mode: CainfoMode) -> CainfoError {
    let mode = mode.as_str();
    CainfoError::Key(format!(
        "mode = \"{mode}\" 需要 key（env:变量名、file:路径或值）/ mode \"{mode}\" needs a key (env:NAME, file:PATH or the value)"
    ))
}

/// Why a `cainfo` could not be configured, sent or read. Messages never contain the value,
/// its ciphertext or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CainfoError {
    /// `platform.cainfo.key` is missing or unusable; the text says what is expected.
    #[error("{0}")]
    Key(String),
    /// `platform.cainfo.interfaces` names an impossible code.
    #[error("{0}")]
    Interfaces(String),
    /// The HIS passed something other than a string.
    #[error("input.cainfo 须为字符串，如 {{\"data\":{{…}},\"cainfo\":\"…\"}}，未发送 / input.cainfo must be a string, not sent")]
    NotText,
    #[error("cainfo 加密失败 / cainfo could not be encrypted: {0}")]
    Encrypt(String),
    /// The simulator's side: the text is not a ciphertext under its key.
    #[error("cainfo 解密失败 / cainfo could not be decrypted: {0}")]
    Decrypt(String),
}

impl CainfoError {
    /// The config key a configuration error is about.
    pub fn config_key(&self) -> &'static str {
        match self {
            CainfoError::Interfaces(_) => "platform.cainfo.interfaces",
            _ => "platform.cainfo.key",
        }
    }
}

/// How the value is sealed.
#[derive(Clone)]
enum Seal {
    AsGiven,
    Sm4(Sm4Cipher),
    Sm2(Sm2Verifier),
}

/// `[platform.cainfo]` ready to use: the key resolved and parsed (once per start).
#[derive(Clone)]
pub struct Cainfo {
    seal: Seal,
    encoding: TextEncoding,
    interfaces: Vec<String>,
}

impl std::fmt::Debug for Cainfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.seal {
            Seal::AsGiven => "as_given",
            Seal::Sm4(_) => "sm4",
            Seal::Sm2(_) => "sm2",
        };
        write!(f, "Cainfo({mode}, {:?}, <key redacted>)", self.interfaces)
    }
}

impl Cainfo {
    /// Resolves and parses the key; errors say what `platform.cainfo.key` must be.
    pub fn from_config(c: &CainfoConfig) -> Result<Self, CainfoError> {
        c.check()?;
        let seal = match (c.mode, &c.key) {
            (CainfoMode::AsGiven, _) => Seal::AsGiven,
            (CainfoMode::Sm4, Some(key)) => Seal::Sm4(sm4_key(key)?),
            (CainfoMode::Sm2, Some(key)) => Seal::Sm2(sm2_public_key(key)?),
            (mode, None) => return Err(missing_key(mode)),
        };
        Ok(Self {
            seal,
            encoding: c.encoding,
            interfaces: c.interfaces.clone(),
        })
    }

    /// Whether `infno`'s input carries the envelope's `cainfo`.
    pub fn applies(&self, infno: &str) -> bool {
        self.interfaces.iter().any(|c| c == infno)
    }

    /// The check before sending: a configured interface's `cainfo`, when present, is text.
    pub fn check_input(&self, infno: &str, input: &Value) -> Result<(), CainfoError> {
        match input.get(KEY) {
            Some(v) if self.applies(infno) => given(v).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// For a configured interface, removes `cainfo` from `input` and returns the envelope's
    /// value (sealed); `None` when the HIS passed none (or a blank one), and for every other
    /// interface, whose input is left as it is.
    pub fn take(&self, infno: &str, input: &mut Value) -> Result<Option<String>, CainfoError> {
        if !self.applies(infno) {
            return Ok(None);
        }
        let Some(value) = input.as_object_mut().and_then(|o| o.remove(KEY)) else {
            return Ok(None);
        };
        match given(&value)? {
            None => Ok(None),
            Some(plain) => self.seal(plain).map(Some),
        }
    }

    fn seal(&self, plain: &str) -> Result<String, CainfoError> {
        let ct = match &self.seal {
            Seal::AsGiven => return Ok(plain.to_string()),
            Seal::Sm4(cipher) => cipher.encrypt(plain.as_bytes()),
            Seal::Sm2(public) => public
                .encrypt(plain.as_bytes(), CipherOrder::C1C3C2)
                .map_err(|e| CainfoError::Encrypt(e.to_string()))?,
        };
        Ok(self.encoding.encode(&ct))
    }
}

/// The HIS's value: text (blank counts as none), or an error for anything else.
fn given(v: &Value) -> Result<Option<&str>, CainfoError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(CainfoError::NotText),
    }
}

const SM4_EXPECTED: &str = "须为 32 位十六进制数字写成的 16 字节 SM4 密钥 / must be a 16-byte SM4 key written as 32 hex digits";

/// The sm4 key: exactly 32 hex digits. Errors say the length found, never a character.
fn sm4_key(key: &Secret) -> Result<Sm4Cipher, CainfoError> {
    let text = key.resolve_text().map_err(CainfoError::Key)?;
    let bytes = (text.len() == 32)
        .then(|| hex::decode(&text).ok())
        .flatten()
        .ok_or_else(|| {
            let n = text.chars().count();
            CainfoError::Key(format!("{SM4_EXPECTED} (got {n} characters)"))
        })?;
    Sm4Cipher::new(&bytes, Sm4Mode::Ecb, None).map_err(|e| CainfoError::Key(e.to_string()))
}

/// The sm2 key: the platform's public key in any form [`keys`] reads.
fn sm2_public_key(key: &Secret) -> Result<Sm2Verifier, CainfoError> {
    let bytes = key.resolve_bytes().map_err(CainfoError::Key)?;
    let public = keys::parse_public_key(&bytes).map_err(|e| {
        CainfoError::Key(format!(
            "须为平台的 SM2 公钥 / must be the platform's SM2 public key: {e}"
        ))
    })?;
    Sm2Verifier::new(&public, crate::sm::crypto::DEFAULT_USER_ID)
        .map_err(|e| CainfoError::Key(e.to_string()))
}

/// Words of a platform's refusal that may be about the `cainfo` (its decryption, the
/// password or certificate it carries).
const REFUSAL_MARKERS: [&str; 4] = ["cainfo", "解密", "密码", "证书"];

/// What the broker adds to the refusal of a request that carried a `cainfo`, when the
/// platform's message may be about it: the platform cannot name our configuration, and the
/// operator reading `err_msg` needs to know where to look.
pub(crate) fn explain_refusal(outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Refused(mut reply) => {
            if let Some(msg) = reply.envelope.err_msg.as_mut() {
                let lower = msg.to_lowercase();
                if REFUSAL_MARKERS.iter().any(|m| lower.contains(m)) {
                    msg.push_str(HINT);
                }
            }
            Outcome::Refused(reply)
        }
        other => other,
    }
}

/// The hint [`explain_refusal`] appends.
pub const HINT: &str = "（若 HIS 传入的 cainfo 本身无误，请核对本机构配置 [platform.cainfo] 的 mode 与 key 是否与平台一致 / if the value the HIS passed is right, check that platform.cainfo's mode and key match the platform's）";

/// The platform's side, for the simulator and tests: reads a `cainfo` back.
pub struct CainfoOpener {
    open: Open,
}

enum Open {
    AsGiven,
    Sm4(Sm4Cipher),
    Sm2(Box<Sm2Signer>),
}

impl std::fmt::Debug for CainfoOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CainfoOpener(<key redacted>)")
    }
}

impl CainfoOpener {
    /// `sm4`: the same key as the broker's; `sm2`: the platform's private key; `as_given`:
    /// no key.
    pub fn new(mode: CainfoMode, key: Option<&Secret>) -> Result<Self, CainfoError> {
        let need = || missing_key(mode);
        let open = match mode {
            CainfoMode::AsGiven => Open::AsGiven,
            CainfoMode::Sm4 => Open::Sm4(sm4_key(key.ok_or_else(need)?)?),
            CainfoMode::Sm2 => {
                let secret = keys::load_private_key(key.ok_or_else(need)?)
                    .map_err(|e| CainfoError::Key(e.to_string()))?;
                let signer = Sm2Signer::new(&secret, crate::sm::crypto::DEFAULT_USER_ID)
                    .map_err(|e| CainfoError::Key(e.to_string()))?;
                Open::Sm2(Box::new(signer))
            }
        };
        Ok(Self { open })
    }

    /// The plaintext of an envelope's `cainfo` (hex or base64 text, told apart by
    /// [`decode_hex_or_base64`]); it must be UTF-8.
    pub fn open(&self, text: &str) -> Result<String, CainfoError> {
        let fail = |m: String| CainfoError::Decrypt(m);
        let decode = || decode_hex_or_base64(text).map_err(|e| fail(e.to_string()));
        let plain = match &self.open {
            Open::AsGiven => return Ok(text.to_string()),
            Open::Sm4(cipher) => cipher.decrypt(&decode()?),
            Open::Sm2(signer) => signer.decrypt(&decode()?, CipherOrder::C1C3C2),
        }
        .map_err(|e| fail(e.to_string()))?;
        String::from_utf8(plain).map_err(|_| fail("不是 UTF-8 文本 / not UTF-8 text".into()))
    }
}

#[cfg(test)]
#[path = "cainfo_tests.rs"]
mod tests;
