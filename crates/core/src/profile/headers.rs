//! Fixed headers on top of a profile: the `apikey` profile (`plain` plus the key header an
//! intranet front-end processor checks) and `[platform.headers]` (any profile plus the
//! headers a site's gateway wants, e.g. a tenant id and a key).
//!
//! Header names and values come from the config; they are checked here, when the profile
//! is built, because a header reqwest refuses at send time would fail an attempt after its
//! msgid was recorded — for a settlement, an UNCERTAIN that nothing was ever sent for.

use std::sync::Arc;

use super::{Opened, OutgoingRequest, Profile, ProfileError};
use crate::platform::envelope::RequestEnvelope;

/// A header that cannot be sent, named by the config key it came from.
#[derive(Debug, thiserror::Error)]
#[error("请求头无效 / invalid header ({key}): {why}")]
pub struct HeaderError {
    pub key: String,
    pub why: &'static str,
}

/// `inner` with `headers` added to every request. Values are secrets: never shown.
pub struct WithHeaders {
    name: &'static str,
    hint: &'static str,
    inner: Arc<dyn Profile>,
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for WithHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("WithHeaders")
            .field("name", &self.name)
            .field("inner", &self.inner)
            .field("headers", &names)
            .finish()
    }
}

/// What an `apikey` refusal asks the staff to check.
const APIKEY_HINT: &str = "请检查 apikey_header、apikey 与前置机登记的是否一致 / check that \
                           the header name and key match what the front-end processor expects";

impl WithHeaders {
    /// The `apikey` profile: `plain` with `header: key`.
    pub fn apikey(header: &str, key: String) -> Result<Self, HeaderError> {
        Self::build(
            "apikey",
            APIKEY_HINT,
            Arc::new(super::PlainProfile),
            vec![(header.to_string(), key)],
            "platform.apikey_header",
        )
    }

    /// `inner` plus `[platform.headers]`; keeps `inner`'s name and hint.
    pub fn extra(
        inner: Arc<dyn Profile>,
        headers: Vec<(String, String)>,
    ) -> Result<Self, HeaderError> {
        Self::build(
            inner.name(),
            inner.what_to_check(),
            inner,
            headers,
            "platform.headers",
        )
    }

    fn build(
        name: &'static str,
        hint: &'static str,
        inner: Arc<dyn Profile>,
        headers: Vec<(String, String)>,
        key: &str,
    ) -> Result<Self, HeaderError> {
        for (k, v) in &headers {
            check(k, v).map_err(|why| HeaderError {
                key: format!("{key}: {k}"),
                why,
            })?;
        }
        Ok(Self {
            name,
            hint,
            inner,
            headers,
        })
    }
}

/// The rules of RFC 9110 as reqwest applies them, plus the headers a site must not set.
fn check(name: &str, value: &str) -> Result<(), &'static str> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err("名称含不允许的字符 / the name has characters a header name cannot have");
    }
    if value.is_empty() || reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err("值为空或含换行等控制字符 / the value is empty or has control characters");
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "content-type" | "content-length" | "host" | "transfer-encoding" | "connection"
    ) {
        return Err("该请求头由 yibao 设置 / yibao sets this header itself");
    }
    Ok(())
}

impl Profile for WithHeaders {
    fn name(&self) -> &'static str {
        self.name
    }
    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError> {
        let mut out = self.inner.seal(envelope)?;
        out.headers.extend(self.headers.iter().cloned());
        Ok(out)
    }
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        self.inner.open(body)
    }
    fn what_to_check(&self) -> &'static str {
        self.hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> RequestEnvelope {
        crate::platform::envelope::sample_defaults().build(
            "1101",
            "m1".into(),
            "",
            &Default::default(),
            serde_json::json!({}),
        )
    }

    #[test]
    fn apikey_is_plain_plus_its_header_and_never_shows_the_key() {
        let p = WithHeaders::apikey("X-Api-Key", "k-123456".into()).unwrap();
        let out = p.seal(&envelope()).unwrap();
        assert_eq!(
            out.headers,
            vec![("X-Api-Key".to_string(), "k-123456".to_string())]
        );
        let plain = super::super::PlainProfile.seal(&envelope()).unwrap();
        assert_eq!(out.body.len(), plain.body.len());
        assert_eq!(p.name(), "apikey");
        assert!(!format!("{p:?}").contains("k-123456"));
    }

    #[test]
    fn extra_headers_compose_with_any_profile_and_keep_its_name() {
        let tif = Arc::new(super::super::TifProfile::new("p".into(), "t".into(), None));
        let p = WithHeaders::extra(tif, vec![("x-tenant".into(), "h1".into())]).unwrap();
        let out = p.seal(&envelope()).unwrap();
        assert_eq!(p.name(), "tif");
        assert!(out.headers.iter().any(|(k, _)| k == "x-tif-signature"));
        assert!(out
            .headers
            .iter()
            .any(|(k, v)| k == "x-tenant" && v == "h1"));
    }

    #[test]
    fn bad_names_and_values_are_refused_when_built() {
        for (name, value) in [
            ("bad header", "v"),
            ("X-Key", "line\nbreak"),
            ("X-Key", ""),
            ("Content-Type", "text/plain"),
        ] {
            let err = WithHeaders::apikey(name, value.into()).unwrap_err();
            assert!(err.to_string().contains("platform.apikey_header"), "{err}");
            assert!(!err.to_string().contains("break"), "{err}");
        }
    }
}
