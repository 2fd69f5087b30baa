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

/// A header that cannot be sent: the config key it came from (`setting`, for the
/// caller's error) and the header's name (in the text). Never its value.
#[derive(Debug, thiserror::Error)]
#[error("请求头无效 / invalid header {header:?}: {why}")]
pub struct HeaderError {
    pub setting: &'static str,
    pub header: String,
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
        setting: &'static str,
    ) -> Result<Self, HeaderError> {
        // The names already on the request: the inner profile's own (learned from sealing an
        // empty envelope, so the profile stays the one place that says what it sends).
        let mut taken: Vec<String> = inner
            .seal(&RequestEnvelope::default())
            .map(|o| o.headers.into_iter().map(|(k, _)| k).collect())
            .unwrap_or_default();
        for (k, v) in &headers {
            let err = |why| HeaderError {
                setting,
                header: k.clone(),
                why,
            };
            check(k, v).map_err(err)?;
            if taken.iter().any(|t| t.eq_ignore_ascii_case(k)) {
                return Err(err(
                    "该请求头已由签名方式设置或重复写了两次 / the profile sets this header itself, or it is written twice",
                ));
            }
            taken.push(k.clone());
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
    if lower == super::csb::HDR_SECRET_KEY {
        return Err("CSB 密钥只用于签名，不能作为请求头发送 / the csb secret key only signs: it is never sent (csb_secret_key)");
    }
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

    /// A `[platform.headers]` entry that the profile sets itself would be sent twice — the
    /// gateway reads one of two signatures, timestamps or keys — and `_api_secret_key` would
    /// send the csb secret in clear (the SDK only signs with it): refused when built, any
    /// case, and so is a name written twice in different cases.
    #[test]
    fn headers_the_profile_sets_or_the_secret_key_are_refused_when_built() {
        let csb: Arc<dyn Profile> = Arc::new(super::super::CsbProfile::new(
            super::super::CsbSettings {
                api_name: "svc".into(),
                api_version: "1.0.0".into(),
                access_key: "ak".into(),
                secret_key: "sk-not-shown".into(),
                nonce: true,
            },
            "http://gw/x",
        ));
        let tif: Arc<dyn Profile> =
            Arc::new(super::super::TifProfile::new("p".into(), "t".into(), None));
        let apikey: Arc<dyn Profile> = Arc::new(WithHeaders::apikey("X-Key", "k".into()).unwrap());
        for (inner, name) in [
            (&csb, "_api_signature"),
            (&csb, "_API_TIMESTAMP"),
            (&csb, "_api_secret_key"),
            (&tif, "X-Tif-Signature"),
            (&tif, "_api_secret_key"),
            (&apikey, "x-key"),
        ] {
            let err = WithHeaders::extra(inner.clone(), vec![(name.into(), "v-not-shown".into())])
                .unwrap_err();
            let text = err.to_string();
            assert!(
                err.setting == "platform.headers" && text.contains(name),
                "{text}"
            );
            assert!(!text.contains("not-shown"), "{text}");
        }
        let twice = vec![("X-A".into(), "1".into()), ("x-a".into(), "2".into())];
        assert!(WithHeaders::extra(tif.clone(), twice).is_err());
        let fine = vec![("X-Tenant".into(), "h1".into())];
        assert!(WithHeaders::extra(csb, fine).is_ok());
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
            assert_eq!(err.setting, "platform.apikey_header", "{err}");
            assert!(!err.to_string().contains("break"), "{err}");
        }
    }
}
