//! `[platform]`: where the platform is and how requests are signed.
//!
//! # Why two shapes: the keys as written, and a typed section
//!
//! The natural typed shape is serde's internally tagged enum (`#[serde(tag = "profile")]`,
//! one variant per profile with its keys). It was tried and rejected, because with TOML it
//! loses what operators rely on:
//! * serde buffers an internally tagged table before it knows the variant, so an unknown or
//!   mistyped key is reported at the `[platform]` header instead of the key's own line;
//! * the tag becomes mandatory, but `profile` has always been optional (`plain`);
//! * `deny_unknown_fields` cannot be combined with `#[serde(flatten)]`, the other way to
//!   share `url` and the timeouts between variants.
//!
//! So the file is read into [`PlatformKeys`] — every key of every profile, exactly the
//! table as written, derived with `deny_unknown_fields`, which keeps the TOML parser's error
//! (line, caret, the list of valid keys) — and converted at once (`try_from`) into
//! [`PlatformSection`], whose [`ProfileConfig`] carries exactly the settings of the chosen
//! profile. A profile that lacks its keys cannot be represented, so the rest of the broker
//! never matches on strings; the conversion's error is reported at the `[platform]` table.
//! Keys of a profile that is not chosen are accepted and ignored, as they always were (a
//! site that switches profiles keeps its old keys). Writing goes back through
//! `PlatformKeys` (`into`), so a config built in code is written in the file's format.
//! A new profile is a variant of [`ProfileConfig`] and [`ProfileName`], its keys here, and
//! one arm in each conversion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use yibao_core::cainfo::CainfoConfig;
use yibao_core::secret::Secret;
use yibao_core::sm::SmConfig;

use std::sync::Arc;

use yibao_core::profile::{CsbProfile, CsbSettings, PlainProfile, TifProfile, WithHeaders};
use yibao_core::sm::{SmCodec, SmProfile};
use yibao_core::Profile;

use super::names::{self, Named};
use super::ConfigError;

/// `[platform]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "PlatformKeys", into = "PlatformKeys")]
pub struct PlatformSection {
    pub url: String,
    /// The signing profile with its settings (`profile = …` and that profile's keys).
    pub profile: ProfileConfig,
    /// `[platform.headers]`: header name → value (a secret reference or the value), sent
    /// with every request whatever the profile.
    pub headers: BTreeMap<String, Secret>,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub pool_idle_timeout_ms: u64,
    pub pool_max_idle: usize,
    /// `[platform.cainfo]`: the HIS's cainfo for settlements (`yibao_core::cainfo`).
    pub cainfo: Option<CainfoConfig>,
}

/// How requests are signed, with the settings of that profile only.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileConfig {
    /// No signing: an intranet front-end processor.
    Plain,
    /// The national gateway's `x-tif-*` headers.
    Tif(TifConfig),
    /// 国密: SM2 signatures and SM4 encryption (`[platform.sm]`, docs/config.md).
    Sm(Box<SmConfig>),
    /// A province's CSB API gateway: `_api_*` headers, HMAC-SHA1 signed.
    Csb(CsbConfig),
    /// `plain` plus a key header (an intranet front-end processor that checks one).
    Apikey(ApikeyConfig),
}

/// The csb profile's keys (`csb_api_name`, `csb_api_version`, `csb_access_key`,
/// `csb_secret_key`, `csb_nonce`).
#[derive(Debug, Clone, PartialEq)]
pub struct CsbConfig {
    pub api_name: String,
    pub api_version: String,
    pub access_key: String,
    /// `env:NAME`, `file:PATH` or the value.
    pub secret_key: Secret,
    pub nonce: bool,
}

/// The apikey profile's keys (`apikey_header`, `apikey`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApikeyConfig {
    pub header: String,
    /// `env:NAME`, `file:PATH` or the value.
    pub key: Secret,
}

/// The tif profile's keys (`tif_paasid`, `tif_token`, `tif_service_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct TifConfig {
    pub paasid: String,
    /// `env:NAME`, `file:PATH` or the value.
    pub token: Secret,
    pub service_id: Option<String>,
}

impl PlatformSection {
    /// The platform at `url` signed with `profile`; timeouts and pool at their file defaults.
    pub fn new(url: impl Into<String>, profile: ProfileConfig) -> Self {
        Self {
            url: url.into(),
            profile,
            headers: BTreeMap::new(),
            connect_timeout_ms: default_connect_timeout(),
            request_timeout_ms: default_request_timeout(),
            pool_idle_timeout_ms: default_pool_idle(),
            pool_max_idle: default_pool_max_idle(),
            cainfo: None,
        }
    }

    /// `[platform.sm]` when the profile is `sm`.
    pub fn sm(&self) -> Option<&SmConfig> {
        match &self.profile {
            ProfileConfig::Sm(sm) => Some(sm),
            _ => None,
        }
    }
}

/// A secret of `[platform]` resolved, or the error naming its key.
fn resolve(secret: &Secret, key: &'static str) -> Result<String, ConfigError> {
    secret
        .resolve_text()
        .map_err(|message| ConfigError::Invalid { key, message })
}

impl PlatformSection {
    /// Builds the signing profile, resolving its secrets, with `[platform.headers]` on top.
    pub fn build_profile(&self) -> Result<Arc<dyn Profile>, ConfigError> {
        let profile: Arc<dyn Profile> = match &self.profile {
            ProfileConfig::Plain => Arc::new(PlainProfile),
            ProfileConfig::Tif(tif) => Arc::new(TifProfile::new(
                tif.paasid.clone(),
                resolve(&tif.token, "platform.tif_token")?,
                tif.service_id.clone(),
            )),
            ProfileConfig::Sm(sm) => {
                let codec = SmCodec::from_config(sm).map_err(|e| ConfigError::Invalid {
                    key: "platform.sm",
                    message: e.to_string(),
                })?;
                Arc::new(SmProfile::new(codec))
            }
            ProfileConfig::Csb(c) => Arc::new(CsbProfile::new(
                CsbSettings {
                    api_name: c.api_name.clone(),
                    api_version: c.api_version.clone(),
                    access_key: c.access_key.clone(),
                    secret_key: resolve(&c.secret_key, "platform.csb_secret_key")?,
                    nonce: c.nonce,
                },
                &self.url,
            )),
            ProfileConfig::Apikey(a) => Arc::new(
                WithHeaders::apikey(&a.header, resolve(&a.key, "platform.apikey")?)
                    .map_err(header_error)?,
            ),
        };
        if self.headers.is_empty() {
            return Ok(profile);
        }
        let mut headers = Vec::new();
        for (name, value) in &self.headers {
            headers.push((name.clone(), resolve(value, "platform.headers")?));
        }
        Ok(Arc::new(
            WithHeaders::extra(profile, headers).map_err(header_error)?,
        ))
    }
}

/// Named by the setting the header came from (`platform.apikey_header` or
/// `platform.headers`), the header by its name.
fn header_error(e: yibao_core::profile::HeaderError) -> ConfigError {
    ConfigError::Invalid {
        key: e.setting,
        message: e.to_string(),
    }
}

impl ProfileConfig {
    fn name(&self) -> ProfileName {
        match self {
            ProfileConfig::Plain => ProfileName::Plain,
            ProfileConfig::Tif(_) => ProfileName::Tif,
            ProfileConfig::Sm(_) => ProfileName::Sm,
            ProfileConfig::Csb(_) => ProfileName::Csb,
            ProfileConfig::Apikey(_) => ProfileName::Apikey,
        }
    }
}

/// The profile's name as the file spells it (`plain`, `tif`, `sm`) — never its secrets.
impl std::fmt::Display for ProfileConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name().as_str())
    }
}

/// `profile = …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ProfileName {
    #[default]
    Plain,
    Tif,
    Sm,
    Csb,
    Apikey,
}

impl Named for ProfileName {
    const KEY: &'static str = "platform.profile";
    const NAMES: &'static [(&'static str, Self)] = &[
        ("plain", Self::Plain),
        ("tif", Self::Tif),
        ("sm", Self::Sm),
        ("csb", Self::Csb),
        ("apikey", Self::Apikey),
    ];
}

/// `[platform]` exactly as written: every key of every profile (see the module docs).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlatformKeys {
    url: String,
    /// `plain`, `tif`, `sm`, `csb` or `apikey`.
    #[serde(default, with = "names")]
    profile: ProfileName,
    /// The 国密 profile's keys and message shape (`[platform.sm]`, docs/config.md).
    #[serde(default)]
    sm: Option<SmConfig>,
    #[serde(default)]
    tif_paasid: Option<String>,
    /// The tif token: `env:NAME`, `file:PATH` or the literal value.
    #[serde(default)]
    tif_token: Option<Secret>,
    #[serde(default)]
    tif_service_id: Option<String>,
    #[serde(default)]
    csb_api_name: Option<String>,
    #[serde(default)]
    csb_api_version: Option<String>,
    #[serde(default)]
    csb_access_key: Option<String>,
    /// The csb secret key: `env:NAME`, `file:PATH` or the literal value.
    #[serde(default)]
    csb_secret_key: Option<Secret>,
    #[serde(default)]
    csb_nonce: Option<bool>,
    /// The apikey profile's header name (`apikey` when not given).
    #[serde(default)]
    apikey_header: Option<String>,
    /// The apikey profile's key: `env:NAME`, `file:PATH` or the literal value.
    #[serde(default)]
    apikey: Option<Secret>,
    /// `[platform.headers]`: sent with every request, whatever the profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, Secret>,
    #[serde(default = "default_connect_timeout")]
    connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout")]
    request_timeout_ms: u64,
    #[serde(default = "default_pool_idle")]
    pool_idle_timeout_ms: u64,
    #[serde(default = "default_pool_max_idle")]
    pool_max_idle: usize,
    /// The settlements' cainfo from the HIS's input (`[platform.cainfo]`, docs/config.md).
    #[serde(default)]
    cainfo: Option<CainfoConfig>,
}

impl TryFrom<PlatformKeys> for PlatformSection {
    type Error = String;

    fn try_from(k: PlatformKeys) -> Result<Self, String> {
        let profile = match k.profile {
            ProfileName::Plain => ProfileConfig::Plain,
            ProfileName::Tif => match (k.tif_paasid, k.tif_token) {
                // Header values arrive trimmed: a paasid written with a space would never
                // match the gateway's, with nothing to say why.
                (Some(paasid), Some(token)) => ProfileConfig::Tif(TifConfig {
                    paasid: paasid.trim().to_string(),
                    token,
                    service_id: k.tif_service_id.map(|s| s.trim().to_string()),
                }),
                _ => return Err(
                    "platform.tif_paasid / tif_token: profile = \"tif\" 需要两者 / the tif profile needs both"
                        .into(),
                ),
            },
            ProfileName::Sm => match k.sm {
                Some(sm) => ProfileConfig::Sm(Box::new(sm)),
                None => return Err(
                    "platform.sm: profile = \"sm\" 需要 [platform.sm] 段 / the sm profile needs a [platform.sm] table"
                        .into(),
                ),
            },
            ProfileName::Csb => match (k.csb_api_name, k.csb_access_key, k.csb_secret_key) {
                (Some(api_name), Some(access_key), Some(secret_key))
                    if !api_name.trim().is_empty() && !access_key.trim().is_empty() =>
                {
                    // Sent as header values, whose surrounding spaces HTTP drops on arrival:
                    // signed with them, the gateway would refuse every signature.
                    let version = k.csb_api_version.unwrap_or_else(|| "1.0.0".into());
                    ProfileConfig::Csb(CsbConfig {
                        api_name: api_name.trim().to_string(),
                        api_version: version.trim().to_string(),
                        access_key: access_key.trim().to_string(),
                        secret_key,
                        nonce: k.csb_nonce.unwrap_or(true),
                    })
                }
                _ => return Err(
                    "platform.csb_api_name / csb_access_key / csb_secret_key: profile = \"csb\" 需要这三项 / the csb profile needs all three"
                        .into(),
                ),
            },
            ProfileName::Apikey => match k.apikey {
                Some(key) => ProfileConfig::Apikey(ApikeyConfig {
                    header: k.apikey_header.unwrap_or_else(|| "apikey".into()),
                    key,
                }),
                None => return Err(
                    "platform.apikey: profile = \"apikey\" 需要 apikey（可用 env:/file:）/ the apikey profile needs the key"
                        .into(),
                ),
            },
        };
        Ok(Self {
            url: k.url,
            profile,
            headers: k.headers,
            connect_timeout_ms: k.connect_timeout_ms,
            request_timeout_ms: k.request_timeout_ms,
            pool_idle_timeout_ms: k.pool_idle_timeout_ms,
            pool_max_idle: k.pool_max_idle,
            cainfo: k.cainfo,
        })
    }
}

impl From<PlatformSection> for PlatformKeys {
    fn from(p: PlatformSection) -> Self {
        let name = p.profile.name();
        let mut keys = Self {
            url: p.url,
            profile: name,
            sm: None,
            tif_paasid: None,
            tif_token: None,
            tif_service_id: None,
            csb_api_name: None,
            csb_api_version: None,
            csb_access_key: None,
            csb_secret_key: None,
            csb_nonce: None,
            apikey_header: None,
            apikey: None,
            headers: p.headers,
            connect_timeout_ms: p.connect_timeout_ms,
            request_timeout_ms: p.request_timeout_ms,
            pool_idle_timeout_ms: p.pool_idle_timeout_ms,
            pool_max_idle: p.pool_max_idle,
            cainfo: p.cainfo,
        };
        match p.profile {
            ProfileConfig::Plain => {}
            ProfileConfig::Tif(t) => {
                keys.tif_paasid = Some(t.paasid);
                keys.tif_token = Some(t.token);
                keys.tif_service_id = t.service_id;
            }
            ProfileConfig::Sm(sm) => keys.sm = Some(*sm),
            ProfileConfig::Csb(c) => {
                keys.csb_api_name = Some(c.api_name);
                keys.csb_api_version = Some(c.api_version);
                keys.csb_access_key = Some(c.access_key);
                keys.csb_secret_key = Some(c.secret_key);
                keys.csb_nonce = Some(c.nonce);
            }
            ProfileConfig::Apikey(a) => {
                keys.apikey_header = Some(a.header);
                keys.apikey = Some(a.key);
            }
        }
        keys
    }
}

fn default_connect_timeout() -> u64 {
    3_000
}
fn default_request_timeout() -> u64 {
    30_000
}
fn default_pool_idle() -> u64 {
    90_000
}
fn default_pool_max_idle() -> usize {
    32
}
