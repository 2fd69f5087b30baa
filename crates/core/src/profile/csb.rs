//! `csb`: the API-gateway headers of Alibaba Cloud Service Bus (CSB), which several
//! provinces put in front of their 医保 platform (前置 gateways).
//!
//! # The string to sign
//!
//! Taken from the vendor's own public SDK, `aliyun/csb-sdk` on GitHub:
//! `common/src/main/java/com/alibaba/csb/sdk/security/SignUtil.java` (`newParamsMap`) puts
//! the request's parameters and the headers `_api_name`, `_api_version`, `_api_timestamp`
//! (milliseconds since the epoch), `_api_nonce` (when enabled, the SDK's default) and
//! `_api_access_key` into one list, never `_api_signature` or `_api_secret_key`;
//! `SortedParamList.java` sorts it by name, then by value (`ParamNode.compareTo`), and joins
//! `name=value` pairs with `&`; `SpasSigner.java` signs that text with HmacSHA1 under the
//! secret key (both UTF-8) and encodes the MAC in base64. The node.js client in the same
//! repository (`others/node.js/lib/client.js`, `buildStringToSign`) builds the same text.
//!
//! The 医保 request is a JSON body (the SDK's `ContentBody`), which is not a parameter and
//! is not signed; parameters in the configured URL's query string are, as the SDK does —
//! except one named like an `_api_*` header, whose value the header's replaces
//! ([`signed_params`]).
//! So for the usual URL the signed text is
//! `_api_access_key=AK&_api_name=NAME&_api_nonce=N&_api_timestamp=MS&_api_version=VER`.
//!
//! Header names contain underscores: a reverse proxy between the hospital and the gateway
//! must pass them (nginx drops them unless `underscores_in_headers on`) — docs/config.md.

use base64::Engine;
use hmac::{KeyInit, Mac};

use super::{envelope_bytes, Opened, OutgoingRequest, Profile, ProfileError};
use crate::platform::envelope::RequestEnvelope;

pub const HDR_API_NAME: &str = "_api_name";
pub const HDR_API_VERSION: &str = "_api_version";
pub const HDR_ACCESS_KEY: &str = "_api_access_key";
pub const HDR_TIMESTAMP: &str = "_api_timestamp";
pub const HDR_NONCE: &str = "_api_nonce";
pub const HDR_SIGNATURE: &str = "_api_signature";
/// Never sent: the SDK removes it from the signed list.
pub const HDR_SECRET_KEY: &str = "_api_secret_key";

/// The settings of a `csb` profile (the config's `csb_*` keys, secrets resolved).
#[derive(Clone, PartialEq, Eq)]
pub struct CsbSettings {
    /// `_api_name`: the service name the gateway publishes the platform under.
    pub api_name: String,
    /// `_api_version`.
    pub api_version: String,
    pub access_key: String,
    pub secret_key: String,
    /// Send `_api_nonce` (the SDK does by default; a gateway that predates it ignores it).
    pub nonce: bool,
}

impl std::fmt::Debug for CsbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsbSettings")
            .field("api_name", &self.api_name)
            .field("api_version", &self.api_version)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// The text the signature covers: every signed parameter as `name=value`, sorted by name,
/// then value, joined with `&` (the SDK's `SortedParamList.toString`).
pub fn string_to_sign(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != HDR_SIGNATURE && k != HDR_SECRET_KEY)
        .collect();
    sorted.sort();
    let pairs: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// `_api_signature`: base64 of HMAC-SHA1 over `text` with the secret key.
pub fn signature(text: &str, secret_key: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match hmac::Hmac::<sha1::Sha1>::new_from_slice(secret_key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A query string's parameters, decoded (`a=1&b=x%20y`): they are signed as parameters.
pub fn query_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// What the signature covers: the headers, and the query parameters no header replaces
/// (the SDK's `newParamsMap` starts from the URL's parameters and `put`s the `_api_*`
/// values over them).
pub fn signed_params(
    headers: &[(String, String)],
    query: &[(String, String)],
) -> Vec<(String, String)> {
    let mut params = headers.to_vec();
    params.extend(
        query
            .iter()
            .filter(|(k, _)| !headers.iter().any(|(h, _)| h == k))
            .cloned(),
    );
    params
}

/// The signed headers of one request, `_api_signature` last.
pub fn signed_headers(
    s: &CsbSettings,
    timestamp_ms: i64,
    nonce: Option<&str>,
    query: &[(String, String)],
) -> Vec<(String, String)> {
    let mut headers = vec![
        (HDR_API_NAME.to_string(), s.api_name.clone()),
        (HDR_API_VERSION.to_string(), s.api_version.clone()),
        (HDR_TIMESTAMP.to_string(), timestamp_ms.to_string()),
        (HDR_ACCESS_KEY.to_string(), s.access_key.clone()),
    ];
    if let Some(n) = nonce {
        headers.push((HDR_NONCE.to_string(), n.to_string()));
    }
    let sig = signature(
        &string_to_sign(&signed_params(&headers, query)),
        &s.secret_key,
    );
    headers.push((HDR_SIGNATURE.to_string(), sig));
    headers
}

/// Seals with the CSB headers; the body is the envelope as is.
pub struct CsbProfile {
    settings: CsbSettings,
    /// The configured URL's query parameters (decoded), which the signature covers.
    query: Vec<(String, String)>,
}

impl std::fmt::Debug for CsbProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsbProfile")
            .field("settings", &self.settings)
            .finish()
    }
}

impl CsbProfile {
    /// `url` is the platform's URL: its query parameters are signed with the headers.
    pub fn new(settings: CsbSettings, url: &str) -> Self {
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let query = query.split('#').next().unwrap_or_default();
        Self {
            settings,
            query: query_params(query),
        }
    }
}

impl Profile for CsbProfile {
    fn name(&self) -> &'static str {
        "csb"
    }
    fn seal(&self, envelope: &RequestEnvelope) -> Result<OutgoingRequest, ProfileError> {
        let nonce = self
            .settings
            .nonce
            .then(|| rand::random::<i64>().to_string());
        Ok(OutgoingRequest {
            headers: signed_headers(
                &self.settings,
                crate::time::epoch_ms(),
                nonce.as_deref(),
                &self.query,
            ),
            body: envelope_bytes(envelope)?,
        })
    }
    fn open(&self, body: Vec<u8>) -> Result<Opened, ProfileError> {
        Ok(Opened::Bytes(body))
    }
    fn what_to_check(&self) -> &'static str {
        "请检查 csb_api_name、csb_api_version、csb_access_key、csb_secret_key 与本机时钟 / \
         check the gateway's service name and version, the access and secret keys, and this \
         machine's clock"
    }
}

#[cfg(test)]
#[path = "csb_tests.rs"]
mod tests;
