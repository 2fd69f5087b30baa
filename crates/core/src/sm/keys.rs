//! Loading SM2 keys in the forms platforms and tools hand them out, with errors an operator
//! can act on: PEM (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, SPKI `PUBLIC KEY` — what
//! `openssl genpkey -algorithm SM2` and `yibao-broker keys generate` write), DER of the
//! same, and bare hex or base64 (32-byte private scalar, optionally with a leading 00 as
//! Java's BigInteger prints it; 65-byte 04‖x‖y or 64-byte x‖y public point).

use sm2::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sm2::{PublicKey, SecretKey};

use super::text::decode_hex_or_base64;
use crate::secret::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    // `what` is already 中文 / English: each part is said once.
    #[error("{what}: {source_msg}")]
    Source {
        what: &'static str,
        source_msg: String,
    },
    #[error("{what}: 格式无法识别，需要 PEM、DER、十六进制或 base64（文件请写 file:路径）/ not a PEM, DER, hex or base64 SM2 key (write file:PATH for a file) — {detail}")]
    Format { what: &'static str, detail: String },
}

const PRIVATE: &str = "SM2 私钥 / SM2 private key";
const PUBLIC: &str = "SM2 公钥 / SM2 public key";

/// Reads a private key from a config spec (`file:`, `env:` or inline).
pub fn load_private_key(spec: &Secret) -> Result<SecretKey, KeyError> {
    let bytes = spec.resolve_bytes().map_err(|m| KeyError::Source {
        what: PRIVATE,
        source_msg: m,
    })?;
    parse_private_key(&bytes)
}

/// Reads a public key from a config spec (`file:`, `env:` or inline).
pub fn load_public_key(spec: &str) -> Result<PublicKey, KeyError> {
    let bytes = crate::secret::resolve_bytes(spec).map_err(|m| KeyError::Source {
        what: PUBLIC,
        source_msg: m,
    })?;
    parse_public_key(&bytes)
}

fn format_err(what: &'static str, detail: impl Into<String>) -> KeyError {
    KeyError::Format {
        what,
        detail: detail.into(),
    }
}

/// Parses a private key from PEM, DER, hex or base64 bytes.
pub fn parse_private_key(bytes: &[u8]) -> Result<SecretKey, KeyError> {
    if let Some(pem) = as_pem(bytes) {
        return if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
            SecretKey::from_sec1_pem(pem).map_err(|e| format_err(PRIVATE, e.to_string()))
        } else if pem.contains("-----BEGIN PRIVATE KEY-----") {
            SecretKey::from_pkcs8_pem(pem).map_err(|e| format_err(PRIVATE, e.to_string()))
        } else {
            Err(format_err(
                PRIVATE,
                "PEM 标签应为 PRIVATE KEY 或 EC PRIVATE KEY / the PEM label must be PRIVATE KEY or EC PRIVATE KEY",
            ))
        };
    }
    if as_text(bytes).is_none() && bytes.first() == Some(&0x30) {
        return SecretKey::from_pkcs8_der(bytes)
            .or_else(|_| SecretKey::from_sec1_der(bytes))
            .map_err(|e| format_err(PRIVATE, format!("DER: {e}")));
    }
    let raw = match as_text(bytes) {
        Some(text) => decode_hex_or_base64(text).map_err(|e| format_err(PRIVATE, e.to_string()))?,
        None => bytes.to_vec(),
    };
    let scalar = match raw.len() {
        32 => &raw[..],
        33 if raw[0] == 0 => &raw[1..],
        n => {
            return Err(format_err(
                PRIVATE,
                format!("私钥应为 32 字节，实际 {n} 字节 / a private key is 32 bytes, got {n}"),
            ))
        }
    };
    SecretKey::from_slice(scalar).map_err(|_| {
        format_err(
            PRIVATE,
            "数值为 0 或超出曲线阶 / zero or not below the curve order",
        )
    })
}

/// Parses a public key from PEM, DER, hex or base64 bytes; the point must lie on the curve.
pub fn parse_public_key(bytes: &[u8]) -> Result<PublicKey, KeyError> {
    if let Some(pem) = as_pem(bytes) {
        return PublicKey::from_public_key_pem(pem).map_err(|e| format_err(PUBLIC, e.to_string()));
    }
    if as_text(bytes).is_none() && bytes.first() == Some(&0x30) {
        return PublicKey::from_public_key_der(bytes)
            .map_err(|e| format_err(PUBLIC, format!("DER: {e}")));
    }
    let raw = match as_text(bytes) {
        Some(text) => decode_hex_or_base64(text).map_err(|e| format_err(PUBLIC, e.to_string()))?,
        None => bytes.to_vec(),
    };
    let point = match raw.len() {
        64 => [&[0x04][..], &raw[..]].concat(),
        33 | 65 => raw,
        n => {
            return Err(format_err(
                PUBLIC,
                format!("公钥应为 65 字节（04‖x‖y）或 64 字节，实际 {n} 字节 / a public key is 65 bytes (04‖x‖y) or 64, got {n}"),
            ))
        }
    };
    PublicKey::from_sec1_bytes(&point).map_err(|_| {
        format_err(
            PUBLIC,
            "点不在 SM2 曲线上 / the point is not on the SM2 curve",
        )
    })
}

/// Printable ASCII (hex or base64 text) rather than raw binary key bytes.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

fn as_pem(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.contains("-----BEGIN ").then_some(text.trim())
}

/// A new random key pair (system randomness), for tests and `keys generate`.
pub fn generate() -> Result<(SecretKey, PublicKey), KeyError> {
    let mut seed = [0u8; 32];
    loop {
        getrandom::fill(&mut seed).map_err(|e| KeyError::Source {
            what: PRIVATE,
            source_msg: format!("系统随机数不可用 / no system randomness: {e}"),
        })?;
        // Rejection sampling: fewer than 1 in 2^32 seeds are not a valid scalar.
        if let Ok(secret) = SecretKey::from_slice(&seed) {
            seed.fill(0);
            let public = secret.public_key();
            return Ok((secret, public));
        }
    }
}

/// A new key pair as (PKCS#8 private PEM, SPKI public PEM).
pub fn generate_pem() -> Result<(String, String), KeyError> {
    to_pem(&generate()?.0)
}

/// PEM texts of a key pair.
pub fn to_pem(secret: &SecretKey) -> Result<(String, String), KeyError> {
    let private = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format_err(PRIVATE, e.to_string()))?
        .to_string();
    let public = secret
        .public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format_err(PUBLIC, e.to_string()))?;
    Ok((private, public))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_the_same_key_loads_to_the_same_key() {
        let (private_pem, public_pem) = generate_pem().unwrap();
        let secret = parse_private_key(private_pem.as_bytes()).unwrap();
        let public = parse_public_key(public_pem.as_bytes()).unwrap();
        assert_eq!(secret.public_key(), public);

        let scalar = secret.to_bytes().to_vec();
        let hex_form = hex::encode(&scalar);
        let java_form = format!("00{hex_form}");
        let b64 = super::super::text::TextEncoding::Base64.encode(&scalar);
        for form in [hex_form.as_str(), java_form.as_str(), b64.as_str()] {
            assert_eq!(
                parse_private_key(form.as_bytes()).unwrap(),
                secret,
                "{form}"
            );
        }
        let sec1 = secret.to_sec1_pem(LineEnding::CRLF).unwrap();
        assert_eq!(parse_private_key(sec1.as_bytes()).unwrap(), secret);
        let der = secret.to_pkcs8_der().unwrap();
        assert_eq!(parse_private_key(der.as_bytes()).unwrap(), secret);

        let point = public.to_sec1_bytes().to_vec();
        assert_eq!(point.len(), 65);
        for form in [
            hex::encode(&point),
            hex::encode_upper(&point[1..]),
            super::super::text::TextEncoding::Base64.encode(&point),
        ] {
            assert_eq!(parse_public_key(form.as_bytes()).unwrap(), public, "{form}");
        }
        let der = public.to_public_key_der().unwrap();
        assert_eq!(parse_public_key(der.as_bytes()).unwrap(), public);
    }

    #[test]
    fn bad_keys_explain_themselves() {
        let e = parse_private_key(b"00112233").unwrap_err().to_string();
        assert!(e.contains("32"), "{e}");
        let e = parse_private_key(&[0u8; 32]).unwrap_err().to_string();
        assert!(e.contains("order"), "{e}");
        let e = parse_private_key(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----")
            .unwrap_err()
            .to_string();
        assert!(e.contains("PEM"), "{e}");
        let mut off_curve = vec![0x04];
        off_curve.extend([1u8; 64]);
        let e = parse_public_key(hex::encode(&off_curve).as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("curve"), "{e}");
        let e = load_private_key(&"file:/nonexistent/yibao.key".into())
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/yibao.key"), "{e}");
        let e = load_public_key("keys/platform.pub")
            .unwrap_err()
            .to_string();
        assert!(e.contains("file:"), "{e}");
    }
}
