//! What one exchange with the platform came to, as one type: the only thing the broker needs
//! to decide a request's fate and what to store.

use super::response::{preview, ResponseEnvelope};
use super::session::is_sign_in_rejection;
use super::transport::{TransportError, TransportErrorKind};
use crate::profile::Opened;

/// A readable response envelope and its text, stored verbatim in `response_data`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub body: String,
    pub envelope: ResponseEnvelope,
    /// The file a 9102 delivered, known from the transport itself — never read back out of
    /// a reply's JSON, so no answer can name a path on this host.
    pub file: Option<super::Downloaded>,
}

impl Reply {
    /// A success whose `output` the broker wrote itself (a downloaded file's description:
    /// the platform sent the file, not an envelope).
    pub fn synthetic(output: serde_json::Value) -> Self {
        let envelope = ResponseEnvelope {
            infcode: 0,
            inf_refmsgid: None,
            refmsg_time: None,
            respond_time: None,
            err_msg: None,
            warn_msg: None,
            cainfo: None,
            signtype: None,
            output,
        };
        let body = serde_json::to_string(&envelope).unwrap_or_default();
        Reply {
            body,
            envelope,
            file: None,
        }
    }

    /// The reply standing for a downloaded file, carrying it.
    pub fn for_file(file: super::Downloaded) -> Self {
        let mut reply = Self::synthetic(serde_json::json!({
            "path": file.path.display().to_string(),
            "size": file.size,
            "sha256": file.sha256,
        }));
        reply.file = Some(file);
        reply
    }
}

/// The outcome of one exchange.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// infcode 0: the platform did it.
    Success(Reply),
    /// The platform answered and refused (infcode ≠ 0): a business error, nothing applied.
    Refused(Reply),
    /// Something came back but it is not a response envelope: it may have been applied.
    Unreadable { message: String },
    /// No usable reply; the error says whether the request may have left.
    Transport(TransportError),
}

impl Outcome {
    /// Reads what a profile opened.
    pub fn from_opened(opened: Opened) -> Self {
        let (body, parsed) = match opened {
            Opened::Bytes(bytes) => {
                let parsed = ResponseEnvelope::parse(&bytes).map_err(|e| (e, preview(&bytes)));
                (String::from_utf8_lossy(&bytes).into_owned(), parsed)
            }
            Opened::Json(value) => {
                let body = value.to_string();
                let parsed =
                    ResponseEnvelope::from_json(value).map_err(|e| (e, preview(body.as_bytes())));
                (body, parsed)
            }
        };
        match parsed {
            Ok(envelope) if envelope.is_success() => Outcome::Success(Reply {
                body,
                envelope,
                file: None,
            }),
            Ok(envelope) => Outcome::Refused(Reply {
                body,
                envelope,
                file: None,
            }),
            Err((e, excerpt)) => Outcome::Unreadable {
                message: format!("{e}: {excerpt}"),
            },
        }
    }

    /// The platform's reply, whether it said yes or no.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Success(r) | Outcome::Refused(r) => Some(r),
            _ => None,
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }

    /// A refusal saying the sign-in is no longer valid (the request was not applied).
    pub fn rejects_sign_in(&self) -> bool {
        matches!(self, Outcome::Refused(r) if is_sign_in_rejection(r.envelope.err_msg.as_deref()))
    }

    /// Why it is not a success, worded for `err_msg` (中文 first).
    pub fn describe(&self) -> String {
        match self {
            Outcome::Success(r) | Outcome::Refused(r) => format!(
                "infcode={} {}",
                r.envelope.infcode,
                r.envelope.err_msg.as_deref().unwrap_or_default()
            ),
            Outcome::Unreadable { message } => {
                format!("平台应答无法识别 / unreadable platform reply: {message}")
            }
            Outcome::Transport(e) => match e.kind {
                TransportErrorKind::NotSent => {
                    format!("无法连接医保平台，请求未发出 / platform unreachable, nothing sent: {e}")
                }
                TransportErrorKind::Timeout => format!(
                    "医保平台应答超时，请求可能已生效，请核对 / platform timed out; the request may have taken effect: {e}"
                ),
                _ => format!("与医保平台通讯失败 / transport failure: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_decoded_json_read_alike() {
        let text = r#"{"infcode":0,"output":{"x":"值"}}"#;
        let a = Outcome::from_opened(Opened::Bytes(text.as_bytes().to_vec()));
        let b = Outcome::from_opened(Opened::Json(serde_json::from_str(text).unwrap()));
        for o in [&a, &b] {
            let r = o.reply().unwrap();
            assert!(o.is_success());
            assert_eq!(r.envelope.output["x"], "值");
            let again: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(again["output"]["x"], "值");
        }
    }

    #[test]
    fn refusals_unreadables_and_sign_in_rejections() {
        let refused = Outcome::from_opened(Opened::Bytes(
            r#"{"infcode":-1,"err_msg":"签到信息无效，请重新签到"}"#.into(),
        ));
        assert!(matches!(refused, Outcome::Refused(_)));
        assert!(refused.rejects_sign_in());
        assert!(refused.describe().starts_with("infcode=-1 签到"));
        for junk in [&b"<html>502</html>"[..], b"{}", b"[1]"] {
            let o = Outcome::from_opened(Opened::Bytes(junk.to_vec()));
            assert!(matches!(o, Outcome::Unreadable { .. }), "{junk:?}");
            assert!(!o.rejects_sign_in());
        }
        let o = Outcome::from_opened(Opened::Json(serde_json::json!({"no": "infcode"})));
        assert!(o.describe().contains("unreadable"), "{}", o.describe());
    }
}
