//! The platform's response envelope (design.md §9). The raw body is always kept by the
//! caller; this only extracts what decides the request's fate.

use serde::{Deserialize, Deserializer, Serialize};

/// A parsed response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// 0 success; -1 or any other value is a failure.
    #[serde(deserialize_with = "infcode_from_any")]
    pub infcode: i64,
    #[serde(default)]
    pub inf_refmsgid: Option<String>,
    #[serde(default)]
    pub refmsg_time: Option<String>,
    #[serde(default)]
    pub respond_time: Option<String>,
    #[serde(default)]
    pub err_msg: Option<String>,
    #[serde(default)]
    pub warn_msg: Option<String>,
    #[serde(default)]
    pub cainfo: Option<String>,
    #[serde(default)]
    pub signtype: Option<String>,
    #[serde(default)]
    pub output: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("平台应答不是合法的 JSON / platform reply is not valid JSON: {0}")]
    NotJson(String),
    #[error("平台应答缺少 infcode / platform reply has no usable infcode: {0}")]
    NoInfcode(String),
}

/// Platforms send `infcode` as a number (`0`, `-1`) or, on some gateways, as a string.
fn infcode_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Any {
        Int(i64),
        Str(String),
    }
    match Any::deserialize(d)? {
        Any::Int(i) => Ok(i),
        Any::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("infcode {s:?} is not a number"))),
    }
}

impl ResponseEnvelope {
    /// Parses a reply body. Anything without a numeric `infcode` is an error, never success.
    pub fn parse(body: &[u8]) -> Result<Self, ResponseError> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ResponseError::NotJson(e.to_string()))?;
        Self::from_json(v)
    }

    /// Reads an envelope a profile already decoded; the same rules as [`Self::parse`].
    pub fn from_json(v: serde_json::Value) -> Result<Self, ResponseError> {
        if !v.is_object() || v.get("infcode").is_none() {
            return Err(ResponseError::NoInfcode(preview(v.to_string().as_bytes())));
        }
        serde_json::from_value(v).map_err(|e| ResponseError::NoInfcode(e.to_string()))
    }

    pub fn is_success(&self) -> bool {
        self.infcode == 0
    }
}

/// The first bytes of a body, for error messages (never the whole of a large reply).
///
/// A cut through a number would leave a piece the masking cannot recognise (`138-1234-56`
/// is no phone number, `43010219900307` no 身份证号), so a cut body also loses the digits
/// (and `-`, `+`, spaces between them) it ends with.
pub fn preview(body: &[u8]) -> String {
    const MAX: usize = 200;
    let s = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    if body.len() > MAX {
        let kept = s.trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | ' '));
        format!("{kept}…")
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_preview_does_not_end_in_part_of_a_number() {
        let body = format!("{}电话 138-1234-5678", "x".repeat(190));
        let p = preview(body.as_bytes());
        assert!(p.ends_with("电话…"), "{p}");
        assert_eq!(preview(b"short 138-1234-5678"), "short 138-1234-5678");
    }

    #[test]
    fn numeric_and_string_infcodes() {
        let a = ResponseEnvelope::parse(br#"{"infcode":0,"output":{"x":1}}"#).unwrap();
        assert!(a.is_success());
        assert_eq!(a.output["x"], 1);
        let b = ResponseEnvelope::parse(br#"{"infcode":"-1","err_msg":"bad"}"#).unwrap();
        assert_eq!(b.infcode, -1);
        assert_eq!(b.err_msg.as_deref(), Some("bad"));
    }

    #[test]
    fn garbage_is_an_error() {
        for junk in [
            &b"<html>502</html>"[..],
            b"",
            b"[]",
            b"{}",
            br#"{"infcode":"ok"}"#,
            br#"{"infcode":null}"#,
        ] {
            assert!(ResponseEnvelope::parse(junk).is_err(), "{junk:?}");
        }
    }
}
