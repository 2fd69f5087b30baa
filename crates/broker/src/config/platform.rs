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

use serde::{Deserialize, Serialize};
use yibao_core::secret::Secret;
use yibao_core::sm::SmConfig;

use super::names::{self, Named};

/// `[platform]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "PlatformKeys", into = "PlatformKeys")]
pub struct PlatformSection {
    pub url: String,
    /// The signing profile with its settings (`profile = …` and that profile's keys).
    pub profile: ProfileConfig,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub pool_idle_timeout_ms: u64,
    pub pool_max_idle: usize,
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
            connect_timeout_ms: default_connect_timeout(),
            request_timeout_ms: default_request_timeout(),
            pool_idle_timeout_ms: default_pool_idle(),
            pool_max_idle: default_pool_max_idle(),
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

impl ProfileConfig {
    fn name(&self) -> ProfileName {
        match self {
            ProfileConfig::Plain => ProfileName::Plain,
            ProfileConfig::Tif(_) => ProfileName::Tif,
            ProfileConfig::Sm(_) => ProfileName::Sm,
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
}

impl Named for ProfileName {
    const KEY: &'static str = "platform.profile";
    const NAMES: &'static [(&'static str, Self)] =
        &[("plain", Self::Plain), ("tif", Self::Tif), ("sm", Self::Sm)];
}

/// `[platform]` exactly as written: every key of every profile (see the module docs).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlatformKeys {
    url: String,
    /// `plain`, `tif` or `sm`.
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
    #[serde(default = "default_connect_timeout")]
    connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout")]
    request_timeout_ms: u64,
    #[serde(default = "default_pool_idle")]
    pool_idle_timeout_ms: u64,
    #[serde(default = "default_pool_max_idle")]
    pool_max_idle: usize,
}

impl TryFrom<PlatformKeys> for PlatformSection {
    type Error = String;

    fn try_from(k: PlatformKeys) -> Result<Self, String> {
        let profile = match k.profile {
            ProfileName::Plain => ProfileConfig::Plain,
            ProfileName::Tif => match (k.tif_paasid, k.tif_token) {
                (Some(paasid), Some(token)) => ProfileConfig::Tif(TifConfig {
                    paasid,
                    token,
                    service_id: k.tif_service_id,
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
        };
        Ok(Self {
            url: k.url,
            profile,
            connect_timeout_ms: k.connect_timeout_ms,
            request_timeout_ms: k.request_timeout_ms,
            pool_idle_timeout_ms: k.pool_idle_timeout_ms,
            pool_max_idle: k.pool_max_idle,
        })
    }
}

impl From<PlatformSection> for PlatformKeys {
    fn from(p: PlatformSection) -> Self {
        let name = p.profile.name();
        let (tif, sm) = match p.profile {
            ProfileConfig::Plain => (None, None),
            ProfileConfig::Tif(t) => (Some(t), None),
            ProfileConfig::Sm(sm) => (None, Some(*sm)),
        };
        let (tif_paasid, tif_token, tif_service_id) = match tif {
            Some(t) => (Some(t.paasid), Some(t.token), t.service_id),
            None => (None, None, None),
        };
        Self {
            url: p.url,
            profile: name,
            sm,
            tif_paasid,
            tif_token,
            tif_service_id,
            connect_timeout_ms: p.connect_timeout_ms,
            request_timeout_ms: p.request_timeout_ms,
            pool_idle_timeout_ms: p.pool_idle_timeout_ms,
            pool_max_idle: p.pool_max_idle,
        }
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
