//! Binary ↔ text for signatures and ciphertexts. Platforms disagree (base64 for signatures,
//! UPPERCASE hex for SM4 payloads in most samples), so the choice is configuration.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// How bytes travel as a JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextEncoding {
    /// Standard base64 with padding.
    Base64,
    /// Lowercase hex.
    Hex,
    /// UPPERCASE hex.
    HexUpper,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("不是有效的十六进制 / not valid hex")]
    Hex,
    #[error("不是有效的 base64 / not valid base64")]
    Base64,
}

impl TextEncoding {
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            TextEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
            TextEncoding::Hex => hex::encode(bytes),
            TextEncoding::HexUpper => hex::encode_upper(bytes),
        }
    }

    /// Decodes; hex in either case, base64 with or without padding, surrounding whitespace
    /// ignored (keys pasted from e-mails carry line breaks).
    pub fn decode(self, text: &str) -> Result<Vec<u8>, TextError> {
        let t: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match self {
            TextEncoding::Hex | TextEncoding::HexUpper => {
                hex::decode(t).map_err(|_| TextError::Hex)
            }
            TextEncoding::Base64 => decode_base64(&t),
        }
    }
}

fn decode_base64(t: &str) -> Result<Vec<u8>, TextError> {
    let e = &base64::engine::general_purpose::STANDARD;
    e.decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .map_err(|_| TextError::Base64)
}

/// Hex when the text is only hex digits of even length, else base64: how key strings handed
/// out by platforms are told apart.
pub fn decode_hex_or_base64(text: &str) -> Result<Vec<u8>, TextError> {
    let t: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if !t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(&t).map_err(|_| TextError::Hex);
    }
    decode_base64(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let data = [0u8, 1, 0xfe, 0xff, 0x10];
        for e in [
            TextEncoding::Base64,
            TextEncoding::Hex,
            TextEncoding::HexUpper,
        ] {
            assert_eq!(e.decode(&e.encode(&data)).unwrap(), data);
        }
        assert_eq!(TextEncoding::HexUpper.encode(&[0xab]), "AB");
        assert_eq!(TextEncoding::Hex.decode("AbCd").unwrap(), [0xab, 0xcd]);
        assert_eq!(TextEncoding::Hex.decode("abc"), Err(TextError::Hex));
        assert_eq!(TextEncoding::Hex.decode("zz"), Err(TextError::Hex));
        assert_eq!(TextEncoding::Base64.decode("***"), Err(TextError::Base64));
        assert_eq!(TextEncoding::Base64.decode("AAE").unwrap(), [0, 1]);
        assert_eq!(decode_hex_or_base64("00ff").unwrap(), [0, 0xff]);
        assert_eq!(decode_hex_or_base64("AP8=").unwrap(), [0, 0xff]);
    }
}
