//! The 国密 primitives the `sm` profile needs, as thin wrappers over RustCrypto `sm2`, `sm3`
//! and `sm4`. Why wrap at all: every entry point here takes bytes that came from the network
//! or a config file, so each one returns a [`CryptoError`] instead of panicking, and the
//! choices the platforms disagree on (signature layout, ciphertext order, block mode) are
//! named enums rather than booleans scattered through the profile.

use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use serde::{Deserialize, Serialize};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm3::Digest;

/// Why a 国密 operation failed. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("SM2 签名失败 / SM2 signing failed")]
    Sign,
    #[error("SM2 验签失败：签名与报文不符 / SM2 signature does not verify")]
    BadSignature,
    #[error("签名格式错误 / malformed signature: {0}")]
    SignatureFormat(&'static str),
    #[error("SM2 加密失败 / SM2 encryption failed")]
    Sm2Encrypt,
    #[error("SM2 解密失败（密文被篡改、过短或私钥不对）/ SM2 decryption failed (tampered or short ciphertext, or wrong key)")]
    Sm2Decrypt,
    #[error("SM4 密钥必须是 16 字节，实际 {0} 字节 / an SM4 key must be 16 bytes, got {0}")]
    Sm4KeyLength(usize),
    #[error("SM4 IV 必须是 16 字节，实际 {0} 字节 / an SM4 IV must be 16 bytes, got {0}")]
    Sm4IvLength(usize),
    #[error("SM4 解密失败：密文长度不是 16 的倍数或填充错误（密钥不对？）/ SM4 decryption failed: length not a multiple of 16 or bad padding (wrong key?)")]
    Sm4Decrypt,
    #[error("{0}")]
    Key(String),
}

/// The user ID (distinguishing identifier) almost every platform uses in Z_A.
pub const DEFAULT_USER_ID: &str = "1234567812345678";

/// SM3 digest of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    sm3::Sm3::digest(data).into()
}

/// How an SM2 signature is laid out in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureLayout {
    /// r‖s, 32 bytes each (most 医保 samples).
    #[default]
    Raw,
    /// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }` (BouncyCastle's default).
    Der,
}

/// SM2 ciphertext component order. GM/T 0003-2012 says C1C3C2; older libraries emit C1C2C3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CipherOrder {
    #[default]
    C1C3C2,
    C1C2C3,
}

impl CipherOrder {
    fn mode(self) -> Mode {
        match self {
            CipherOrder::C1C3C2 => Mode::C1C3C2,
            CipherOrder::C1C2C3 => Mode::C1C2C3,
        }
    }
}

/// Signs with an institution's (or, in the simulator, the platform's) SM2 private key.
#[derive(Clone)]
pub struct Sm2Signer {
    key: sm2::dsa::SigningKey,
    decrypt: DecryptingKey,
}

impl std::fmt::Debug for Sm2Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sm2Signer(<private key redacted>)")
    }
}

impl Sm2Signer {
    pub fn new(secret: &sm2::SecretKey, user_id: &str) -> Result<Self, CryptoError> {
        let key = sm2::dsa::SigningKey::new(user_id, secret)
            .map_err(|_| CryptoError::Key("SM2 私钥无效 / invalid SM2 private key".into()))?;
        Ok(Self {
            key,
            decrypt: DecryptingKey::new(secret.clone()),
        })
    }

    /// SM2 signature over SM3(Z_A ‖ msg), in the requested layout. Deterministic (RFC 6979
    /// nonces), so a signature never depends on the quality of the machine's RNG.
    pub fn sign(&self, msg: &[u8], layout: SignatureLayout) -> Result<Vec<u8>, CryptoError> {
        let sig: sm2::dsa::Signature = self.key.try_sign(msg).map_err(|_| CryptoError::Sign)?;
        Ok(match layout {
            SignatureLayout::Raw => sig.to_bytes().to_vec(),
            SignatureLayout::Der => sig.to_der().as_bytes().to_vec(),
        })
    }

    /// The matching public key, for `keys check` and for handing to the platform.
    pub fn verifier(&self) -> Sm2Verifier {
        Sm2Verifier {
            key: self.key.verifying_key().clone(),
            public: sm2::PublicKey::from(self.key.verifying_key()),
        }
    }

    /// Decrypts an SM2 ciphertext addressed to this key. Accepts C1 with or without the
    /// 0x04 prefix (JavaScript sm-crypto leaves it out); C3 decides which reading is right.
    pub fn decrypt(&self, ct: &[u8], order: CipherOrder) -> Result<Vec<u8>, CryptoError> {
        let key = DecryptingKey::new_with_mode(*self.decrypt.as_nonzero_scalar(), order.mode());
        // A C1 point, C3 and at least one byte of C2: anything shorter is not a ciphertext.
        if ct.len() < 64 + 32 + 1 {
            return Err(CryptoError::Sm2Decrypt);
        }
        if ct[0] == 0x04 && ct.len() > 65 + 32 {
            if let Ok(m) = key.decrypt(ct) {
                return Ok(m);
            }
        }
        let mut prefixed = Vec::with_capacity(ct.len() + 1);
        prefixed.push(0x04);
        prefixed.extend_from_slice(ct);
        key.decrypt(&prefixed).map_err(|_| CryptoError::Sm2Decrypt)
    }
}

/// Verifies signatures of, and encrypts to, the other side's SM2 public key.
#[derive(Clone)]
pub struct Sm2Verifier {
    key: sm2::dsa::VerifyingKey,
    public: sm2::PublicKey,
}

impl std::fmt::Debug for Sm2Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm2Verifier({})", hex::encode(self.public_key_bytes()))
    }
}

impl Sm2Verifier {
    pub fn new(public: &sm2::PublicKey, user_id: &str) -> Result<Self, CryptoError> {
        let key = sm2::dsa::VerifyingKey::new(user_id, *public)
            .map_err(|_| CryptoError::Key("SM2 公钥无效 / invalid SM2 public key".into()))?;
        Ok(Self {
            key,
            public: *public,
        })
    }

    /// The uncompressed point 04‖x‖y.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.key.to_sec1_bytes().to_vec()
    }

    /// Checks a signature in the given layout.
    pub fn verify(
        &self,
        msg: &[u8],
        sig: &[u8],
        layout: SignatureLayout,
    ) -> Result<(), CryptoError> {
        let sig = match layout {
            SignatureLayout::Raw => {
                if sig.len() != 64 {
                    return Err(CryptoError::SignatureFormat(
                        "r‖s 签名必须是 64 字节 / an r‖s signature must be 64 bytes",
                    ));
                }
                sm2::dsa::Signature::from_slice(sig)
            }
            SignatureLayout::Der => sm2::dsa::Signature::from_der(sig),
        }
        .map_err(|_| CryptoError::SignatureFormat("r 或 s 越界 / r or s out of range"))?;
        self.key
            .verify(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// SM2 public-key encryption, C1 with its 0x04 prefix (GM/T 0009).
    pub fn encrypt(&self, msg: &[u8], order: CipherOrder) -> Result<Vec<u8>, CryptoError> {
        let key = EncryptingKey::new_with_mode(self.public, order.mode());
        key.encrypt(&mut getrandom::SysRng, msg)
            .map_err(|_| CryptoError::Sm2Encrypt)
    }
}

/// SM4 block mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sm4Mode {
    #[default]
    Ecb,
    Cbc,
}

/// An SM4 key plus mode (and IV for CBC); PKCS#7 padding, as every platform sample uses.
#[derive(Clone)]
pub struct Sm4Cipher {
    key: [u8; 16],
    mode: Sm4Mode,
    iv: [u8; 16],
}

impl std::fmt::Debug for Sm4Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sm4Cipher({:?}, <key redacted>)", self.mode)
    }
}

impl Sm4Cipher {
    pub fn new(key: &[u8], mode: Sm4Mode, iv: Option<&[u8]>) -> Result<Self, CryptoError> {
        let key: [u8; 16] = key
            .try_into()
            .map_err(|_| CryptoError::Sm4KeyLength(key.len()))?;
        let iv: [u8; 16] = match iv {
            Some(iv) => iv
                .try_into()
                .map_err(|_| CryptoError::Sm4IvLength(iv.len()))?,
            None => [0; 16],
        };
        Ok(Self { key, mode, iv })
    }

    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        match self.mode {
            Sm4Mode::Ecb => {
                ecb::Encryptor::<sm4::Sm4>::new(&self.key.into()).encrypt_padded_vec::<Pkcs7>(plain)
            }
            Sm4Mode::Cbc => cbc::Encryptor::<sm4::Sm4>::new(&self.key.into(), &self.iv.into())
                .encrypt_padded_vec::<Pkcs7>(plain),
        }
    }

    pub fn decrypt(&self, ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ct.is_empty() || !ct.len().is_multiple_of(16) {
            return Err(CryptoError::Sm4Decrypt);
        }
        match self.mode {
            Sm4Mode::Ecb => {
                ecb::Decryptor::<sm4::Sm4>::new(&self.key.into()).decrypt_padded_vec::<Pkcs7>(ct)
            }
            Sm4Mode::Cbc => cbc::Decryptor::<sm4::Sm4>::new(&self.key.into(), &self.iv.into())
                .decrypt_padded_vec::<Pkcs7>(ct),
        }
        .map_err(|_| CryptoError::Sm4Decrypt)
    }
}

/// The SM4 key most vendor gateways derive from appId and appSecret (design.md §9): the
/// first 16 characters of the UPPERCASE hex of SM4-ECB-PKCS7(key = first 16 bytes of appId,
/// plaintext = appSecret), used as ASCII bytes.
pub fn derive_sm4_key(app_id: &str, app_secret: &str) -> Result<[u8; 16], CryptoError> {
    let id = app_id.as_bytes();
    if id.len() < 16 {
        return Err(CryptoError::Key(format!(
            "appId 至少需要 16 个字节才能派生 SM4 密钥（实际 {}）；请配置 sm4_key / appId must have at least 16 bytes to derive the SM4 key (has {}); configure sm4_key instead",
            id.len(),
            id.len()
        )));
    }
    let ct = Sm4Cipher::new(&id[..16], Sm4Mode::Ecb, None)?.encrypt(app_secret.as_bytes());
    let hex = hex::encode_upper(ct);
    let mut key = [0u8; 16];
    key.copy_from_slice(&hex.as_bytes()[..16]);
    Ok(key)
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
