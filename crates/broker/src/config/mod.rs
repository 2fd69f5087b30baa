//! The broker's TOML configuration (`examples/yibao.toml` documents every key).
//!
//! Secrets (the tif token) are never written in the file itself when avoidable: a value
//! `env:NAME` is read from the environment and `file:PATH` from a file, so the config can be
//! checked into the hospital's change control without the keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod catalog;
mod store;
pub use catalog::{CatalogSection, ValidationMode};
pub use store::{MssqlSection, StoreSection};
use yibao_core::catalog::InterfaceOverride;
use yibao_core::platform::ClientSettings;
use yibao_core::profile::{PlainProfile, TifProfile};
use yibao_core::sm::{SmCodec, SmProfile};
use yibao_core::{EnvelopeDefaults, Profile};

/// Configuration errors, worded for the operator who edits the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("无法读取配置文件 / cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("配置文件格式错误 / invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("配置项无效 / invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub broker: BrokerSection,
    pub store: StoreSection,
    pub platform: PlatformSection,
    pub institution: EnvelopeDefaults,
    /// Site additions and corrections to the interface catalog, keyed by code.
    #[serde(default)]
    pub interfaces: HashMap<String, InterfaceOverride>,
    /// The site catalog file and whether its rules stop a request (docs/catalog.md).
    #[serde(default)]
    pub catalog: catalog::CatalogSection,
    /// Where logs go (console or daily files), text or JSON.
    #[serde(default)]
    pub log: crate::logging::LogSection,
    /// The read-only status page (off by default).
    #[serde(default)]
    pub status_page: crate::status_page::StatusPageSection,
}

/// What to do with an interface code the catalog does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UnknownInterfaces {
    /// Mark the request ERROR without sending it (a typo never reaches the platform).
    #[default]
    Reject,
    /// Send it, treated as state-changing.
    Send,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSection {
    /// Pipe name (Windows `\\.\pipe\<name>`, Unix `/tmp/<name>.sock` or a path).
    pub pipe: String,
    pub max_frame_bytes: u32,
    pub max_connections: usize,
    /// Requests processed at the same time (bounded worker pool).
    pub workers: usize,
    /// How often PENDING rows inserted by SQL alone are looked for.
    pub poll_interval_ms: u64,
    /// How long a claim is held before another broker may consider it abandoned.
    pub lease_ms: u64,
    /// Name of this broker in `worker_id` columns; default `<host>-<pid>`.
    pub worker_id: Option<String>,
    /// 0–9, only when several brokers share one institution code.
    pub msgid_node: Option<u8>,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace_ms: u64,
    pub unknown_interfaces: UnknownInterfaces,
    /// Most attempts for one request when failures may be retried (see README, retries).
    pub retry_max_attempts: u32,
    /// First pause between attempts; doubled each time, with jitter.
    pub retry_base_delay_ms: u64,
    /// Longest pause between attempts.
    pub retry_max_delay_ms: u64,
    /// How often expired leases (a crashed or hung broker's rows) are recovered.
    pub recover_interval_ms: u64,
    /// Send 9002 签退 for every signed-in operator on graceful shutdown.
    pub sign_out_on_shutdown: bool,
    /// Windows: accounts (or SIDs) that may open the pipe besides SYSTEM, Administrators and
    /// the broker's own account — the SQL Server service or xp_cmdshell proxy account.
    pub pipe_allow: Vec<String>,
    /// Windows: a complete SDDL for the pipe instead of the default (experts only).
    pub pipe_sddl: Option<String>,
}

impl Default for BrokerSection {
    fn default() -> Self {
        Self {
            pipe: yibao_proto::DEFAULT_PIPE_NAME.to_string(),
            max_frame_bytes: yibao_proto::DEFAULT_MAX_FRAME,
            max_connections: 512,
            workers: 16,
            poll_interval_ms: 100,
            lease_ms: 5 * 60 * 1000,
            worker_id: None,
            msgid_node: None,
            shutdown_grace_ms: 30_000,
            unknown_interfaces: UnknownInterfaces::Reject,
            retry_max_attempts: 5,
            retry_base_delay_ms: 200,
            retry_max_delay_ms: 5_000,
            recover_interval_ms: 30_000,
            sign_out_on_shutdown: false,
            pipe_allow: Vec::new(),
            pipe_sddl: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSection {
    pub url: String,
    /// `plain`, `tif` or `sm`.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The 国密 profile's keys and message shape (`[platform.sm]`, docs/config.md).
    #[serde(default)]
    pub sm: Option<yibao_core::sm::SmConfig>,
    #[serde(default)]
    pub tif_paasid: Option<String>,
    /// The tif token: `env:NAME`, `file:PATH` or the literal value.
    #[serde(default)]
    pub tif_token: Option<String>,
    #[serde(default)]
    pub tif_service_id: Option<String>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    #[serde(default = "default_pool_idle")]
    pub pool_idle_timeout_ms: u64,
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle: usize,
}

fn default_profile() -> String {
    "plain".into()
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

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let with_path = |e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        };
        let mut cfg = Self::parse_unchecked(&text).map_err(with_path)?;
        if let Some(dir) = path.parent() {
            // Relative paths in the file are relative to the file, not to the service's
            // working directory (C:\Windows\System32 for a Windows service).
            let anchor = |p: &mut Option<PathBuf>| {
                if let Some(rel) = p.as_ref().filter(|p| p.is_relative()) {
                    *p = Some(dir.join(rel));
                }
            };
            anchor(&mut cfg.store.path);
            anchor(&mut cfg.catalog.file);
            cfg.log.anchor(dir);
        }
        cfg.validate().map_err(with_path)?;
        Ok(cfg)
    }

    /// Parses config text and checks the values.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg = Self::parse_unchecked(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn parse_unchecked(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        let b = &self.broker;
        if b.workers == 0 || b.workers > 1024 {
            return Err(invalid("broker.workers", "must be 1..=1024"));
        }
        if b.max_connections == 0 {
            return Err(invalid("broker.max_connections", "must be at least 1"));
        }
        if b.max_frame_bytes < 1024 {
            return Err(invalid("broker.max_frame_bytes", "must be at least 1024"));
        }
        if b.poll_interval_ms == 0 {
            return Err(invalid("broker.poll_interval_ms", "must be at least 1"));
        }
        if b.lease_ms < self.platform.request_timeout_ms * 2 {
            return Err(invalid(
                "broker.lease_ms",
                "must be at least twice platform.request_timeout_ms",
            ));
        }
        if b.retry_max_attempts == 0 || b.retry_max_attempts > 100 {
            return Err(invalid("broker.retry_max_attempts", "must be 1..=100"));
        }
        if b.retry_base_delay_ms == 0 || b.retry_max_delay_ms < b.retry_base_delay_ms {
            return Err(invalid(
                "broker.retry_base_delay_ms / retry_max_delay_ms",
                "need 0 < base <= max",
            ));
        }
        if b.recover_interval_ms == 0 {
            return Err(invalid("broker.recover_interval_ms", "must be at least 1"));
        }
        if b.msgid_node.is_some_and(|n| n > 9) {
            return Err(invalid("broker.msgid_node", "must be 0..=9"));
        }
        for entry in &b.pipe_allow {
            crate::pipe_security::check_entry(entry)
                .map_err(|m| invalid("broker.pipe_allow", &m))?;
        }
        if b.pipe_sddl
            .as_deref()
            .is_some_and(|s| !s.starts_with("D:") && !s.starts_with("O:"))
        {
            return Err(invalid(
                "broker.pipe_sddl",
                "must be an SDDL string (D:… or O:…)",
            ));
        }
        self.store.validate()?;
        self.log.validate().map_err(|m| invalid("log", &m))?;
        self.status_page
            .validate()
            .map_err(|m| invalid("status_page", &m))?;
        let code = &self.institution.fixmedins_code;
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "institution.fixmedins_code",
                "must be letters and digits (e.g. H43010000001)",
            ));
        }
        self.catalog()?;
        if !self.platform.url.starts_with("http://") && !self.platform.url.starts_with("https://") {
            return Err(invalid(
                "platform.url",
                "must start with http:// or https://",
            ));
        }
        match self.platform.profile.as_str() {
            "plain" => Ok(()),
            "tif" if self.platform.tif_paasid.is_some() && self.platform.tif_token.is_some() => {
                Ok(())
            }
            "tif" => Err(invalid(
                "platform.tif_paasid / tif_token",
                "the tif profile needs both",
            )),
            "sm" if self.platform.sm.is_some() => Ok(()),
            "sm" => Err(invalid(
                "platform.sm",
                "profile = \"sm\" 需要 [platform.sm] 段 / the sm profile needs a [platform.sm] table",
            )),
            _ => Err(invalid(
                "platform.profile",
                "must be \"plain\", \"tif\" or \"sm\"",
            )),
        }
    }

    /// `host:port` of the platform URL, for the reachability check.
    pub fn platform_address(&self) -> Option<String> {
        let url = &self.platform.url;
        let (rest, default_port) = if let Some(r) = url.strip_prefix("https://") {
            (r, 443)
        } else {
            (url.strip_prefix("http://")?, 80)
        };
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit('@').next()?;
        if authority.is_empty() {
            return None;
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']')
        });
        Some(if has_port {
            authority.to_string()
        } else {
            format!("{authority}:{default_port}")
        })
    }

    pub fn client_settings(&self) -> ClientSettings {
        let p = &self.platform;
        ClientSettings {
            url: p.url.clone(),
            connect_timeout: Duration::from_millis(p.connect_timeout_ms),
            request_timeout: Duration::from_millis(p.request_timeout_ms),
            pool_idle_timeout: Duration::from_millis(p.pool_idle_timeout_ms),
            pool_max_idle_per_host: p.pool_max_idle,
        }
    }

    /// Builds the signing profile, resolving its secrets.
    pub fn profile(&self) -> Result<std::sync::Arc<dyn Profile>, ConfigError> {
        let p = &self.platform;
        Ok(match p.profile.as_str() {
            "tif" => {
                let token = resolve_secret(p.tif_token.as_deref().unwrap_or_default()).map_err(
                    |message| ConfigError::Invalid {
                        key: "platform.tif_token",
                        message,
                    },
                )?;
                std::sync::Arc::new(TifProfile::new(
                    p.tif_paasid.clone().unwrap_or_default(),
                    token,
                    p.tif_service_id.clone(),
                ))
            }
            "sm" => {
                let sm = p.sm.as_ref().ok_or_else(|| ConfigError::Invalid {
                    key: "platform.sm",
                    message: "missing".into(),
                })?;
                let codec = SmCodec::from_config(sm).map_err(|e| ConfigError::Invalid {
                    key: "platform.sm",
                    message: e.to_string(),
                })?;
                std::sync::Arc::new(SmProfile::new(codec))
            }
            _ => std::sync::Arc::new(PlainProfile),
        })
    }

    pub fn worker_id(&self) -> String {
        self.broker.worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("COMPUTERNAME")
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "broker".into());
            format!("{host}-{}", std::process::id())
        })
    }
}

/// `env:NAME`, `file:PATH` or the value itself (see [`yibao_core::secret`]).
pub fn resolve_secret(spec: &str) -> Result<String, String> {
    yibao_core::secret::resolve_text(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../../examples/yibao.toml");

    #[test]
    fn the_platform_address_is_read_from_the_url() {
        let with = |url: &str| {
            let text = include_str!("../../../../examples/yibao.toml").replace(
                "url = \"http://127.0.0.1:18080/fsi/api/rsfComIfsService/callService\"",
                &format!("url = \"{url}\""),
            );
            Config::parse(&text).unwrap().platform_address()
        };
        assert_eq!(
            with("http://10.1.2.3:8080/fsi/api").as_deref(),
            Some("10.1.2.3:8080")
        );
        assert_eq!(
            with("https://fsi.example.gov.cn/api").as_deref(),
            Some("fsi.example.gov.cn:443")
        );
        assert_eq!(with("http://front").as_deref(), Some("front:80"));
        assert_eq!(with("http://[::1]:9000/x").as_deref(), Some("[::1]:9000"));
    }

    #[test]
    fn the_documented_example_parses() {
        let cfg = Config::parse(EXAMPLE).unwrap();
        assert_eq!(cfg.broker.poll_interval_ms, 100);
        assert_eq!(cfg.institution.fixmedins_code.len(), 12);
    }

    #[test]
    fn mistakes_are_named() {
        let typo = EXAMPLE.replace("poll_interval_ms", "poll_intervall_ms");
        let err = Config::parse(&typo).unwrap_err().to_string();
        assert!(err.contains("poll_intervall_ms"), "{err}");
        let bad = EXAMPLE.replace("workers = 16", "workers = 0");
        let err = Config::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("broker.workers"), "{err}");
    }
}
